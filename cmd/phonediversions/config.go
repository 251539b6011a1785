package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is every setting of the program. Each comes, in rising order of
// precedence, from its default, the config file, the environment
// (PHONEDIVERSIONS_<KEY>) and the command line (--key).
type Config struct {
	// ConfigFile is the file read for settings; "" reads none.
	ConfigFile    string
	DataDir       string
	DatabaseURL   string
	LogLevel      string
	LogFormat     string
	AdminUsername string
	AdminPassword string

	AnnouncementMaxBytes    int64
	AnnouncementMaxDuration time.Duration
	AnnouncementMaxTotal    int64

	RTPAddr    netip.Addr
	RTPPortMin int
	RTPPortMax int

	SIPAddr          netip.Addr
	SIPUDPPort       int
	SIPTCPPort       int
	SIPTLSPort       int
	SIPTLSCert       string
	SIPTLSKey        string
	SIPAdvertiseAddr netip.Addr
	SIPTrusted       []netip.Prefix
	SIPNextHop       string
	SIPNextHopProto  string
	RingTimeout      time.Duration
	MediaTimeout     time.Duration
	MaxCalls         int
	EarlyMedia       bool
	Ringback         string
	DrainTimeout     time.Duration
	DebugAddr        string
	MemoryLimit      int64
	GCPercent        int

	HTTPAddr        string
	PublicURL       *url.URL
	HTTPTLSCert     string
	HTTPTLSKey      string
	RESTLocalExempt bool
	RESTTrusted     []netip.Prefix
	PhoneNetworks   []netip.Prefix
	HealthNetworks  []netip.Prefix
	MetricsNetworks []netip.Prefix
	TimeZone        *time.Location
	DateFormat      string
	SessionIdle     time.Duration
	SessionMax      time.Duration
}

// setting describes one key: its name in the file, its flag and its
// environment variable, its default and how it is set.
type setting struct {
	key  string
	def  string
	help string
	set  func(c *Config, v string) error
}

func str(dst func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *dst(c) = v; return nil }
}

func oneOf(dst func(*Config) *string, allowed ...string) func(*Config, string) error {
	return func(c *Config, v string) error {
		for _, a := range allowed {
			if v == a {
				*dst(c) = v
				return nil
			}
		}
		return fmt.Errorf("must be one of %s", strings.Join(allowed, ", "))
	}
}

func duration(dst func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("must be a positive duration such as 30s or 10m")
		}
		*dst(c) = d
		return nil
	}
}

func integer(min, max int64, set func(*Config, int64)) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < min || n > max {
			return fmt.Errorf("must be a whole number from %d to %d", min, max)
		}
		set(c, n)
		return nil
	}
}

// databaseURL takes sqlite:PATH, postgres://… or postgresql://….
func databaseURL(c *Config, v string) error {
	switch {
	case v == "", strings.HasPrefix(v, "sqlite:"), strings.HasPrefix(v, "postgres://"), strings.HasPrefix(v, "postgresql://"):
		c.DatabaseURL = v
		return nil
	}
	return errors.New("must be empty, sqlite:PATH, or a postgres:// or postgresql:// URL")
}

func ipAddr(dst func(*Config) *netip.Addr) func(*Config, string) error {
	return func(c *Config, v string) error {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return fmt.Errorf("must be an IP address such as 0.0.0.0 or 192.0.2.10")
		}
		*dst(c) = a
		return nil
	}
}

func optionalIP(dst func(*Config) *netip.Addr) func(*Config, string) error {
	return func(c *Config, v string) error {
		if v == "" {
			*dst(c) = netip.Addr{}
			return nil
		}
		return ipAddr(dst)(c, v)
	}
}

// publicURL reads an absolute http or https URL without query; empty
// leaves it to be derived from the listener.
func publicURL(c *Config, v string) error {
	if v == "" {
		c.PublicURL = nil
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("must be an absolute http or https URL such as http://192.0.2.10:8080, without query")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c.PublicURL = u
	return nil
}

// timeZone reads an IANA time zone name; empty is the server's own.
func timeZone(c *Config, v string) error {
	if v == "" || v == "Local" {
		c.TimeZone = time.Local
		return nil
	}
	loc, err := time.LoadLocation(v)
	if err != nil {
		return fmt.Errorf("must be a time zone name such as Europe/Zurich or America/New_York")
	}
	c.TimeZone = loc
	return nil
}

func boolean(dst func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("must be true or false")
		}
		*dst(c) = b
		return nil
	}
}

// prefixes reads a comma-separated list of networks (192.0.2.0/24) or
// addresses (192.0.2.7, taken as one host).
func prefixes(dst func(*Config) *[]netip.Prefix) func(*Config, string) error {
	return func(c *Config, v string) error {
		var out []netip.Prefix
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			if p, err := netip.ParsePrefix(f); err == nil {
				out = append(out, p.Masked())
				continue
			}
			a, err := netip.ParseAddr(f)
			if err != nil {
				return fmt.Errorf("%q is neither a network such as 192.0.2.0/24 nor an IP address", f)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
		*dst(c) = out
		return nil
	}
}

func hostPort(dst func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error {
		if v != "" {
			if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
				return fmt.Errorf("must be host:port, such as 192.0.2.1:5060")
			}
		}
		*dst(c) = v
		return nil
	}
}

// settings lists every key. README.md documents the same list; the
// --print-config flag prints it as a config file.
func settings() []setting {
	return []setting{
		{"data_dir", "data", "folder of the database and the announcements; created on first start. Under systemd the default is the unit's StateDirectory ($STATE_DIRECTORY: /var/lib/phonediversions)",
			str(func(c *Config) *string { return &c.DataDir })},
		{"database_url", "", "the store: empty or sqlite:PATH is the embedded SQLite file (empty: phonediversions.db in data_dir); postgres://user@host:port/database (or postgresql://, with sslmode, pool_max_conns, …) a PostgreSQL database that several nodes share. Give a password as PHONEDIVERSIONS_DATABASE_URL rather than in a file",
			databaseURL},
		{"log_level", "info", "least severe log level written: debug, info, warn, error",
			oneOf(func(c *Config) *string { return &c.LogLevel }, "debug", "info", "warn", "error")},
		{"log_format", "auto", "log format: console (for people), json (for collectors), auto (console on a terminal, json otherwise)",
			oneOf(func(c *Config) *string { return &c.LogFormat }, "auto", "console", "json")},
		{"admin_username", "admin", "username of the first administrator, created when there is no user",
			str(func(c *Config) *string { return &c.AdminUsername })},
		{"admin_password", "", "password of the first administrator; empty: one is generated and printed once",
			str(func(c *Config) *string { return &c.AdminPassword })},
		{"announcement_max_bytes", "52428800", "largest announcement file accepted, in bytes",
			integer(1024, 1<<31, func(c *Config, n int64) { c.AnnouncementMaxBytes = n })},
		{"announcement_max_duration", "10m", "longest announcement accepted",
			duration(func(c *Config) *time.Duration { return &c.AnnouncementMaxDuration })},
		{"announcement_max_total", "268435456", "most the stored announcements may take together, in bytes of their 8 kHz form (16,000 a second: the default holds about 4.6 hours); 0: no bound",
			integer(0, 1<<40, func(c *Config, n int64) { c.AnnouncementMaxTotal = n })},
		{"rtp_addr", "0.0.0.0", "IP address the RTP sockets bind to",
			ipAddr(func(c *Config) *netip.Addr { return &c.RTPAddr })},
		{"rtp_port_min", "16384", "lowest RTP port; each call leg takes an even port",
			integer(1024, 65534, func(c *Config, n int64) { c.RTPPortMin = int(n) })},
		{"rtp_port_max", "32767", "highest RTP port",
			integer(1024, 65535, func(c *Config, n int64) { c.RTPPortMax = int(n) })},
		{"sip_addr", "0.0.0.0", "IP address the SIP listeners bind to",
			ipAddr(func(c *Config) *netip.Addr { return &c.SIPAddr })},
		{"sip_udp_port", "5060", "SIP port on UDP; 0 picks a free one, -1 turns UDP off",
			integer(-1, 65535, func(c *Config, n int64) { c.SIPUDPPort = int(n) })},
		{"sip_tcp_port", "5060", "SIP port on TCP; 0 picks a free one, -1 turns TCP off",
			integer(-1, 65535, func(c *Config, n int64) { c.SIPTCPPort = int(n) })},
		{"sip_tls_port", "5061", "SIP port on TLS, used when sip_tls_cert and sip_tls_key are set; 0 picks a free one",
			integer(0, 65535, func(c *Config, n int64) { c.SIPTLSPort = int(n) })},
		{"sip_tls_cert", "", "PEM certificate (chain) file of the SIP TLS listener; empty: no TLS",
			str(func(c *Config) *string { return &c.SIPTLSCert })},
		{"sip_tls_key", "", "PEM private key file of the SIP TLS listener",
			str(func(c *Config) *string { return &c.SIPTLSKey })},
		{"sip_advertise_addr", "", "IP address written in Contact and SDP; empty: sip_addr, or 127.0.0.1 when that is 0.0.0.0",
			optionalIP(func(c *Config) *netip.Addr { return &c.SIPAdvertiseAddr })},
		{"sip_trusted", "127.0.0.0/8,::1", "networks and addresses allowed to send calls (the PBX trunk), comma-separated; others get 403",
			prefixes(func(c *Config) *[]netip.Prefix { return &c.SIPTrusted })},
		{"sip_next_hop", "", "host:port of the PBX that outbound legs (connect to the called number, diversions) are sent to",
			hostPort(func(c *Config) *string { return &c.SIPNextHop })},
		{"sip_next_hop_transport", "udp", "transport to the next hop: udp or tcp",
			oneOf(func(c *Config) *string { return &c.SIPNextHopProto }, "udp", "tcp")},
		{"ring_timeout", "60s", "how long an outbound leg may ring before the call counts as not answered",
			duration(func(c *Config) *time.Duration { return &c.RingTimeout })},
		{"media_timeout", "30s", "a call whose party sends no RTP for this long is ended",
			duration(func(c *Config) *time.Duration { return &c.MediaTimeout })},
		{"max_calls", "1000", "concurrent calls accepted; above it new calls get 503",
			integer(1, 100000, func(c *Config, n int64) { c.MaxCalls = int(n) })},
		{"early_media", "false", "play the announcement as early media (183) instead of answering the call first",
			boolean(func(c *Config) *bool { return &c.EarlyMedia })},
		{"ringback", "europe", "ringback tone while the far leg rings: europe (425 Hz) or northamerica (440+480 Hz)",
			oneOf(func(c *Config) *string { return &c.Ringback }, "europe", "northamerica")},
		{"drain_timeout", "30s", "on stop, how long calls in progress may go on before they are hung up",
			duration(func(c *Config) *time.Duration { return &c.DrainTimeout })},
		{"gc_percent", "30", "how much the Go heap may grow over what is live before the collector runs (Go's GOGC); lower: less memory, more CPU (see docs/benchmarks.md)",
			integer(10, 1000, func(c *Config, n int64) { c.GCPercent = int(n) })},
		{"memory_limit", "0", "soft limit of the Go heap in MiB: the collector works harder as it is approached (0: none)",
			integer(0, 1<<20, func(c *Config, n int64) { c.MemoryLimit = n })},
		{"debug_addr", "", "host:port of the Go profiler (/debug/pprof/) for diagnosing the program; empty: off. Keep it on 127.0.0.1",
			hostPort(func(c *Config) *string { return &c.DebugAddr })},
		{"http_addr", ":8080", "host:port of the web page, REST API and phone service; port 0 picks a free one; empty: no HTTP",
			hostPort(func(c *Config) *string { return &c.HTTPAddr })},
		{"public_url", "", "URL people and phones reach the HTTP server at, for phone service URLs and links; empty: derived from http_addr and this machine's address",
			publicURL},
		{"http_tls_cert", "", "PEM certificate (chain) file for HTTPS; empty: plain HTTP",
			str(func(c *Config) *string { return &c.HTTPTLSCert })},
		{"http_tls_key", "", "PEM private key file for HTTPS",
			str(func(c *Config) *string { return &c.HTTPTLSKey })},
		{"rest_local_exempt", "true", "requests from the local host (127.0.0.1, ::1) use the REST API without signing in",
			boolean(func(c *Config) *bool { return &c.RESTLocalExempt })},
		{"rest_trusted", "", "further networks whose requests use the REST API without signing in, comma-separated",
			prefixes(func(c *Config) *[]netip.Prefix { return &c.RESTTrusted })},
		{"phone_networks", "127.0.0.0/8,::1,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7", "networks the Cisco IP phones live on: they may use the phone service (others get 403)",
			prefixes(func(c *Config) *[]netip.Prefix { return &c.PhoneNetworks })},
		{"health_networks", "0.0.0.0/0,::/0", "networks that may read /healthz and /readyz",
			prefixes(func(c *Config) *[]netip.Prefix { return &c.HealthNetworks })},
		{"metrics_networks", "127.0.0.0/8,::1", "networks that may read /metrics",
			prefixes(func(c *Config) *[]netip.Prefix { return &c.MetricsNetworks })},
		{"date_format", "iso", "how the Reports tab and its export write times: iso (2026-11-28 14:30:05) or dd.mm.yyyy (28.11.2026 14:30:05, as the original product did); REST answers stay RFC 3339, and from/to take either",
			oneOf(func(c *Config) *string { return &c.DateFormat }, "iso", "dd.mm.yyyy")},
		{"time_zone", "", "time zone of the web page and of report times given without an offset (e.g. Europe/Zurich); empty: the server's",
			timeZone},
		{"session_idle", "12h", "a web page session unused for this long ends",
			duration(func(c *Config) *time.Duration { return &c.SessionIdle })},
		{"session_max", "168h", "a web page session ends this long after signing in, used or not",
			duration(func(c *Config) *time.Duration { return &c.SessionMax })},
	}
}

// envName is the environment variable of a key.
func envName(key string) string { return "PHONEDIVERSIONS_" + strings.ToUpper(key) }

// flagName is the command-line flag of a key.
func flagName(key string) string { return strings.ReplaceAll(key, "_", "-") }

// errHelp is returned when the command line asked for help or the version,
// which have been printed: the program exits without starting.
var errHelp = errors.New("help printed")

// ParseConfig builds the Config from the defaults, the config file (the
// --config flag, else PHONEDIVERSIONS_CONFIG, else phonediversions.conf when
// it exists), the environment and the command line. Errors name the key and
// where its value came from.
func ParseConfig(args []string, getenv func(string) string, stdout io.Writer) (Config, error) {
	var c Config
	all := settings()
	for _, s := range all {
		if err := s.set(&c, s.def); err != nil {
			return c, fmt.Errorf("default of %s: %w", s.key, err)
		}
	}
	if dirs := getenv("STATE_DIRECTORY"); dirs != "" {
		c.DataDir, _, _ = strings.Cut(dirs, ":") // systemd's StateDirectory=
	}

	fs := flag.NewFlagSet("phonediversions", flag.ContinueOnError)
	fs.SetOutput(stdout)
	configFile := fs.String("config", "", "config file (default: $PHONEDIVERSIONS_CONFIG, else phonediversions.conf when it exists)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	printConfig := fs.Bool("print-config", false, "print every setting with its default as a config file and exit")
	flagValues := map[string]*string{}
	for _, s := range all {
		flagValues[s.key] = fs.String(flagName(s.key), s.def, s.help+" (env "+envName(s.key)+")")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, errHelp
		}
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case *showVersion:
		fmt.Fprintln(stdout, "phonediversions", Version())
		return c, errHelp
	case *printConfig:
		writeDefaultConfig(stdout, all)
		return c, errHelp
	}

	c.ConfigFile = *configFile
	explicit := c.ConfigFile != ""
	if !explicit {
		if c.ConfigFile = getenv("PHONEDIVERSIONS_CONFIG"); c.ConfigFile != "" {
			explicit = true
		} else if _, err := os.Stat("phonediversions.conf"); err == nil {
			c.ConfigFile = "phonediversions.conf"
		}
	}
	if c.ConfigFile != "" {
		if err := readConfigFile(&c, c.ConfigFile, all); err != nil {
			if explicit || !errors.Is(err, os.ErrNotExist) {
				return c, err
			}
			c.ConfigFile = ""
		}
	}
	for _, s := range all {
		if v, ok := lookupEnv(getenv, envName(s.key)); ok {
			if err := s.set(&c, v); err != nil {
				return c, fmt.Errorf("%s: %w", envName(s.key), err)
			}
		}
	}
	var flagErr error
	fs.Visit(func(f *flag.Flag) {
		for _, s := range all {
			if flagErr == nil && flagName(s.key) == f.Name {
				if err := s.set(&c, *flagValues[s.key]); err != nil {
					flagErr = fmt.Errorf("--%s: %w", f.Name, err)
				}
			}
		}
	})
	if flagErr != nil {
		return c, flagErr
	}
	if (c.HTTPTLSCert == "") != (c.HTTPTLSKey == "") {
		return c, fmt.Errorf("http_tls_cert and http_tls_key go together: set both or neither")
	}
	if (c.SIPTLSCert == "") != (c.SIPTLSKey == "") {
		return c, fmt.Errorf("sip_tls_cert and sip_tls_key go together: set both or neither")
	}
	if c.RTPPortMax-c.RTPPortMin < 2 {
		return c, fmt.Errorf("rtp_port_min %d and rtp_port_max %d leave no room for RTP ports", c.RTPPortMin, c.RTPPortMax)
	}
	return c, nil
}

func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

// readConfigFile reads "key = value" lines; "#" starts a comment line,
// values may be quoted with double quotes. An unknown key is an error, so a
// typo never goes unnoticed.
func readConfigFile(c *Config, path string, all []setting) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return fmt.Errorf("%s:%d: want key = value", path, n)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		found := false
		for _, s := range all {
			if s.key == key {
				found = true
				if err := s.set(c, value); err != nil {
					return fmt.Errorf("%s:%d: %s: %w", path, n, key, err)
				}
			}
		}
		if !found {
			return fmt.Errorf("%s:%d: unknown key %q", path, n, key)
		}
	}
	return sc.Err()
}

// writeDefaultConfig writes a config file with every key, its help and
// its default, each key commented out: the file changes nothing until a
// line is uncommented, and a changed line stands out.
func writeDefaultConfig(w io.Writer, all []setting) {
	fmt.Fprintln(w, "# PhoneDiversions configuration. Every key is shown with its default,")
	fmt.Fprintln(w, "# commented out: remove the \"#\" before a key to change it.")
	fmt.Fprintln(w, "# Environment variables PHONEDIVERSIONS_<KEY> and flags --<key> override it.")
	for _, s := range all {
		fmt.Fprintf(w, "\n# %s\n#%s = %q\n", wrap(s.help, 72, "# "), s.key, s.def)
	}
}

// wrap breaks text into lines of at most width characters (words longer
// stay whole), each after the first starting with prefix.
func wrap(text string, width int, prefix string) string {
	var b strings.Builder
	n := 0
	for i, word := range strings.Fields(text) {
		if i > 0 && n+1+len(word) > width {
			b.WriteString("\n" + prefix)
			n = 0
		} else if i > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(word)
		n += len(word)
	}
	return b.String()
}
