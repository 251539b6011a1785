package admin

import "github.com/phonediversions/phonediversions/routing"

// RouteInfo is a route of the table as the tests see it.
type RouteInfo struct {
	Pattern string
	Priv    routing.Privileges
}

// SignedInRoutes lists the routes of the web page that need a session,
// from the route table.
func SignedInRoutes(s *Server) []RouteInfo {
	var out []RouteInfo
	for _, rt := range s.routeTable() {
		if rt.access == signedIn {
			out = append(out, RouteInfo{Pattern: rt.pattern, Priv: rt.priv})
		}
	}
	return out
}
