package admin

import (
	"crypto/rand"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/phonediversions/phonediversions/routing"
)

// serveRoot sends the browser to its first tab, or to the sign-in.
func (s *Server) serveRoot(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	u, err := s.sessionOf(r)
	if err != nil {
		s.internal(w, r, nil, err)
		return
	}
	if u == nil {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, firstTab(u), http.StatusSeeOther)
}

// serveNotFound answers paths that are no page.
func (s *Server) serveNotFound(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	u, _ := s.sessionOf(r)
	s.errorPage(w, r, u, http.StatusNotFound, "There is no such page.")
}

// signInForm shows the sign-in form with a fresh token for it.
func (s *Server) signInForm(w http.ResponseWriter, r *http.Request, status int, username, msg string) {
	token := rand.Text()
	http.SetCookie(w, &http.Cookie{Name: signInCookie, Value: token, Path: "/signin", HttpOnly: true,
		Secure: s.tls.Load(), SameSite: http.SameSiteStrictMode})
	next := localPath(r.FormValue("next"))
	s.render(w, r, status, "signin", page{Title: "Sign in", CSRF: token, Error: msg,
		Fields: map[string]string{"username": username, "next": next}})
}

// serveSignIn shows the sign-in form; a signed-in browser goes on.
func (s *Server) serveSignIn(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	info(r).route = "/signin"
	if u, _ := s.sessionOf(r); u != nil {
		http.Redirect(w, r, firstTab(u), http.StatusSeeOther)
		return
	}
	s.signInForm(w, r, http.StatusOK, "", "")
}

// signIn checks the username and password and starts a session. Failed
// sign-ins count against the address like basic authentication's, and
// password checks are rationed the same way.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	info(r).route = "/signin"
	username := strings.TrimSpace(r.PostFormValue("username"))
	c, err := r.Cookie(signInCookie)
	if err != nil || !sameOrigin(r) || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		s.signInForm(w, r, http.StatusForbidden, username, "The sign-in form has expired. Sign in again.")
		return
	}
	addr := clientAddr(r)
	wait, err := s.limiter.retryAfter(r.Context(), addr, username)
	if err != nil {
		s.log.Warn().Err(err).Msg("sign-in")
		s.signInForm(w, r, httpStatus(routing.ErrorCode(err)), username, sentence(errorText(err))+".")
		return
	}
	if wait > 0 {
		setDenialHeaders(w, &denial{err: routing.Errorf(ETOOMANY, "wait"), retryAfter: wait})
		s.signInForm(w, r, http.StatusTooManyRequests, username, "Too many failed sign-ins from this computer. Try again in "+wait.Round(1e9).String()+".")
		return
	}
	user, err := s.creds.verify(r.Context(), s.svc, addr, username, r.PostFormValue("password"))
	switch err := s.countSignIn(r, username, err); routing.ErrorCode(err) {
	case "":
	case routing.EUNAUTHORIZED:
		s.signInForm(w, r, http.StatusUnauthorized, username, "Wrong username or password.")
		return
	case ETOOMANY:
		setDenialHeaders(w, err)
		s.signInForm(w, r, http.StatusTooManyRequests, username, "Too many sign-ins at once. Try again in a second.")
		return
	default:
		if r.Context().Err() != nil {
			return // the browser left
		}
		s.internal(w, r, nil, err)
		return
	}
	token, sess, err := s.svc.StartSession(r.Context(), user.ID)
	if err != nil {
		s.internal(w, r, nil, err)
		return
	}
	s.setSessionCookie(w, token, s.cfg.Sessions.Max)
	if s.cfg.OnSignIn != nil {
		s.cfg.OnSignIn(user.Username)
	}
	http.SetCookie(w, &http.Cookie{Name: signInCookie, Path: "/signin", MaxAge: -1, HttpOnly: true, Secure: s.tls.Load(), SameSite: http.SameSiteStrictMode})
	info(r).user = user.Username
	next := localPath(r.PostFormValue("next"))
	if next == "/" {
		next = firstTab(&webUser{User: user, session: sess})
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// signOut ends the session on the server, not only in the browser.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request, u *webUser) {
	if err := s.svc.EndSession(r.Context(), u.token); err != nil {
		s.internal(w, r, u, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.tls.Load(), SameSite: http.SameSiteLaxMode})
	redirect(w, r, "/signin", "You are signed out.")
}

// passwordFields are the fields of the change-password form.
var passwordFields = []string{"current", "password", "repeat"}

func (s *Server) passwordPage(w http.ResponseWriter, r *http.Request, u *webUser) {
	s.render(w, r, http.StatusOK, "password", page{Title: "Your password", User: u})
}

// changePassword sets the user's own password once the current one is
// given; every other session of the user ends.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, u *webUser) {
	show := func(status int, errs map[string]string, msg string) {
		s.render(w, r, status, "password", page{Title: "Your password", User: u, Errors: errs, Error: msg})
	}
	if r.PostFormValue("password") != r.PostFormValue("repeat") {
		show(http.StatusUnprocessableEntity, map[string]string{"repeat": "The two new passwords differ."}, "")
		return
	}
	wait, err := s.limiter.retryAfter(r.Context(), clientAddr(r), u.Username)
	if err != nil {
		s.failed(w, r, u, err)
		return
	}
	if wait > 0 {
		show(http.StatusTooManyRequests, nil, "Too many wrong passwords. Try again in "+wait.Round(time.Second).String()+".")
		return
	}
	_, err = s.creds.verify(r.Context(), s.svc, clientAddr(r), u.Username, r.PostFormValue("current"))
	if err := s.countSignIn(r, u.Username, err); err != nil {
		if routing.ErrorCode(err) == routing.EUNAUTHORIZED {
			show(http.StatusUnprocessableEntity, map[string]string{"current": "This is not your current password."}, "")
			return
		}
		show(http.StatusTooManyRequests, nil, "Too many password checks at once. Try again in a second.")
		return
	}
	if err := s.svc.SetPassword(r.Context(), u.actor(), routing.ChannelWeb, u.ID, r.PostFormValue("password")); err != nil {
		errs, msg := fieldErrors(err, passwordFields...)
		show(formStatus(err), errs, msg)
		return
	}
	s.restartSession(w, r, u, "Your password is changed; your other sessions are signed out.")
}

// restartSession ends every session of the user and starts a new one for
// this browser.
func (s *Server) restartSession(w http.ResponseWriter, r *http.Request, u *webUser, msg string) {
	if err := s.svc.EndUserSessions(r.Context(), u.ID); err != nil {
		s.internal(w, r, u, err)
		return
	}
	token, _, err := s.svc.StartSession(r.Context(), u.ID)
	if err != nil {
		s.internal(w, r, u, err)
		return
	}
	s.setSessionCookie(w, token, s.cfg.Sessions.Max)
	redirect(w, r, "/password", msg)
}
