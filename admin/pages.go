package admin

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/phonediversions/phonediversions/routing"
)

//go:embed web/templates/*.html web/static/*
var webFS embed.FS

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

// flashCookie carries a message to the next page the browser gets.
const flashCookie = "pd_flash"

// setFlash keeps a message for the next page the browser gets.
func setFlash(w http.ResponseWriter, r *http.Request, msg string) {
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: url.QueryEscape(msg), Path: "/", MaxAge: 60,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
}

// takeFlash returns the message kept for this page and forgets it.
func takeFlash(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: "/", MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
	msg, _ := url.QueryUnescape(c.Value)
	return truncateRunes(strings.ToValidUTF8(msg, ""), 300)
}

// redirect ends a successful form with the message and a redirect to the
// page to show (POST-redirect-GET).
func redirect(w http.ResponseWriter, r *http.Request, to, msg string) {
	if msg != "" {
		setFlash(w, r, msg)
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
	case routing.EUNAVAILABLE:
		s.log.Warn().Err(err).Str("path", r.URL.Path).Msg("web page")
		s.errorPage(w, r, u, httpStatus(c), errorText(err))
	default:
		s.internal(w, r, u, err)
	}
}

// firstTab is where a signed-in user lands: the first tab they may see,
// else their password page.
func firstTab(u *webUser) string {
	for _, t := range tabs {
		if u.Privileges.Has(t.priv) {
			return t.Path
		}
	}
	return "/password"
}

// pathID reads the {id} of a path; a bad one answers 404.
func (s *Server) pathID(w http.ResponseWriter, r *http.Request, u *webUser) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 0 {
		s.errorPage(w, r, u, http.StatusNotFound, "There is no such page.")
		return 0, false
	}
	return id, true
}

// writeJSON answers the page's script.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func linesPath(groupID int64) string { return "/groups/" + strconv.FormatInt(groupID, 10) + "/lines" }

// lineAction is the path of a form about one line.
func lineAction(groupID int64, number string) string {
	return linesPath(groupID) + "/" + url.PathEscape(number)
}

// DateFormat is a way of writing report times for people.
type DateFormat string

// The date formats.
const (
	DateISO DateFormat = "iso"
	DateDMY DateFormat = "dd.mm.yyyy"
)

// layout is the time layout of the format.
func (f DateFormat) layout() string {
	if f == DateDMY {
		return "02.01.2006 15:04:05"
	}
	return "2006-01-02 15:04:05"
}
