package admin

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/phonediversions/phonediversions/routing"
)

// userFields are the fields of the user form.
var userFields = []string{"username", "displayName", "department", "lines", "privileges", "password"}

// privilegeChoice is one checkbox of the user form.
type privilegeChoice struct {
	Name    string
	Checked bool
}

// userForm is the data of the user form page.
type userForm struct {
	ID         int64 // 0: a new user
	Privileges []privilegeChoice
}

func privilegeChoices(ps routing.Privileges) []privilegeChoice {
	var out []privilegeChoice
	for _, name := range routing.AllPrivileges.Names() {
		p, _ := routing.ParsePrivileges([]string{name})
		out = append(out, privilegeChoice{Name: name, Checked: ps&p != 0})
	}
	return out
}

func (s *Server) usersPage(w http.ResponseWriter, r *http.Request, u *webUser) {
	users, err := s.svc.Users(r.Context())
	if err != nil {
		s.internal(w, r, u, err)
		return
	}
	s.render(w, r, http.StatusOK, "users", page{Title: "Users", User: u, Data: users})
}

// userAt reads the user the path names; when it cannot, the answer is
// written and ok is false.
func (s *Server) userAt(w http.ResponseWriter, r *http.Request, u *webUser) (target routing.User, ok bool) {
	id, ok := s.pathID(w, r, u)
	if !ok {
		return target, false
	}
	target, err := s.svc.User(r.Context(), id)
	if err != nil {
		s.failed(w, r, u, err)
		return target, false
	}
	return target, true
}

func (s *Server) userNewPage(w http.ResponseWriter, r *http.Request, u *webUser) {
	s.render(w, r, http.StatusOK, "user", page{Title: "New user", User: u,
		Data: userForm{Privileges: privilegeChoices(routing.PrivState)}, Fields: map[string]string{}})
}

func (s *Server) userEditPage(w http.ResponseWriter, r *http.Request, u *webUser) {
	target, ok := s.userAt(w, r, u)
	if !ok {
		return
	}
	id := target.ID
	s.render(w, r, http.StatusOK, "user", page{Title: "User " + target.Username, User: u,
		Data: userForm{ID: id, Privileges: privilegeChoices(target.Privileges)},
		Fields: map[string]string{"username": target.Username, "displayName": target.DisplayName,
			"department": target.Department, "lines": strings.Join(target.Lines, "\n")}})
}

// postedUser reads the user form: lines one per line (or separated by
// commas), privileges as checkboxes.
func postedUser(r *http.Request) (routing.NewUser, error) {
	nu := routing.NewUser{Username: r.PostFormValue("username"), DisplayName: r.PostFormValue("displayName"),
		Department: r.PostFormValue("department"), Password: r.PostFormValue("password")}
	nu.Lines = strings.FieldsFunc(r.PostFormValue("lines"), func(c rune) bool { return c == '\n' || c == ',' || c == '\r' })
	var err error
	nu.Privileges, err = routing.ParsePrivileges(r.PostForm["privileges"])
	return nu, err
}

// userFormAgain shows the user form again with what was typed (never the
// password) and why it was refused.
func (s *Server) userFormAgain(w http.ResponseWriter, r *http.Request, u *webUser, id int64, ps routing.Privileges, err error) {
	errs, msg := fieldErrors(err, userFields...)
	fields := formValues(r, "username", "displayName", "department", "lines")
	s.render(w, r, formStatus(err), "user", page{Title: "User", User: u, Data: userForm{ID: id, Privileges: privilegeChoices(ps)},
		Fields: fields, Errors: errs, Error: msg})
}

func (s *Server) userCreate(w http.ResponseWriter, r *http.Request, u *webUser) {
	nu, err := postedUser(r)
	if err == nil && nu.Password == "" {
		err = routing.FieldErrorf(routing.EINVALID, "password", "is required for a new user")
	}
	if err == nil {
		var created routing.User
		if created, err = s.svc.CreateUser(r.Context(), u.actor(), routing.ChannelWeb, nu); err == nil {
			redirect(w, r, "/users", fmt.Sprintf("User %s is created.", created.Username))
			return
		}
	}
	s.userFormAgain(w, r, u, 0, nu.Privileges, err)
}

func (s *Server) userUpdate(w http.ResponseWriter, r *http.Request, u *webUser) {
	id, ok := s.pathID(w, r, u)
	if !ok {
		return
	}
	nu, err := postedUser(r)
	if err == nil {
		up := routing.UserUpdate{Username: &nu.Username, DisplayName: &nu.DisplayName, Department: &nu.Department,
			Lines: &nu.Lines, Privileges: &nu.Privileges}
		var saved routing.User
		if saved, err = s.svc.UpdateUser(r.Context(), u.actor(), routing.ChannelWeb, id, up); err == nil {
			redirect(w, r, "/users", fmt.Sprintf("User %s is saved.", saved.Username))
			return
		}
	}
	s.userFormAgain(w, r, u, id, nu.Privileges, err)
}

// userPassword sets another user's password; their sessions end.
func (s *Server) userPassword(w http.ResponseWriter, r *http.Request, u *webUser) {
	target, ok := s.userAt(w, r, u)
	if !ok {
		return
	}
	id := target.ID
	if err := s.svc.SetPassword(r.Context(), u.actor(), routing.ChannelWeb, id, r.PostFormValue("password")); err != nil {
		errs, msg := fieldErrors(err, "password")
		if errs != nil {
			errs = map[string]string{"newPassword": errs["password"]}
		}
		s.render(w, r, formStatus(err), "user", page{Title: "User " + target.Username, User: u,
			Data: userForm{ID: id, Privileges: privilegeChoices(target.Privileges)},
			Fields: map[string]string{"username": target.Username, "displayName": target.DisplayName,
				"department": target.Department, "lines": strings.Join(target.Lines, "\n")},
			Errors: errs, Error: msg})
		return
	}
	if id == u.ID {
		s.restartSession(w, r, u, "Your password is set; your other sessions are signed out.")
		return
	}
	if err := s.svc.EndUserSessions(r.Context(), id); err != nil {
		s.internal(w, r, u, err)
		return
	}
	redirect(w, r, "/users/"+strconv.FormatInt(id, 10), fmt.Sprintf("The password of %s is set; their sessions are signed out.", target.Username))
}

func (s *Server) userDelete(w http.ResponseWriter, r *http.Request, u *webUser) {
	target, ok := s.userAt(w, r, u)
	if !ok {
		return
	}
	id := target.ID
	if r.PostFormValue("confirm") != "yes" {
		s.render(w, r, http.StatusOK, "confirm", page{Title: "Delete user", User: u, Data: map[string]any{
			"Question": fmt.Sprintf("Delete user %s (%s)?", target.Username, target.Label()), "Action": r.URL.Path,
			"Back": "/users", "Button": "Delete user"}})
		return
	}
	if err := s.svc.DeleteUser(r.Context(), u.actor(), routing.ChannelWeb, id); err != nil {
		s.failed(w, r, u, err)
		return
	}
	redirect(w, r, "/users", fmt.Sprintf("User %s is deleted.", target.Username))
}
