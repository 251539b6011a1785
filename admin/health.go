package admin

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// readyTimeout bounds the readiness checks.
const readyTimeout = 2 * time.Second

// healthCheck names the route and answers 403 to an address outside the
// health networks; it reports whether the handler goes on.
func (s *Server) healthCheck(w http.ResponseWriter, r *http.Request, route string) bool {
	info(r).route = route
	w.Header().Set("Cache-Control", "no-store")
	if !s.cfg.HealthNetworks.Contains(clientAddr(r)) {
		http.Error(w, "health is not open to this address", http.StatusForbidden)
		return false
	}
	return true
}

// serveHealth answers 200 while the process serves HTTP at all.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	if !s.healthCheck(w, r, routeHealth) {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// serveReady answers 200 when the database answers and SIP is listening,
// 503 with the reason otherwise and while the program is stopping.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	if !s.healthCheck(w, r, routeReady) {
		return
	}
	if err := s.ready(r.Context()); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ready")
}

func (s *Server) ready(ctx context.Context) error {
	if s.draining.Load() {
		return fmt.Errorf("stopping")
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if _, err := s.svc.Settings(ctx); err != nil {
		s.log.Warn().Err(err).Msg("readiness: database")
		return fmt.Errorf("database does not answer")
	}
	if s.probes.SIPReady != nil {
		if err := s.probes.SIPReady(); err != nil {
			return fmt.Errorf("sip: %v", err)
		}
	}
	return nil
}
