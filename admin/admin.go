// Package admin is the HTTP module: one server for the web page, the REST
// API (XML and JSON), the Cisco IP phone service, the live change feed
// (server-sent events), Prometheus metrics and health endpoints.
// Authorization, privileges and the mapping of errors to HTTP answers are
// decided here once for every surface; routes.go lists every route with
// who may reach it. The files rely only on those below them: the route
// table, then the surfaces (rest*.go, phone.go, events.go, web_*.go), then
// the shared reading, sign-in and session helpers (params.go, auth.go,
// limit.go, web_session.go, pages.go), then the envelope and escaping
// (envelope.go, latin1.go). It talks to routing and prompts only, never to
// SQL or SIP.
package admin

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"log"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/phonediversions/phonediversions/routing"
)

// Config configures the HTTP module.
type Config struct {
	// PublicURL is the absolute URL people and phones reach the server
	// at (scheme, host, port, optional path); links and phone service URLs
	// are built from it.
	PublicURL *url.URL
	// LocalExempt lets requests from 127.0.0.1 and ::1 use the REST API
	// without credentials.
	LocalExempt bool
	// Trusted are further networks whose requests need no credentials.
	Trusted Networks
	// PhoneNetworks may use the Cisco IP phone service.
	PhoneNetworks Networks
	// HealthNetworks may read /healthz and /readyz; MetricsNetworks
	// /metrics.
	HealthNetworks  Networks
	MetricsNetworks Networks
	// Location is the time zone of report times without an offset.
	Location *time.Location
	// DateFormat is how the Reports tab and its export write times:
	// DateISO (2026-11-28 14:30:05, the default) or DateDMY (28.11.2026
	// 14:30:05, as the original product did).
	DateFormat DateFormat
	// MaxBodyBytes bounds request bodies (default 1 MiB).
	MaxBodyBytes int64
	// SignInFailures failed sign-ins from one address within
	// SignInWindow make it wait for the rest of the window (429).
	SignInFailures int
	SignInWindow   time.Duration
	// ReadTimeout bounds the time a client may take to send a request
	// (default 1 minute); an announcement upload gets UploadTimeout
	// (default 10 minutes).
	ReadTimeout   time.Duration
	UploadTimeout time.Duration
	// Sessions are the idle and absolute limits of a web session (default
	// 12 hours and 7 days).
	Sessions routing.SessionLimits
	// MaxUploadBytes bounds an announcement file (default 50 MiB).
	MaxUploadBytes int64
	// MaxDecodes bounds the uploads converted at once (default 1: a
	// conversion takes a core while it runs); others are refused with 503
	// and Retry-After.
	MaxDecodes int
	// Now is the clock (tests set one).
	Now func() time.Time
	// OnSignIn, when set, is told of each web sign-in that succeeded.
	OnSignIn func(username string)
	// Version is the program's version, exported as
	// phonediversions_build_info.
	Version string
	// CertificateExpiry is when the certificate of each TLS listener
	// ("http", "sip") expires, exported for alerts.
	CertificateExpiry map[string]time.Time
}

// Probes tell the server about the parts of the program it does not own.
type Probes struct {
	// Telephony returns the counters of the call handler and media engine.
	Telephony func() Telephony
	// SIPReady returns nil while the SIP listeners are serving.
	SIPReady func() error
}

// Server is the HTTP module.
type Server struct {
	cfg    Config
	svc    *routing.Service
	ann    Announcements
	probes Probes
	tmpl   *templates
	// tls is set while serving HTTPS: cookies are Secure.
	tls     atomic.Bool
	log     zerolog.Logger
	limiter *failureLimiter
	creds   *credentials
	metrics *metrics
	handler http.Handler

	// epoch tells this process's event ids from an earlier one's.
	epoch    string
	draining atomic.Bool
	// decodes holds a token for each upload being converted.
	decodes  chan struct{}
	stop     chan struct{} // closed when shutdown begins: streams end
	stopOnce sync.Once

	mu  sync.Mutex
	srv *http.Server
}

// New returns the HTTP module over the routing service and the
// announcements' audio.
func New(cfg Config, svc *routing.Service, ann Announcements, probes Probes, log zerolog.Logger) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = time.Minute
	}
	if cfg.UploadTimeout <= 0 {
		cfg.UploadTimeout = 10 * time.Minute
	}
	if cfg.Sessions.Idle <= 0 {
		cfg.Sessions.Idle = 12 * time.Hour
	}
	if cfg.Sessions.Max <= 0 {
		cfg.Sessions.Max = 7 * 24 * time.Hour
	}
	if cfg.MaxUploadBytes <= 0 {
		cfg.MaxUploadBytes = 50 << 20
	}
	if cfg.MaxDecodes <= 0 {
		cfg.MaxDecodes = 1
	}
	if cfg.SignInFailures <= 0 {
		cfg.SignInFailures = 10
	}
	if cfg.SignInWindow <= 0 {
		cfg.SignInWindow = 5 * time.Minute
	}
	if cfg.PublicURL == nil {
		cfg.PublicURL = &url.URL{Scheme: "http", Host: "127.0.0.1"}
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	tmpl, err := loadTemplates()
	if err != nil {
		panic("admin: templates: " + err.Error()) // they are embedded: a build fault
	}
	s := &Server{cfg: cfg, svc: svc, ann: ann, probes: probes, log: log, tmpl: tmpl,
		limiter: newFailureLimiter(cfg.SignInFailures, cfg.SignInWindow, cfg.Now, svc),
		creds:   newCredentials(5*time.Minute, cfg.Now),
		epoch:   newEpoch(), stop: make(chan struct{}), decodes: make(chan struct{}, cfg.MaxDecodes)}
	s.metrics = newMetrics(s)
	mux := http.NewServeMux()
	s.routes(mux)
	s.handler = s.middleware(restPrefixAnyCase(mux))
	return s
}

// Handler returns the server's HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers requests on l until Shutdown; TLS wraps l when set.
// It returns nil after a shutdown.
func (s *Server) Serve(l net.Listener, tlsConf *tls.Config) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          newStdLogger(s.log),
	}
	s.mu.Lock()
	select {
	case <-s.stop:
		// Shut down before serving began: Shutdown found no server to
		// stop, and serving now would never end.
		s.mu.Unlock()
		l.Close()
		return nil
	default:
	}
	s.srv = srv
	s.mu.Unlock()
	var err error
	if tlsConf != nil {
		s.tls.Store(true)
		srv.TLSConfig = tlsConf
		err = srv.ServeTLS(l, "", "")
	} else {
		err = srv.Serve(l)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// SetDraining makes /readyz answer 503: the program is stopping.
func (s *Server) SetDraining() { s.draining.Store(true) }

// Shutdown ends the event streams, stops accepting connections and waits,
// within ctx, for the requests in progress.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.stopOnce.Do(func() { close(s.stop) })
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close()
		return err
	}
	return nil
}

// middleware bounds the body, logs one line per request and counts it.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &requestInfo{}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, ri))
		if !isUpload(r) {
			r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if r.TLS != nil {
			// Browsers that reached the product over HTTPS keep to it.
			w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		if ri.route == "" {
			ri.route = r.Pattern
			if ri.route == "" {
				ri.route = "unmatched"
			}
		}
		d := time.Since(start)
		s.metrics.observe(ri.route, sw.status, d)
		ev := s.log.Info()
		switch {
		case ri.route == routeHealth || ri.route == routeReady || ri.route == routeMetrics:
			ev = s.log.Debug()
		case sw.status >= 500:
			ev = s.log.Warn()
		}
		ev.Str("method", r.Method).Str("path", r.URL.Path).Int("status", sw.status).Dur("duration", d).
			Str("user", ri.user).Str("client", clientAddr(r).String()).Msg("http")
	})
}

// newEpoch returns a short random word that tells processes apart.
func newEpoch() string {
	return strings.ToLower(rand.Text()[:8])
}

// newStdLogger passes the HTTP server's own complaints (TLS handshakes
// that fail, broken connections) to the log at debug level: they are
// the client's doing.
func newStdLogger(l zerolog.Logger) *log.Logger {
	return log.New(debugWriter{l}, "", 0)
}

type debugWriter struct{ l zerolog.Logger }

func (w debugWriter) Write(p []byte) (int, error) {
	w.l.Debug().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}
