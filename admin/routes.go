package admin

import (
	"io/fs"
	"net/http"
	"strings"

	"github.com/phonediversions/phonediversions/routing"
)

// access is who may reach a route, before any privilege.
type access int

const (
	// anyone: the sign-in page, the static files, the root's redirect.
	anyone access = iota
	// signedIn: a web session of a user holding the route's privilege; a
	// request that changes anything also carries the session's CSRF
	// token and comes from this server's pages.
	signedIn
	// restClient: the local host and rest_trusted networks, else HTTP
	// basic authentication of a user with the REST privilege; each
	// function adds its own privilege (restFunctions). Change requests
	// marked cross-site by a browser are refused.
	restClient
	// phones: an address of the phone networks with a URL key the
	// product gave out (phoneKey).
	phones
	// healthNetworks and metricsNetworks: addresses of those settings.
	healthNetworks
	metricsNetworks
)

// String names the access as the route list in the docs does.
func (a access) String() string {
	return [...]string{"anyone", "signed in", "REST", "phone networks + key", "health networks", "metrics networks"}[a]
}

// route is one entry of the server's route table.
type route struct {
	pattern string
	access  access
	// priv is the privilege a signed-in user needs (0: any signed-in
	// user); REST functions carry theirs in restFunctions.
	priv routing.Privileges
	// page serves a signedIn route; serve every other.
	page  webHandler
	serve http.HandlerFunc
}

// routeTable is every route the server answers, with who may reach it.
// Read it first: a route that is not here is not served.
func (s *Server) routeTable() []route {
	return []route{
		// Scripts, phones, monitoring.
		{pattern: "/Rest/{function}", access: restClient, serve: s.restHandler(restFunctions)},
		{pattern: "/phone", access: phones, serve: s.servePhone},
		{pattern: "GET /healthz", access: healthNetworks, serve: s.serveHealth},
		{pattern: "GET /readyz", access: healthNetworks, serve: s.serveReady},
		{pattern: "GET /metrics", access: metricsNetworks, serve: s.metrics.handler().ServeHTTP},

		// The web page: the way in.
		{pattern: "GET /static/", access: anyone, serve: s.serveStatic()},
		{pattern: "GET /{$}", access: anyone, serve: s.serveRoot},
		{pattern: "/", access: anyone, serve: s.serveNotFound},
		{pattern: "GET /signin", access: anyone, serve: s.serveSignIn},
		{pattern: "POST /signin", access: anyone, serve: s.signIn},
		{pattern: "POST /signout", access: signedIn, page: s.signOut},
		{pattern: "GET /password", access: signedIn, page: s.passwordPage},
		{pattern: "POST /password", access: signedIn, page: s.changePassword},
		{pattern: "GET /events", access: signedIn, page: s.webEvents},

		// State.
		{pattern: "GET /state", access: signedIn, priv: routing.PrivState, page: s.statePage},
		{pattern: "POST /state/{id}", access: signedIn, priv: routing.PrivState, page: s.stateSwitch},

		// Groups, their lines and schedules, the holidays.
		{pattern: "GET /groups", access: signedIn, priv: routing.PrivGroups, page: s.groupsPage},
		{pattern: "GET /groups/new", access: signedIn, priv: routing.PrivGroups, page: s.groupNewPage},
		{pattern: "POST /groups", access: signedIn, priv: routing.PrivGroups, page: s.groupCreate},
		{pattern: "GET /groups/{id}", access: signedIn, priv: routing.PrivGroups, page: s.groupEditPage},
		{pattern: "POST /groups/{id}", access: signedIn, priv: routing.PrivGroups, page: s.groupUpdate},
		{pattern: "POST /groups/{id}/delete", access: signedIn, priv: routing.PrivGroups, page: s.groupDelete},
		{pattern: "POST /groups/{id}/schedule", access: signedIn, priv: routing.PrivGroups, page: s.groupSchedule},
		{pattern: "GET /groups/{id}/lines", access: signedIn, priv: routing.PrivGroups, page: s.linesPage},
		{pattern: "POST /groups/{id}/lines", access: signedIn, priv: routing.PrivGroups, page: s.lineAdd},
		{pattern: "POST /groups/{id}/lines/{number}", access: signedIn, priv: routing.PrivGroups, page: s.lineRename},
		{pattern: "POST /groups/{id}/lines/{number}/delete", access: signedIn, priv: routing.PrivGroups, page: s.lineDelete},
		{pattern: "POST /phone-service/renew", access: signedIn, priv: routing.PrivAdmin, page: s.renewPhoneKey},
		{pattern: "GET /holidays", access: signedIn, priv: routing.PrivGroups, page: s.holidaysPage},
		{pattern: "POST /holidays", access: signedIn, priv: routing.PrivGroups, page: s.holidayAdd},
		{pattern: "POST /holidays/{id}/delete", access: signedIn, priv: routing.PrivGroups, page: s.holidayDelete},

		// Call Handler and announcements.
		{pattern: "GET /callhandler", access: signedIn, priv: routing.PrivCallHandler, page: s.callHandlerPage},
		{pattern: "POST /callhandler", access: signedIn, priv: routing.PrivCallHandler, page: s.callHandlerSave},
		{pattern: "POST /callhandler/groups/{id}", access: signedIn, priv: routing.PrivCallHandler, page: s.groupAnnouncement},
		{pattern: "POST /announcements", access: signedIn, priv: routing.PrivCallHandler, page: s.announcementUpload},
		{pattern: "GET /announcements/{id}/audio", access: signedIn, priv: routing.PrivCallHandler, page: s.announcementAudio},
		{pattern: "GET /announcements/{id}/waveform", access: signedIn, priv: routing.PrivCallHandler, page: s.announcementWaveform},
		{pattern: "POST /announcements/{id}/delete", access: signedIn, priv: routing.PrivCallHandler, page: s.announcementDelete},

		// Reports.
		{pattern: "GET /reports", access: signedIn, priv: routing.PrivReports, page: s.reportsPage},
		{pattern: "GET /reports/export", access: signedIn, priv: routing.PrivReports, page: s.reportsExport},
		{pattern: "GET /reports/chart", access: signedIn, priv: routing.PrivReports, page: s.reportsChart},

		// Users and the system.
		{pattern: "GET /users", access: signedIn, priv: routing.PrivAdmin, page: s.usersPage},
		{pattern: "GET /users/new", access: signedIn, priv: routing.PrivAdmin, page: s.userNewPage},
		{pattern: "POST /users", access: signedIn, priv: routing.PrivAdmin, page: s.userCreate},
		{pattern: "GET /users/{id}", access: signedIn, priv: routing.PrivAdmin, page: s.userEditPage},
		{pattern: "POST /users/{id}", access: signedIn, priv: routing.PrivAdmin, page: s.userUpdate},
		{pattern: "POST /users/{id}/password", access: signedIn, priv: routing.PrivAdmin, page: s.userPassword},
		{pattern: "POST /users/{id}/delete", access: signedIn, priv: routing.PrivAdmin, page: s.userDelete},
	}
}

// restFunctions is the REST API, each function with the privilege it
// needs besides REST; change marks those that answer POST only. The event
// stream is served by its own loop but authorized and dispatched like the
// rest.
var restFunctions = []restFunction{
	{name: "listGroups", call: (*Server).listGroups},
	{name: "setDiversion", change: true, priv: routing.PrivState, call: (*Server).setDiversion},
	{name: "toggleDiversion", change: true, priv: routing.PrivState, call: (*Server).toggleDiversion},
	{name: "addGroup", change: true, priv: routing.PrivGroups, call: (*Server).addGroup},
	{name: "updateGroup", change: true, priv: routing.PrivGroups, call: (*Server).updateGroup},
	{name: "deleteGroup", change: true, priv: routing.PrivGroups, call: (*Server).deleteGroup},
	{name: "listLines", call: (*Server).listLines},
	{name: "addLine", change: true, priv: routing.PrivGroups, call: (*Server).addLine},
	{name: "updateLine", change: true, priv: routing.PrivGroups, call: (*Server).updateLine},
	{name: "deleteLine", change: true, priv: routing.PrivGroups, call: (*Server).deleteLine},
	{name: "listReports", priv: routing.PrivReports, call: (*Server).listReports},
	{name: "listSchedules", call: (*Server).listSchedules},
	{name: "setSchedule", change: true, priv: routing.PrivGroups, call: (*Server).setSchedule},
	{name: "clearSchedule", change: true, priv: routing.PrivGroups, call: (*Server).clearSchedule},
	{name: "listHolidays", call: (*Server).listHolidays},
	{name: "addHoliday", change: true, priv: routing.PrivGroups, call: (*Server).addHoliday},
	{name: "deleteHoliday", change: true, priv: routing.PrivGroups, call: (*Server).deleteHoliday},
	{name: "events"},
}

// routes registers the route table; signed-in routes go through the
// session, privilege and CSRF check of web.
func (s *Server) routes(mux *http.ServeMux) {
	for _, rt := range s.routeTable() {
		if rt.access == signedIn {
			mux.HandleFunc(rt.pattern, s.web(rt.priv, rt.page))
			continue
		}
		mux.HandleFunc(rt.pattern, rt.serve)
	}
}

// restPrefixAnyCase sends /rest/…, /REST/… and every other spelling of the
// REST prefix to /Rest/…: the original product's server ignored case in
// paths, and scripts written for it spell the prefix as they please.
func restPrefixAnyCase(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if len(p) > len("/Rest/") && strings.EqualFold(p[:len("/Rest/")], "/Rest/") && p[:len("/Rest/")] != "/Rest/" {
			r2 := new(http.Request)
			*r2 = *r
			u := *r.URL
			u.Path = "/Rest/" + p[len("/Rest/"):]
			u.RawPath = ""
			r2.URL = &u
			r = r2
		}
		next.ServeHTTP(w, r)
	})
}

// serveStatic serves the page's style sheet, script and images, never a
// listing of their folder.
func (s *Server) serveStatic() http.HandlerFunc {
	static, _ := fs.Sub(webFS, "web/static")
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	return func(w http.ResponseWriter, r *http.Request) {
		info(r).route = "/static/"
		securityHeaders(w.Header())
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	}
}
