package admin

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/phonediversions/phonediversions/routing"
)

// Cookies of the web page.
const (
	sessionCookie = "pd_session"
	signInCookie  = "pd_signin" // the sign-in form's CSRF token, before there is a session
)

// sessionOf returns the signed-in user of the request, or nil.
func (s *Server) sessionOf(r *http.Request) (*webUser, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	sess, u, err := s.svc.SessionUser(r.Context(), c.Value, s.cfg.Sessions)
	switch routing.ErrorCode(err) {
	case "":
		return &webUser{User: u, session: sess, token: c.Value}, nil
	case routing.EUNAUTHORIZED:
		return nil, nil
	default:
		return nil, err
	}
}

// sameOrigin reports whether a state-changing request comes from a page
// of this server: browsers send Origin (or at least Sec-Fetch-Site) with
// every POST.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return origin == ""
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

// csrfOK reports whether a form carries the session's token, in the field
// csrf or the header X-CSRF-Token (the page's script).
func csrfOK(r *http.Request, want string) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf")
	}
	return tokenEqual(got, want)
}

// tokenEqual compares a token in constant time; an empty want matches
// nothing.
func tokenEqual(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// csrfFirstField is the context key of the token an upload must carry as
// its form's first field: an upload streams, so its form is not read
// before the handler, and the token stays out of the URL (and so out of
// logs, history and Referer).
type csrfFirstField struct{}

// uploadToken returns the token the upload's first field must carry, and
// whether the handler must check it (false: the X-CSRF-Token header was
// checked already).
func uploadToken(r *http.Request) (string, bool) {
	want, ok := r.Context().Value(csrfFirstField{}).(string)
	return want, ok
}

// webHandler is a page handler for a signed-in user.
type webHandler func(w http.ResponseWriter, r *http.Request, u *webUser)

// web wraps a page: the user must be signed in and hold priv (0: any
// signed-in user), and a request that changes anything must come from
// this server's pages with the session's CSRF token. A refusal changes
// nothing.
func (s *Server) web(priv routing.Privileges, h webHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header())
		u, err := s.sessionOf(r)
		if err != nil {
			s.log.Error().Err(err).Msg("session")
			s.errorPage(w, r, nil, http.StatusInternalServerError, "The page could not be loaded; try again.")
			return
		}
		if u == nil {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.errorPage(w, r, nil, http.StatusUnauthorized, "Your session has ended. Sign in again; nothing was changed.")
			return
		}
		info(r).user = u.Username
		if !u.Privileges.Has(priv) {
			s.errorPage(w, r, u, http.StatusForbidden, fmt.Sprintf("This page needs the %s privilege, which your user does not have.", priv))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if isUpload(r) && r.Header.Get("X-CSRF-Token") == "" && sameOrigin(r) {
				r = r.WithContext(context.WithValue(r.Context(), csrfFirstField{}, u.session.CSRF))
			} else if !sameOrigin(r) || !csrfOK(r, u.session.CSRF) {
				s.errorPage(w, r, u, http.StatusForbidden, "The form has expired or did not come from this site. Reload the page and try again; nothing was changed.")
				return
			}
		}
		h(w, r, u)
	}
}

// setSessionCookie gives the browser its session token.
func (s *Server) setSessionCookie(w http.ResponseWriter, token string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", HttpOnly: true, Secure: s.tls.Load(),
		SameSite: http.SameSiteLaxMode, MaxAge: int(maxAge.Seconds())})
}

// localPath returns next when it is a path of this server, else "/": it
// starts with a single "/", holds no control character or backslash
// anywhere (browsers drop tabs and newlines from a URL and read "\" as
// "/", which turns "/\t/evil.example/" into another host), and parses as
// a URL with neither scheme nor host.
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return "/"
	}
	for _, c := range next {
		if c < 0x20 || c == 0x7f || c == '\\' || unicode.IsControl(c) {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") {
		return "/"
	}
	return next
}

// isUpload tells the announcement upload, whose body may be far larger
// than a form's.
func isUpload(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Path == "/announcements"
}
