package routing

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"unicode"

	"golang.org/x/crypto/bcrypt"
)

const (
	defaultHashCost   = bcrypt.DefaultCost
	minPasswordLen    = 8
	maxPasswordBytes  = 72 // bcrypt's limit
	maxUsernameLength = 64
)

// NewUser is what is needed to create a user.
type NewUser struct {
	Username    string
	DisplayName string
	Department  string
	Lines       []string
	Privileges  Privileges
	// Password is the initial password; empty leaves the user unable to
	// sign in until one is set.
	Password string
}

// validateUser checks and normalizes the user-given fields of u.
func validateUser(u *User) error {
	name := strings.TrimSpace(u.Username)
	switch {
	case name == "":
		return FieldErrorf(EINVALID, "username", "is required")
	case len(name) > maxUsernameLength:
		return FieldErrorf(EINVALID, "username", "is longer than %d characters", maxUsernameLength)
	}
	for _, r := range name {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == ':' {
			return FieldErrorf(EINVALID, "username", "must not contain spaces, control characters or ':'")
		}
	}
	u.Username = name
	var err error
	if u.DisplayName, err = cleanText("displayName", u.DisplayName, maxNameLen, false); err != nil {
		return err
	}
	if u.Department, err = cleanText("department", u.Department, maxNameLen, false); err != nil {
		return err
	}
	if u.Lines, err = normalizeNumbers("lines", u.Lines); err != nil {
		return err
	}
	if u.Privileges&^AllPrivileges != 0 {
		return FieldErrorf(EINVALID, "privileges", "unknown privilege bits %#x", uint16(u.Privileges&^AllPrivileges))
	}
	return nil
}

// checkUserRefs checks that a user's username and line numbers are not
// another user's.
func checkUserRefs(tx Tx, u *User) error {
	if o, err := tx.UserByUsername(u.Username); err == nil && o.ID != u.ID {
		return FieldErrorf(ECONFLICT, "username", "username %q is taken", u.Username)
	} else if err != nil && ErrorCode(err) != ENOTFOUND {
		return err
	}
	for _, n := range u.Lines {
		if o, err := tx.UserOfLine(n); err == nil && o.ID != u.ID {
			return FieldErrorf(ECONFLICT, "lines", "number %s belongs to %s", n, o.Label())
		} else if err != nil && ErrorCode(err) != ENOTFOUND {
			return err
		}
	}
	return nil
}

// checkAdminLeaves refuses to let user id stop being an administrator
// when it is the actor (self) or the last administrator (last).
func checkAdminLeaves(tx Tx, actor Actor, id int64, field, self, last string) error {
	if actor.UserID == id {
		return FieldErrorf(ECONFLICT, field, "you cannot %s", self)
	}
	users, err := tx.Users()
	if err != nil {
		return err
	}
	admins := 0
	for _, o := range users {
		if o.Privileges&PrivAdmin != 0 {
			admins++
		}
	}
	if admins <= 1 {
		return FieldErrorf(ECONFLICT, field, "the last administrator must %s", last)
	}
	return nil
}

// hashPassword checks a new password and returns its hash.
func (s *Service) hashPassword(pw string) (string, error) {
	switch {
	case len([]rune(pw)) < minPasswordLen:
		return "", FieldErrorf(EINVALID, "password", "must be at least %d characters", minPasswordLen)
	case len(pw) > maxPasswordBytes:
		return "", FieldErrorf(EINVALID, "password", "must be at most %d bytes", maxPasswordBytes)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), s.hashCost)
	if err != nil {
		return "", err
	}
	return string(h), nil
}

// Users returns every user, ordered by username.
func (s *Service) Users(ctx context.Context) ([]User, error) {
	var out []User
	err := s.view(ctx, func(tx Tx) error {
		var err error
		out, err = tx.Users()
		return err
	})
	return out, err
}

// User returns one user. Errors: ENOTFOUND.
func (s *Service) User(ctx context.Context, id int64) (User, error) {
	var u User
	err := s.view(ctx, func(tx Tx) error {
		var err error
		u, err = tx.User(id)
		return err
	})
	return u, err
}

// CreateUser validates and stores a new user and reports it. Errors:
// EINVALID, ECONFLICT (username taken, a number owned by someone else).
func (s *Service) CreateUser(ctx context.Context, actor Actor, ch Channel, nu NewUser) (User, error) {
	u := User{Username: nu.Username, DisplayName: nu.DisplayName, Department: nu.Department,
		Lines: nu.Lines, Privileges: nu.Privileges}
	if err := validateUser(&u); err != nil {
		return User{}, err
	}
	if nu.Password != "" {
		h, err := s.hashPassword(nu.Password)
		if err != nil {
			return User{}, err
		}
		u.PasswordHash = h
	}
	err := s.update(ctx, func(tx Tx) error {
		if err := checkUserRefs(tx, &u); err != nil {
			return err
		}
		if err := tx.InsertUser(&u); err != nil {
			return err
		}
		return s.report(tx, ReportEntry{Action: ActionUser, Status: StatusCreated, Username: actor.Name,
			Detail: u.Username, Channel: ch})
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// UpdateUser changes the given fields of a user and reports it. Errors:
// ENOTFOUND, EINVALID, ECONFLICT.
func (s *Service) UpdateUser(ctx context.Context, actor Actor, ch Channel, id int64, up UserUpdate) (User, error) {
	var u User
	err := s.update(ctx, func(tx Tx) error {
		var err error
		if u, err = tx.User(id); err != nil {
			return err
		}
		wasAdmin := u.Privileges&PrivAdmin != 0
		if up.Username != nil {
			u.Username = *up.Username
		}
		if up.DisplayName != nil {
			u.DisplayName = *up.DisplayName
		}
		if up.Department != nil {
			u.Department = *up.Department
		}
		if up.Lines != nil {
			u.Lines = *up.Lines
		}
		if up.Privileges != nil {
			u.Privileges = *up.Privileges
		}
		if err := validateUser(&u); err != nil {
			return err
		}
		if err := checkUserRefs(tx, &u); err != nil {
			return err
		}
		if wasAdmin && u.Privileges&PrivAdmin == 0 {
			if err := checkAdminLeaves(tx, actor, id, "privileges", "remove your own Admin privilege", "keep the Admin privilege"); err != nil {
				return err
			}
		}
		if err := tx.UpdateUser(&u); err != nil {
			return err
		}
		return s.report(tx, ReportEntry{Action: ActionUser, Status: StatusChanged, Username: actor.Name,
			Detail: u.Username, Channel: ch})
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// SetPassword replaces a user's password and reports it. Errors: ENOTFOUND,
// EINVALID (too short, too long).
func (s *Service) SetPassword(ctx context.Context, actor Actor, ch Channel, id int64, password string) error {
	h, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx Tx) error {
		u, err := tx.User(id)
		if err != nil {
			return err
		}
		u.PasswordHash = h
		if err := tx.UpdateUser(&u); err != nil {
			return err
		}
		return s.report(tx, ReportEntry{Action: ActionUser, Status: StatusChanged, Username: actor.Name,
			Detail: u.Username + ": password set", Channel: ch})
	})
}

// DeleteUser removes a user and reports it. Errors: ENOTFOUND.
func (s *Service) DeleteUser(ctx context.Context, actor Actor, ch Channel, id int64) error {
	return s.update(ctx, func(tx Tx) error {
		u, err := tx.User(id)
		if err != nil {
			return err
		}
		if actor.UserID == id {
			return FieldErrorf(ECONFLICT, "userId", "you cannot delete yourself")
		}
		if u.Privileges&PrivAdmin != 0 {
			if err := checkAdminLeaves(tx, actor, id, "userId", "delete yourself", "stay"); err != nil {
				return err
			}
		}
		if err := tx.DeleteUser(id); err != nil {
			return err
		}
		return s.report(tx, ReportEntry{Action: ActionUser, Status: StatusDeleted, Username: actor.Name,
			Detail: u.Username, Channel: ch})
	})
}

// errBadCredentials is the one answer to a failed sign-in, whatever failed,
// so that it tells nothing about which usernames exist.
var errBadCredentials = &Error{Code: EUNAUTHORIZED, Message: "wrong username or password"}

// Authenticate returns the user with the username when the password is
// theirs. Errors: EUNAUTHORIZED, the same for an unknown user and a wrong
// password.
func (s *Service) Authenticate(ctx context.Context, username, password string) (User, error) {
	var u User
	err := s.view(ctx, func(tx Tx) error {
		var err error
		u, err = tx.UserByUsername(strings.TrimSpace(username))
		return err
	})
	if ErrorCode(err) == ENOTFOUND || (err == nil && u.PasswordHash == "") {
		// Take as long as a wrong password would, so that the time of the
		// answer does not tell which usernames exist.
		_ = bcrypt.CompareHashAndPassword(s.dummyHash(), []byte(password))
		return User{}, errBadCredentials
	} else if err != nil {
		return User{}, err
	}
	if err := bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)); err != nil {
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return User{}, errBadCredentials
		}
		return User{}, err
	}
	return u, nil
}

// dummyHash is a hash of nothing anyone types, at the service's cost.
func (s *Service) dummyHash() []byte {
	s.dummyOnce.Do(func() {
		s.dummy, _ = bcrypt.GenerateFromPassword([]byte(rand.Text()), s.hashCost)
	})
	return s.dummy
}

// UsernameOf returns the label ("Display Name, Department") of the user
// owning a number, or "" when nobody owns it.
func (s *Service) UsernameOf(ctx context.Context, number string) (string, error) {
	var label string
	err := s.view(ctx, func(tx Tx) error {
		var err error
		label, err = usernameOf(tx, number)
		return err
	})
	return label, err
}

// Owners returns the label of the owner of each number that has one, in
// one read.
func (s *Service) Owners(ctx context.Context, numbers []string) (map[string]string, error) {
	out := make(map[string]string, len(numbers))
	err := s.view(ctx, func(tx Tx) error {
		for _, n := range numbers {
			label, err := usernameOf(tx, n)
			if err != nil {
				return err
			}
			if label != "" {
				out[n] = label
			}
		}
		return nil
	})
	return out, err
}

func usernameOf(tx Tx, number string) (string, error) {
	key := numberKey(number)
	if key == "" {
		return "", nil
	}
	u, err := tx.UserOfLine(key)
	switch ErrorCode(err) {
	case "":
		return u.Label(), nil
	case ENOTFOUND:
		return "", nil
	default:
		return "", err
	}
}

// EnsureAdmin creates the first administrator when there is no user at all,
// with the password given or, when it is empty, a generated one. It answers
// the password it set and whether it created the user; an existing store is
// left alone.
func (s *Service) EnsureAdmin(ctx context.Context, username, password string, generate func() string) (string, bool, error) {
	users, err := s.Users(ctx)
	if err != nil || len(users) > 0 {
		return "", false, err
	}
	if password == "" {
		password = generate()
	}
	_, err = s.CreateUser(ctx, Actor{Name: "system"}, ChannelSystem, NewUser{
		Username: username, DisplayName: "Administrator", Privileges: AllPrivileges, Password: password})
	if err != nil {
		return "", false, err
	}
	return password, true, nil
}
