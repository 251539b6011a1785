package admin

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/phonediversions/phonediversions/routing"
)

//go:embed web/templates/*.html web/static/*
var webFS embed.FS

// Cookies of the web page.
const (
	sessionCookie = "pd_session"
	flashCookie   = "pd_flash"
	signInCookie  = "pd_signin" // the sign-in form's CSRF token, before there is a session
)

// tab is one tab of the web page and the privilege that shows it.
type tab struct {
	Name, Path string
	priv       routing.Privileges
	Current    bool
}

var tabs = []tab{
	{Name: "State", Path: "/state", priv: routing.PrivState},
	{Name: "Groups", Path: "/groups", priv: routing.PrivGroups},
	{Name: "Holidays", Path: "/holidays", priv: routing.PrivGroups},
	{Name: "Call Handler", Path: "/callhandler", priv: routing.PrivCallHandler},
	{Name: "Reports", Path: "/reports", priv: routing.PrivReports},
	{Name: "Users", Path: "/users", priv: routing.PrivAdmin},
}

// webUser is the signed-in person a page is for.
type webUser struct {
	routing.User
	session routing.Session
	token   string
}

func (u *webUser) actor() routing.Actor { return routing.Actor{UserID: u.ID, Name: u.Username} }

// page is what every template gets: the layout's parts and the page's
// own data.
type page struct {
	Title   string
	User    *webUser
	Tabs    []tab
	CSRF    string
	Flash   string
	Error   string
	Version string
	// Fields holds what the person typed, Errors the message beside each
	// field, by field name.
	Fields map[string]string
	Errors map[string]string
	Data   any
}

// templates are the pages, each parsed with the layout.
type templates struct {
	pages   map[string]*template.Template
	version string // of the static files, for their URLs
}

var templateFuncs = template.FuncMap{
	"state": routing.StateName,
	"join":  strings.Join,
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[fmt.Sprint(kv[i])] = kv[i+1]
		}
		return m
	},
	"add":        func(a, b int) int { return a + b },
	"pathEscape": url.PathEscape,
	"lineAction": lineAction,
	"linesPath":  linesPath,
}

func loadTemplates() (*templates, error) {
	t := &templates{pages: map[string]*template.Template{}}
	names, err := fs.Glob(webFS, "web/templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		base := strings.TrimSuffix(name[len("web/templates/"):], ".html")
		if base == "layout" {
			continue
		}
		p, err := template.New("layout.html").Funcs(templateFuncs).ParseFS(webFS, "web/templates/layout.html", name)
		if err != nil {
			return nil, err
		}
		t.pages[base] = p
	}
	h := sha256.New()
	statics, _ := fs.Glob(webFS, "web/static/*")
	for _, name := range statics {
		b, _ := webFS.ReadFile(name)
		h.Write(b)
	}
	t.version = hex.EncodeToString(h.Sum(nil))[:12]
	return t, nil
}

// securityHeaders are sent with every answer of the web page: no inline
// script or style runs, no other site frames the page.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Content-Type-Options", "nosniff")
}

// render writes a page with the status.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	t := s.tmpl.pages[name]
	if t == nil {
		panic("admin: no template " + name)
	}
	p.Version = s.tmpl.version
	if p.User != nil {
		p.CSRF = p.User.session.CSRF
		for _, tb := range tabs {
			if p.User.Privileges.Has(tb.priv) {
				tb.Current = strings.HasPrefix(r.URL.Path, tb.Path)
				p.Tabs = append(p.Tabs, tb)
			}
		}
	}
	if p.Flash == "" {
		p.Flash = takeFlash(w, r)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, p); err != nil {
		s.log.Error().Err(err).Str("page", name).Msg("template")
		http.Error(w, "the page could not be built", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// setFlash keeps a message for the next page the browser gets.
func setFlash(w http.ResponseWriter, msg string) {
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: url.QueryEscape(msg), Path: "/", MaxAge: 60,
		HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// takeFlash returns the message kept for this page and forgets it.
func takeFlash(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	msg, _ := url.QueryUnescape(c.Value)
	return truncateRunes(strings.ToValidUTF8(msg, ""), 300)
}

// redirect ends a successful form with the message and a redirect to the
// page to show (POST-redirect-GET).
func redirect(w http.ResponseWriter, r *http.Request, to, msg string) {
	if msg != "" {
		setFlash(w, msg)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// wantsJSONAnswer reports whether the page's script sent the request and
// wants data rather than a redirect.
func wantsJSONAnswer(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// errorPage answers a refusal or failure as a page of the layout.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, u *webUser, status int, msg string) {
	if wantsJSONAnswer(r) {
		writeJSON(w, status, map[string]string{"error": msg})
		return
	}
	s.render(w, r, status, "error", page{Title: http.StatusText(status), User: u, Error: msg})
}

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
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "multipart/form-data" {
			// An upload streams: its form is not read before the handler,
			// so its token comes in the URL.
			got = r.URL.Query().Get("csrf")
		} else {
			got = r.PostFormValue("csrf")
		}
	}
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
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
			if !sameOrigin(r) || !csrfOK(r, u.session.CSRF) {
				s.errorPage(w, r, u, http.StatusForbidden, "The form has expired or did not come from this site. Reload the page and try again; nothing was changed.")
				return
			}
		}
		h(w, r, u)
	}
}

// fieldErrors turns a routing error into the message beside its field, or
// a message for the whole form when it names none of the form's fields.
func fieldErrors(err error, fields ...string) (map[string]string, string) {
	f := routing.ErrorField(err)
	for _, name := range fields {
		if name == f {
			return map[string]string{f: sentence(routing.ErrorMessage(err)) + "."}, ""
		}
	}
	return nil, sentence(errorText(err)) + "."
}

// formStatus is the status of a page shown again with a refusal.
func formStatus(err error) int {
	switch c := routing.ErrorCode(err); c {
	case routing.EINVALID:
		return http.StatusUnprocessableEntity
	default:
		return httpStatus(c)
	}
}

// formValues returns the named fields of a posted form, as typed.
func formValues(r *http.Request, names ...string) map[string]string {
	out := make(map[string]string, len(names))
	for _, n := range names {
		out[n] = r.PostFormValue(n)
	}
	return out
}

// setSessionCookie gives the browser its session token.
func (s *Server) setSessionCookie(w http.ResponseWriter, token string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", HttpOnly: true, Secure: s.tls.Load(),
		SameSite: http.SameSiteLaxMode, MaxAge: int(maxAge.Seconds())})
}

// localPath returns next when it is a path on this server, else "/".
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

// internal logs err and tells the person to try again.
func (s *Server) internal(w http.ResponseWriter, r *http.Request, u *webUser, err error) {
	s.log.Error().Err(err).Str("path", r.URL.Path).Msg("web page")
	s.errorPage(w, r, u, http.StatusInternalServerError, "Something went wrong; nothing may have been saved. Try again.")
}

// failed answers an error of the domain as a page that says it; others
// as internal.
func (s *Server) failed(w http.ResponseWriter, r *http.Request, u *webUser, err error) {
	switch c := routing.ErrorCode(err); c {
	case routing.ENOTFOUND, routing.ECONFLICT, routing.EINVALID, routing.EFORBIDDEN:
		s.errorPage(w, r, u, httpStatus(c), errorText(err))
	default:
		s.internal(w, r, u, err)
	}
}
