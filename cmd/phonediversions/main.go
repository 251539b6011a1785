// Command phonediversions runs PhoneDiversions: the diversion groups and
// their store, the SIP call handler with its media engine, and the HTTP
// module (web page, REST API, phone service, metrics). Started with no
// configuration it keeps its data in ./data; under systemd it tells the
// service manager when it is ready and answers its watchdog. Its
// subcommands: demo (a throw-away installation to try), probe (one test
// call), health (asks /healthz, for containers), backup and copy-store
// (the data).
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	_ "time/tzdata" // time_zone works where the system has no zone database

	sipgosip "github.com/emiago/sipgo/sip"
	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/phonediversions/phonediversions/admin"
	"github.com/phonediversions/phonediversions/media"
	"github.com/phonediversions/phonediversions/prompts"
	"github.com/phonediversions/phonediversions/routing"
	"github.com/phonediversions/phonediversions/routing/postgres"
	"github.com/phonediversions/phonediversions/routing/sqlite"
	"github.com/phonediversions/phonediversions/sip"
)

// version is set at link time (-ldflags "-X main.version=1.2.3"); otherwise
// the module version of the build is used.
var version = ""

// Version returns the version of this build.
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == "copy-store" {
		if err := runCopyStore(ctx, os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "phonediversions copy-store:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && (os.Args[1] == "demo" || os.Args[1] == "--demo") {
		if err := runDemo(ctx, os.Args[2:], os.Getenv, os.Stdout, os.Stderr); err != nil && !errors.Is(err, errHelp) {
			fmt.Fprintln(os.Stderr, "phonediversions demo:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "health" {
		if err := runHealth(ctx, os.Args[2:], os.Getenv, os.Stdout); err != nil && !errors.Is(err, errHelp) {
			fmt.Fprintln(os.Stderr, "phonediversions health:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "probe" {
		switch err := runProbe(ctx, os.Args[2:], os.Stdout); {
		case errors.Is(err, errCallFailed):
			os.Exit(1)
		case err != nil && !errors.Is(err, errHelp):
			fmt.Fprintln(os.Stderr, "phonediversions probe:", err)
			os.Exit(2)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "backup" {
		if err := runBackup(ctx, os.Args[2:], os.Getenv, os.Stdout); err != nil && !errors.Is(err, errHelp) {
			fmt.Fprintln(os.Stderr, "phonediversions backup:", err)
			os.Exit(1)
		}
		return
	}
	cfg, err := ParseConfig(os.Args[1:], os.Getenv, os.Stdout)
	if errors.Is(err, errHelp) {
		return
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "phonediversions:", err)
		os.Exit(2)
	}
	m := NewMain(cfg, os.Stdout, os.Stderr)
	notify, err := newNotifier(os.Getenv)
	if err != nil {
		m.Log.Warn().Err(err).Msg("systemd's notify socket; going on without telling it")
		notify = &notifier{}
	}
	defer notify.close()
	// The few lines the SIP stack writes outside any transport or
	// transaction go to its process-wide logger: make it ours.
	sipgosip.SetDefaultLogger(slog.New(sip.NewSlogHandler(m.Log.With().Str("component", "sip").Logger())))
	if err := m.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "phonediversions:", err)
		m.Close()
		os.Exit(1)
	}
	notify.send("READY=1\nSTATUS=Serving calls")
	watchdog, stopWatchdog := context.WithCancel(context.Background())
	defer stopWatchdog()
	go notify.keepAlive(watchdog, m.alive)
	<-ctx.Done()
	stop() // a second signal now ends the process at once
	notify.send("STOPPING=1\nSTATUS=Finishing the calls in progress")
	m.Log.Info().Msg("stopping")
	if err := m.Close(); err != nil {
		m.Log.Error().Err(err).Msg("stop")
		os.Exit(1)
	}
	m.Log.Info().Msg("stopped")
}

// runCopyStore is `phonediversions copy-store --from URL --to URL`: every
// record of one store, the announcements' audio included, into another
// that holds no data — a one-machine installation's SQLite file
// (sqlite:PATH) into a PostgreSQL database (postgres://…), or back. Stop
// the product first: what it writes during the copy may not come along.
func runCopyStore(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("copy-store", flag.ContinueOnError)
	fs.SetOutput(out)
	from := fs.String("from", "", "the store to copy: sqlite:PATH or postgres://…")
	to := fs.String("to", "", "the store to copy into, which holds no data: sqlite:PATH or postgres://…")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from == "" || *to == "" || fs.NArg() > 0 {
		return errors.New("usage: phonediversions copy-store --from sqlite:PATH|postgres://… --to sqlite:PATH|postgres://…")
	}
	if p, ok := strings.CutPrefix(*from, "sqlite:"); ok {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("--from: %w", err)
		}
	}
	src, err := openStoreURL(*from)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	defer src.Close()
	dst, err := openStoreURL(*to)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	defer dst.Close()
	if err := dst.(copier).Copy(ctx, src.(interface{ SQL() *sql.DB })); err != nil {
		return err
	}
	fmt.Fprintf(out, "copied %s into %s\n", redacted(*from), redacted(*to))
	return nil
}

// copier is a store another can be copied into.
type copier interface {
	Copy(ctx context.Context, src interface{ SQL() *sql.DB }) error
}

// openStoreURL opens the store a database URL names: sqlite:PATH or
// postgres://….
func openStoreURL(u string) (store, error) {
	var db store
	switch {
	case strings.HasPrefix(u, "sqlite:"):
		db = sqlite.New(strings.TrimPrefix(u, "sqlite:"))
	case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		db = postgres.New(u)
	default:
		return nil, errors.New("a store is sqlite:PATH or postgres://…")
	}
	return db, db.Open()
}

// redacted is a database URL without its password.
func redacted(u string) string {
	if pu, err := url.Parse(u); err == nil && pu.User != nil {
		return pu.Redacted()
	}
	return u
}

// runBackup is `phonediversions backup [settings] FILE`: a consistent
// copy of the embedded database, taken while the product runs, to a new
// file; restoring is starting with that file in its place. The settings
// (--data-dir, --database-url, --config …) say which database.
func runBackup(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[len(args)-1], "-") {
		return errors.New("usage: phonediversions backup [settings] FILE")
	}
	file := args[len(args)-1]
	cfg, err := ParseConfig(args[:len(args)-1], getenv, out)
	if err != nil {
		return err
	}
	m := &Main{Config: cfg}
	if u := cfg.DatabaseURL; strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://") {
		return errors.New("the store is PostgreSQL: back it up with pg_dump (docs/ha.md)")
	}
	db := sqlite.New(m.DatabasePath())
	if err := db.Open(); err != nil {
		return err
	}
	defer db.Close()
	if err := db.Backup(ctx, file); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s backed up to %s\n", m.DatabasePath(), file)
	return nil
}

// Main is the running program, split into Run and Close so that a test can
// run the whole of it with a temporary data folder.
type Main struct {
	Config  Config
	Stdout  io.Writer
	Log     zerolog.Logger
	DB      store
	Service *routing.Service
	Prompts *prompts.Library
	Media   *media.Engine
	SIP     *sip.Server
	HTTP    *admin.Server
	// HTTPAddr is the address the HTTP listener is bound to.
	HTTPAddr net.Addr
	// database is the store as the log names it (no password).
	database string
	debug    *http.Server
	httpDone chan error
	// stopScheduler ends the scheduler and waits for it.
	stopScheduler func()
	// certExpiry is when each TLS listener's certificate expires.
	certExpiry map[string]time.Time
}

// NewMain returns a program with the configuration, writing what people
// must read (the generated password) to stdout and logs to stderr.
func NewMain(cfg Config, stdout, stderr io.Writer) *Main {
	return &Main{Config: cfg, Stdout: stdout, Log: newLogger(cfg, stderr)}
}

func newLogger(cfg Config, w io.Writer) zerolog.Logger {
	console := cfg.LogFormat == "console"
	if cfg.LogFormat == "auto" {
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			console = true
		}
	}
	if console {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	level, err := zerolog.ParseLevel(cfg.LogLevel)
	if err != nil {
		level = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// store is the store the program opens: SQLite or PostgreSQL.
type store interface {
	routing.Store
	Open() error
}

// DatabasePath is where the embedded database lives (when database_url
// names none: sqlite:PATH, or a PostgreSQL database).
func (m *Main) DatabasePath() string {
	if p, ok := strings.CutPrefix(m.Config.DatabaseURL, "sqlite:"); ok {
		return p
	}
	return filepath.Join(m.Config.DataDir, "phonediversions.db")
}

// openStore opens the store database_url names, and says which for the
// log (without a password).
func (m *Main) openStore() (store, string, error) {
	u := m.Config.DatabaseURL
	if !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		u = "sqlite:" + m.DatabasePath()
	}
	db, err := openStoreURL(u)
	return db, redacted(u), err
}

// Run creates the data folder when missing, opens the store, creates the
// first administrator on first start and logs that the program is ready.
// It returns once everything is started.
func (m *Main) Run(ctx context.Context) error {
	if m.Config.DebugAddr == "" {
		// Nobody can read a heap profile: do not sample for one (its
		// records and their table grow with every new call stack).
		runtime.MemProfileRate = 0
	}
	if m.Config.GCPercent > 0 {
		debug.SetGCPercent(m.Config.GCPercent)
	}
	if m.Config.MemoryLimit > 0 {
		debug.SetMemoryLimit(m.Config.MemoryLimit << 20)
	}
	if err := os.MkdirAll(m.Config.DataDir, 0o750); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	db, shown, err := m.openStore()
	if err != nil {
		return err
	}
	m.DB, m.database = db, shown
	opts := []routing.Option{routing.WithLocation(m.Config.TimeZone)}
	if _, ok := m.DB.(*postgres.DB); ok {
		opts = append(opts, routing.WithSharedStore()) // other nodes change it too
	}
	m.Service = routing.NewService(m.DB, opts...)
	m.Prompts, err = prompts.New(m.Service, prompts.Limits{
		MaxBytes: m.Config.AnnouncementMaxBytes, MaxDuration: m.Config.AnnouncementMaxDuration, MaxTotal: m.Config.AnnouncementMaxTotal})
	if err != nil {
		return err
	}
	if err := m.takeOverAnnouncementFiles(ctx); err != nil {
		return err
	}
	m.Media, err = media.New(media.Config{IP: m.Config.RTPAddr, PortMin: m.Config.RTPPortMin, PortMax: m.Config.RTPPortMax})
	if err != nil {
		return err
	}
	if err := m.Media.BatchError(); err != nil {
		m.Log.Info().Str("component", "media").Err(err).Msg("announcements are sent one packet per system call: the kernel gives no io_uring")
	}
	if err := m.startSIP(); err != nil {
		return err
	}
	if m.Config.HTTPAddr != "" {
		if err := m.startHTTP(); err != nil {
			return err
		}
	}
	if m.Config.DebugAddr != "" {
		if err := m.startDebug(); err != nil {
			return err
		}
	}
	pw, created, err := m.Service.EnsureAdmin(ctx, m.Config.AdminUsername, m.Config.AdminPassword, generatePassword)
	if err != nil {
		return fmt.Errorf("first administrator: %w", err)
	}
	if created {
		m.Log.Info().Str("username", m.Config.AdminUsername).Msg("first administrator created")
		if m.Config.AdminPassword == "" {
			fmt.Fprintf(m.Stdout, "\nFirst administrator: username %q, password %q\nThis password is shown once; change it after signing in.\n\n",
				m.Config.AdminUsername, pw)
			if err := m.keepFirstPassword(pw); err != nil {
				return err
			}
		}
	}
	m.startScheduler()
	httpAddr := ""
	if m.HTTP != nil {
		httpAddr = m.HTTPAddr.String()
		phoneURL, err := m.HTTP.PhoneServiceURL(ctx, 0)
		if err != nil {
			return fmt.Errorf("phone service key: %w", err)
		}
		m.Log.Info().Str("url", m.HTTP.PublicURL("/", nil)).Str("rest", m.HTTP.PublicURL("/Rest/listGroups", nil)).
			Str("phone_service", phoneURL).Msg("web page, REST API and phone service")
	}
	m.Log.Info().Str("version", Version()).Str("data", m.Config.DataDir).Str("database", m.database).Str("http", httpAddr).
		Str("rtp", fmt.Sprintf("%s:%d-%d", m.Config.RTPAddr, m.Config.RTPPortMin, m.Config.RTPPortMax)).
		Int("sip_udp", m.SIP.UDPPort()).Int("sip_tcp", m.SIP.TCPPort()).Int("sip_tls", m.SIP.TLSPort()).Str("next_hop", m.Config.SIPNextHop).Msg("ready")
	return nil
}

// alive tells systemd's watchdog that the program works: its SIP
// listener answers an OPTIONS request (over UDP; without UDP, that the
// process runs is all it tells).
func (m *Main) alive(ctx context.Context) bool {
	port := m.SIP.UDPPort()
	if port <= 0 {
		return true
	}
	ip := m.Config.SIPAddr
	if ip.IsUnspecified() {
		ip = netip.MustParseAddr("127.0.0.1")
		if m.Config.SIPAddr.Is6() {
			ip = netip.IPv6Loopback()
		}
	}
	return sipAnswers(ctx, netip.AddrPortFrom(ip, uint16(port)))
}

// firstPasswordFile is the file in data_dir that holds the generated
// password of the first administrator when no one reads the terminal.
const firstPasswordFile = "first-admin-password"

// keepFirstPassword writes the generated password of the first
// administrator to a file only the service's user (and root) may read,
// when stdout is no terminal (a service: the journal has it once, and
// the file until the administrator signs in).
func (m *Main) keepFirstPassword(pw string) error {
	if f, ok := m.Stdout.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		return nil
	}
	path := filepath.Join(m.Config.DataDir, firstPasswordFile)
	text := fmt.Sprintf("# The first administrator of PhoneDiversions. This file is removed when\n# they first sign in; change the password then.\nusername: %s\npassword: %s\n",
		m.Config.AdminUsername, pw)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return fmt.Errorf("first administrator's password file: %w", err)
	}
	m.Log.Info().Str("file", path).Msg("the first administrator's password is also in this file (readable by the service's user and root) until they sign in")
	return nil
}

// signedIn removes the first administrator's password file once they
// signed in.
func (m *Main) signedIn(username string) {
	if username != m.Config.AdminUsername {
		return
	}
	path := filepath.Join(m.Config.DataDir, firstPasswordFile)
	if err := os.Remove(path); err == nil {
		m.Log.Info().Str("file", path).Msg("the first administrator signed in: their password file is removed")
	}
}

// takeOverAnnouncementFiles moves into the store the audio that earlier
// versions kept as files in data_dir/announcements, for the
// announcements whose audio the store does not have yet; the files stay.
func (m *Main) takeOverAnnouncementFiles(ctx context.Context) error {
	files, err := prompts.LegacyFiles(filepath.Join(m.Config.DataDir, "announcements"))
	if err != nil {
		return err
	}
	for id, audio := range files {
		took, err := m.Service.TakeOverAnnouncementAudio(ctx, id, audio)
		if err != nil {
			return fmt.Errorf("announcement %d's audio: %w", id, err)
		}
		if took {
			m.Log.Info().Int64("announcement", id).Msg("announcement audio moved from its file into the store")
		}
	}
	return nil
}

// storeCheckInterval is how often the store's health is checked.
const storeCheckInterval = 2 * time.Second

// startScheduler runs the groups' plans: the state each wants now, then
// each change at its moment.
// On a shared store it also follows the changes other nodes commit: the
// live feed shows them and the scheduler wakes for them. And it checks the
// store every storeCheckInterval: while it does not answer, the PBX's
// OPTIONS get 503.
func (m *Main) startScheduler() {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		m.Service.WatchStore(ctx, storeCheckInterval)
	}()
	go func() {
		defer wg.Done()
		m.Service.RunScheduler(ctx, func(err error) {
			m.Log.Error().Err(err).Msg("scheduled switch failed; retrying in a minute")
		})
	}()
	go func() {
		defer wg.Done()
		m.Service.FollowStore(ctx, func(err error) {
			m.Log.Warn().Err(err).Msg("following the other nodes' changes; trying again")
		})
	}()
	m.stopScheduler = func() {
		cancel()
		wg.Wait()
	}
}

// Close stops everything Run started; what was written is on disk.
func (m *Main) Close() error {
	if m.stopScheduler != nil {
		m.stopScheduler()
		m.stopScheduler = nil
	}
	if m.debug != nil {
		m.debug.Close()
	}
	if m.HTTP != nil {
		m.HTTP.SetDraining() // readiness answers 503 from now on
	}
	if m.SIP != nil {
		if n := m.SIP.ActiveCalls(); n > 0 {
			m.Log.Info().Int("calls", n).Dur("within", m.Config.DrainTimeout).Msg("refusing new calls; waiting for the calls in progress")
		}
		ctx, cancel := context.WithTimeout(context.Background(), m.Config.DrainTimeout)
		m.SIP.Drain(ctx)
		rw := m.SIP.Stats().ReadWait()
		m.Log.Info().Uint64("read", rw.Total()).Dur("read_wait_p50", rw.Quantile(0.5)).Dur("read_wait_p99", rw.Quantile(0.99)).
			Dur("read_wait_max", rw.Max).Msg("SIP counters")
		cancel()
		m.SIP.Close()
	}
	if m.HTTP != nil {
		ctx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
		if err := m.HTTP.Shutdown(ctx); err != nil {
			m.Log.Warn().Err(err).Msg("HTTP requests still in progress were cut off")
		}
		cancel()
		if err := <-m.httpDone; err != nil {
			m.Log.Error().Err(err).Msg("HTTP server")
		}
		m.HTTP = nil
	}
	if m.Media != nil {
		st := m.Media.Stats()
		m.Log.Info().Uint64("rtp_sent", st.PacketsSent).Uint64("rtp_received", st.PacketsReceived).
			Uint64("rtp_late", st.LatePackets).Uint64("rtp_skipped", st.SkippedFrames).Uint64("rtp_dropped", st.DroppedPackets).
			Dur("lateness_p50", st.Lateness.Quantile(0.5)).Dur("lateness_p99", st.Lateness.Quantile(0.99)).
			Dur("lateness_max", st.Lateness.Max).Dur("relay_p99", st.RelayDelay.Quantile(0.99)).Msg("media counters")
		m.Media.Close()
	}
	if m.Service != nil {
		ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		if n := m.Service.FlushReports(ctx); n > 0 {
			m.Log.Error().Int("entries", n).Msg("call report entries kept while the store did not answer are lost: it does not answer now either")
		}
		cancel()
	}
	if m.DB != nil {
		return m.DB.Close()
	}
	return nil
}

// flushTimeout bounds the last try, at stop, to write the call report
// entries kept while the store did not answer.
const flushTimeout = 10 * time.Second

// startDebug serves the Go profiler on the debug address.
func (m *Main) startDebug() error {
	l, err := net.Listen("tcp", m.Config.DebugAddr)
	if err != nil {
		return fmt.Errorf("debug listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	m.debug = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go m.debug.Serve(l)
	m.Log.Warn().Str("addr", l.Addr().String()).Msg("profiler listening")
	return nil
}

// certExpires notes when a TLS listener's certificate expires, for
// /metrics.
func (m *Main) certExpires(listener string, cert tls.Certificate) {
	if cert.Leaf == nil {
		return
	}
	if m.certExpiry == nil {
		m.certExpiry = map[string]time.Time{}
	}
	m.certExpiry[listener] = cert.Leaf.NotAfter
}

// startSIP starts the call handler on its listeners.
func (m *Main) startSIP() error {
	c := m.Config
	tone := media.RingbackEurope()
	if c.Ringback == "northamerica" {
		tone = media.RingbackNorthAmerica()
	}
	var tlsConf *tls.Config
	if c.SIPTLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.SIPTLSCert, c.SIPTLSKey)
		if err != nil {
			return fmt.Errorf("sip_tls_cert/sip_tls_key: %w", err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		m.certExpires("sip", cert)
	}
	var err error
	m.SIP, err = sip.New(sip.Config{
		ListenIP: c.SIPAddr, UDPPort: c.SIPUDPPort, TCPPort: c.SIPTCPPort, TLSPort: c.SIPTLSPort, TLS: tlsConf,
		AdvertiseIP: c.SIPAdvertiseAddr,
		Trusted:     c.SIPTrusted, NextHop: c.SIPNextHop, NextHopTransport: c.SIPNextHopProto,
		RingTimeout: c.RingTimeout, MediaTimeout: c.MediaTimeout, MaxCalls: c.MaxCalls,
		EarlyMedia: c.EarlyMedia, Ringback: tone, Version: Version(),
		Healthy: m.Service.StoreHealth,
	}, m.Service, m.Prompts, m.Media, m.Log.With().Str("component", "sip").Logger())
	if err != nil {
		return err
	}
	// The listeners outlive the signal that stops the program: the drain
	// still sends BYEs through them.
	return m.SIP.Listen(context.Background())
}

// httpShutdownTimeout bounds the wait for HTTP requests in progress on stop.
const httpShutdownTimeout = 5 * time.Second

// startHTTP starts the web page, REST API, phone service, metrics and
// health on the HTTP listener.
func (m *Main) startHTTP() error {
	c := m.Config
	l, err := net.Listen("tcp", c.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http_addr: %w", err)
	}
	var tlsConf *tls.Config
	if c.HTTPTLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.HTTPTLSCert, c.HTTPTLSKey)
		if err != nil {
			l.Close()
			return fmt.Errorf("http_tls_cert/http_tls_key: %w", err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		m.certExpires("http", cert)
	}
	m.HTTPAddr = l.Addr()
	public := c.PublicURL
	if public == nil {
		public = derivePublicURL(l.Addr().(*net.TCPAddr), tlsConf != nil, c.SIPAdvertiseAddr)
	}
	m.HTTP = admin.New(admin.Config{
		PublicURL: public, LocalExempt: c.RESTLocalExempt, Trusted: c.RESTTrusted,
		PhoneNetworks: c.PhoneNetworks, HealthNetworks: c.HealthNetworks, MetricsNetworks: c.MetricsNetworks,
		Location: c.TimeZone, DateFormat: admin.DateFormat(c.DateFormat), Sessions: routing.SessionLimits{Idle: c.SessionIdle, Max: c.SessionMax},
		MaxUploadBytes: c.AnnouncementMaxBytes, OnSignIn: m.signedIn, Version: Version(), CertificateExpiry: m.certExpiry,
	}, m.Service, m.Prompts, admin.Probes{Telephony: m.telephony, SIPReady: m.SIP.Ready}, m.Log.With().Str("component", "http").Logger())
	m.httpDone = make(chan error, 1)
	go func() { m.httpDone <- m.HTTP.Serve(l, tlsConf) }()
	return nil
}

// derivePublicURL is the URL phones and people reach the listener at when
// public_url is not set: the listener's own address, or when it listens
// on every address, the SIP advertised address or this machine's first
// non-loopback address.
func derivePublicURL(addr *net.TCPAddr, tls bool, advertise netip.Addr) *url.URL {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	ip, _ := netip.AddrFromSlice(addr.IP)
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsUnspecified() {
		ip = advertise
	}
	if !ip.IsValid() || ip.IsUnspecified() {
		ip = firstHostAddr()
	}
	return &url.URL{Scheme: scheme, Host: net.JoinHostPort(ip.String(), strconv.Itoa(addr.Port))}
}

// firstHostAddr returns the first global unicast IPv4 address of an
// interface that is up, else 127.0.0.1.
func firstHostAddr() netip.Addr {
	ifaces, _ := net.Interfaces()
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap().Is4() && ip.IsGlobalUnicast() {
					return ip.Unmap()
				}
			}
		}
	}
	return netip.MustParseAddr("127.0.0.1")
}

// telephony reads the counters of the call handler and the media engine
// for the metrics endpoint.
func (m *Main) telephony() admin.Telephony {
	st, ms, ov := m.SIP.Stats(), m.Media.Stats(), m.SIP.Overload()
	rw := st.ReadWait()
	return admin.Telephony{
		CallsStarted: st.Calls.Load(), CallsRejected: st.Rejected.Load(), Outcomes: st.Ended(),
		ActiveCalls: m.SIP.ActiveCalls(), Streams: ms.ActiveStreams,
		CallsShed: ov.Shed, CallLimit: ov.Limit, Overloaded: ov.Saturated,
		RTPSent: ms.PacketsSent, RTPReceived: ms.PacketsReceived, RTPLate: ms.LatePackets,
		RTPSkipped: ms.SkippedFrames, RTPDropped: ms.DroppedPackets, RTPBatched: ms.BatchedPackets,
		Lateness:    admin.Histogram{Bucket: ms.Lateness.Bucket, Counts: ms.Lateness.Counts},
		RelayDelay:  admin.Histogram{Bucket: ms.RelayDelay.Bucket, Counts: ms.RelayDelay.Counts},
		SIPReadWait: admin.Histogram{Bucket: rw.Bucket, Counts: rw.Counts},
	}
}

// generatePassword returns 26 random base32 characters (130 bits).
func generatePassword() string { return rand.Text() }
