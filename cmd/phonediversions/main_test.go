package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/audio"
	"github.com/phonediversions/phonediversions/prompts"
	"github.com/phonediversions/phonediversions/routing"
	"github.com/phonediversions/phonediversions/routing/routingtest"
)

var ctx = context.Background()

func testConfig(t *testing.T, dataDir string) Config {
	t.Helper()
	cfg, err := ParseConfig([]string{"--data-dir", dataDir, "--log-format", "json", "--sip-addr", "127.0.0.1",
		"--sip-udp-port", "0", "--sip-tcp-port", "0", "--http-addr", "127.0.0.1:0"}, func(string) string { return "" }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

var passwordLine = regexp.MustCompile(`username "admin", password "([^"]+)"`)

func TestMainFirstStartThenReuse(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "nested", "data")
	var out, logs bytes.Buffer
	m := NewMain(testConfig(t, dataDir), &out, &logs)
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	match := passwordLine.FindStringSubmatch(out.String())
	if match == nil {
		t.Fatalf("no generated password printed; stdout: %q", out.String())
	}
	password := match[1]
	if len(password) < 20 {
		t.Fatalf("generated password %q is too short", password)
	}
	if strings.Contains(logs.String(), password) {
		t.Fatal("the generated password was written to the logs")
	}
	if !strings.Contains(logs.String(), `"message":"ready"`) {
		t.Fatalf("no ready line in the logs: %s", logs.String())
	}
	if _, err := m.Service.Authenticate(ctx, "admin", password); err != nil {
		t.Fatal(err)
	}
	g, err := m.Service.CreateGroup(ctx, routing.Actor{Name: "admin"}, routing.ChannelWeb, routing.Group{Name: "Front Desk", Destination: "1022"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Service.SetState(ctx, g.ID, true, routing.Actor{Name: "admin"}, routing.ChannelWeb); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(m.DatabasePath()); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("database file %v, mode %v: want it readable by its owner only", err, fi.Mode())
	}

	out.Reset()
	m = NewMain(testConfig(t, dataDir), &out, &logs)
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if strings.Contains(out.String(), "password") {
		t.Fatalf("second start printed a password again: %q", out.String())
	}
	if _, err := m.Service.Authenticate(ctx, "admin", password); err != nil {
		t.Fatalf("first password lost on restart: %v", err)
	}
	got, err := m.Service.Group(ctx, g.ID)
	if err != nil || !got.On || got.Name != "Front Desk" {
		t.Fatalf("group after restart %+v %v", got, err)
	}
}

// The program on PostgreSQL (database_url): the first start creates the
// schema and the administrator, a second start — as another node would —
// finds what the first wrote; the log names the database without its
// password.
func TestMainOnPostgreSQL(t *testing.T) {
	u, err := url.Parse(routingtest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "not-needed-by-a-trusting-server")
	start := func() (*Main, *bytes.Buffer, *bytes.Buffer) {
		cfg := testConfig(t, t.TempDir())
		cfg.DatabaseURL = u.String()
		var out, logs bytes.Buffer
		m := NewMain(cfg, &out, &logs)
		if err := m.Run(ctx); err != nil {
			t.Fatal(err)
		}
		return m, &out, &logs
	}
	m, out, logs := start()
	match := passwordLine.FindStringSubmatch(out.String())
	if match == nil {
		t.Fatalf("no generated password printed; stdout: %q", out.String())
	}
	if strings.Contains(logs.String(), "not-needed-by-a-trusting-server") {
		t.Error("the log shows the database password")
	}
	if _, err := os.Stat(m.DatabasePath()); err == nil {
		t.Error("a SQLite file was made beside the PostgreSQL store")
	}
	g, err := m.Service.CreateGroup(ctx, routing.Actor{Name: "admin"}, routing.ChannelWeb, routing.Group{Name: "Front Desk", Destination: "1022"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Service.SetState(ctx, g.ID, true, routing.Actor{Name: "admin"}, routing.ChannelWeb); err != nil {
		t.Fatal(err)
	}
	wav, err := os.Open(filepath.Join("..", "..", "prompts", "testdata", "ulaw-8k.wav"))
	if err != nil {
		t.Fatal(err)
	}
	defer wav.Close()
	annID, uploaded, err := m.Prompts.Add(ctx, wav, func(d time.Duration, stored []byte) (int64, error) {
		a, err := m.Service.AddAnnouncement(ctx, routing.Actor{Name: "admin"}, routing.ChannelWeb, routing.Announcement{Name: "Welcome", Duration: d}, stored)
		return a.ID, err
	})
	if err != nil {
		t.Fatal(err)
	}
	second, out2, _ := start() // another node, the first still running
	// The announcement uploaded on the first node plays on the second.
	if p, err := second.Prompts.Get(annID); err != nil || !reflect.DeepEqual(p.Frames(audio.PCMA), uploaded.Frames(audio.PCMA)) {
		t.Errorf("the first node's announcement on the second: %v", err)
	}
	defer second.Close()
	if strings.Contains(out2.String(), "password") {
		t.Errorf("the second node printed a password again: %q", out2.String())
	}
	admin, err := second.Service.Authenticate(ctx, "admin", match[1])
	if err != nil {
		t.Errorf("the first node's administrator on the second: %v", err)
	}
	// A browser signed in on the first node is signed in on the second.
	token, _, err := m.Service.StartSession(ctx, admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, u, err := second.Service.SessionUser(ctx, token, routing.SessionLimits{Idle: time.Hour, Max: time.Hour}); err != nil || u.Username != "admin" {
		t.Errorf("the first node's session on the second: %v", err)
	}
	if got, err := second.Service.Group(ctx, g.ID); err != nil || !got.On {
		t.Errorf("the group on the second node: %+v %v", got, err)
	}
	// A switch on the first node shows in the second's list of groups,
	// which it read before (the State tab, the phone menu, listGroups).
	if _, err := second.Service.Groups(ctx, routing.GroupFilter{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Service.SetState(ctx, g.ID, false, routing.Actor{Name: "admin"}, routing.ChannelWeb); err != nil {
		t.Fatal(err)
	}
	if gs, err := second.Service.Groups(ctx, routing.GroupFilter{}); err != nil || len(gs) != 1 || gs[0].On {
		t.Errorf("the second node's list after a switch on the first: %+v %v", gs, err)
	}
	// The second node's live feed shows the first node's switches.
	for deadline := time.Now().Add(10 * time.Second); !second.Service.Following(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second node does not follow the store")
		}
	}
	sub := second.Service.Events().Subscribe(16)
	defer sub.Close()
	if _, err := m.Service.SetState(ctx, g.ID, true, routing.Actor{Name: "admin"}, routing.ChannelWeb); err != nil {
		t.Fatal(err)
	}
	// (The switch OFF above may come first: the second node publishes
	// every change committed after it began to follow.)
	deadline := time.After(10 * time.Second)
wait:
	for {
		select {
		case ev := <-sub.C():
			if ev.Action == routing.ActionDiversion && ev.Status == routing.StatusActivated {
				break wait
			}
		case <-deadline:
			t.Fatal("the first node's switch did not reach the second node's feed")
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

// An installation of an earlier version kept each announcement's audio
// in data_dir/announcements/<id>.g711: the start moves it into the store.
func TestAnnouncementFilesTakenOver(t *testing.T) {
	dataDir := t.TempDir()
	m := NewMain(testConfig(t, dataDir), io.Discard, io.Discard)
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	a, err := m.Service.AddAnnouncement(ctx, routing.Actor{Name: "admin"}, routing.ChannelWeb, routing.Announcement{Name: "Old", Duration: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	old := m.Prompts.Builtin() // any announcement's stored form will do
	if err := os.MkdirAll(filepath.Join(dataDir, "announcements"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "announcements", strconv.FormatInt(a.ID, 10)+".g711"), old.Marshal(), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	m = NewMain(testConfig(t, dataDir), io.Discard, &logs)
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p, err := m.Prompts.Get(a.ID)
	if err != nil || !reflect.DeepEqual(p.Frames(audio.PCMU), old.Frames(audio.PCMU)) {
		t.Fatalf("the file's audio after the start: %v", err)
	}
	if !strings.Contains(logs.String(), "announcement audio moved from its file into the store") {
		t.Error("the start did not say it moved the file")
	}
}

func TestAnnouncementUploadSurvivesRestart(t *testing.T) {
	dataDir := t.TempDir()
	actor := routing.Actor{Name: "Tamara Farrow, Sales"}
	m := NewMain(testConfig(t, dataDir), io.Discard, io.Discard)
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if m.Prompts.Builtin().Duration() < time.Second {
		t.Fatal("no built-in announcement on first start")
	}
	upload := func(name string) (int64, *prompts.Prompt, error) {
		f, err := os.Open(filepath.Join("..", "..", "prompts", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return m.Prompts.Add(ctx, f, func(d time.Duration, stored []byte) (int64, error) {
			a, err := m.Service.AddAnnouncement(ctx, actor, routing.ChannelWeb, routing.Announcement{Name: "Welcome", FileName: name, Duration: d}, stored)
			return a.ID, err
		})
	}
	id, p, err := upload("s16-48k-stereo.wav")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Service.UpdateSettings(ctx, actor, routing.ChannelWeb, routing.SettingsUpdate{AnnouncementID: &id}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := upload("broken-truncated.wav"); err == nil {
		t.Fatal("a truncated file was accepted")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	m = NewMain(testConfig(t, dataDir), io.Discard, io.Discard)
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	st, err := m.Service.Settings(ctx)
	if err != nil || st.AnnouncementID != id {
		t.Fatalf("active announcement after restart: %+v %v", st, err)
	}
	anns, err := m.Service.Announcements(ctx)
	if err != nil || len(anns) != 1 || anns[0].Duration != p.Duration() {
		t.Fatalf("announcements after restart: %+v %v", anns, err)
	}
	got, err := m.Prompts.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Frames(audio.PCMU), p.Frames(audio.PCMU)) {
		t.Fatal("the stored audio changed across the restart")
	}
}

func TestMainAdminPasswordFromEnvironment(t *testing.T) {
	env := map[string]string{"PHONEDIVERSIONS_ADMIN_PASSWORD": "from-the-environment", "PHONEDIVERSIONS_DATA_DIR": t.TempDir(),
		"PHONEDIVERSIONS_SIP_UDP_PORT": "0", "PHONEDIVERSIONS_SIP_TCP_PORT": "0", "PHONEDIVERSIONS_SIP_ADDR": "127.0.0.1"}
	cfg, err := ParseConfig(nil, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var out, logs bytes.Buffer
	m := NewMain(cfg, &out, &logs)
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if strings.Contains(out.String()+logs.String(), "from-the-environment") {
		t.Fatal("a password given by the environment was printed")
	}
	if _, err := m.Service.Authenticate(ctx, "admin", "from-the-environment"); err != nil {
		t.Fatal(err)
	}
}

func TestParseConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pd.conf")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		file    string
		env     map[string]string
		args    []string
		want    func(Config) bool
		wantErr string
	}{
		{name: "defaults", args: nil, want: func(c Config) bool {
			return c.DataDir == "data" && c.LogLevel == "info" && c.LogFormat == "auto" && c.AdminUsername == "admin" && c.AdminPassword == ""
		}},
		{name: "file over defaults", file: "# comment\ndata_dir = \"/srv/pd\"\nlog_level = debug\n", args: []string{"--config", file},
			want: func(c Config) bool { return c.DataDir == "/srv/pd" && c.LogLevel == "debug" && c.ConfigFile == file }},
		{name: "env over file", file: "data_dir = /srv/pd\n", env: map[string]string{"PHONEDIVERSIONS_DATA_DIR": "/env/pd"},
			args: []string{"--config", file}, want: func(c Config) bool { return c.DataDir == "/env/pd" }},
		{name: "flag over env", file: "data_dir = /srv/pd\n", env: map[string]string{"PHONEDIVERSIONS_DATA_DIR": "/env/pd"},
			args: []string{"--config", file, "--data-dir", "/flag/pd"}, want: func(c Config) bool { return c.DataDir == "/flag/pd" }},
		{name: "config file from env", file: "admin_username = root\n", env: map[string]string{"PHONEDIVERSIONS_CONFIG": file},
			want: func(c Config) bool { return c.AdminUsername == "root" }},
		{name: "unknown key in file", file: "data_dri = x\n", args: []string{"--config", file}, wantErr: `pd.conf:1: unknown key "data_dri"`},
		{name: "line without =", file: "\n\ndata_dir\n", args: []string{"--config", file}, wantErr: "pd.conf:3: want key = value"},
		{name: "bad value in file", file: "log_level = loud\n", args: []string{"--config", file}, wantErr: "pd.conf:1: log_level: must be one of"},
		{name: "bad value in env", env: map[string]string{"PHONEDIVERSIONS_LOG_FORMAT": "xml"}, wantErr: "PHONEDIVERSIONS_LOG_FORMAT: must be one of"},
		{name: "bad flag value", args: []string{"--log-level", "loud"}, wantErr: "--log-level: must be one of"},
		{name: "unknown flag", args: []string{"--colour"}, wantErr: "flag provided but not defined"},
		{name: "missing explicit file", args: []string{"--config", filepath.Join(dir, "missing.conf")}, wantErr: "no such file"},
		{name: "stray argument", args: []string{"serve"}, wantErr: `unexpected argument "serve"`},
		{name: "media settings", args: []string{"--rtp-addr", "127.0.0.1", "--rtp-port-min", "20000", "--rtp-port-max", "20100", "--announcement-max-duration", "2m"},
			want: func(c Config) bool {
				return c.RTPAddr.String() == "127.0.0.1" && c.RTPPortMin == 20000 && c.RTPPortMax == 20100 && c.AnnouncementMaxDuration == 2*time.Minute
			}},
		{name: "RTP range upside down", args: []string{"--rtp-port-min", "30000", "--rtp-port-max", "20000"}, wantErr: "leave no room"},
		{name: "RTP port out of range", env: map[string]string{"PHONEDIVERSIONS_RTP_PORT_MAX": "70000"}, wantErr: "PHONEDIVERSIONS_RTP_PORT_MAX: must be a whole number"},
		{name: "bad RTP address", args: []string{"--rtp-addr", "localhost"}, wantErr: "--rtp-addr: must be an IP address"},
		{name: "SIP settings", args: []string{"--sip-trusted", "192.0.2.0/24, 198.51.100.7", "--sip-next-hop", "192.0.2.1:5060", "--early-media", "true"},
			want: func(c Config) bool {
				return len(c.SIPTrusted) == 2 && c.SIPTrusted[1].String() == "198.51.100.7/32" && c.SIPNextHop == "192.0.2.1:5060" && c.EarlyMedia
			}},
		{name: "TLS key without certificate", args: []string{"--sip-tls-key", "key.pem"}, wantErr: "set both or neither"},
		{name: "bad trusted network", args: []string{"--sip-trusted", "the office"}, wantErr: "--sip-trusted: \"the office\" is neither"},
		{name: "next hop without port", args: []string{"--sip-next-hop", "pbx.example"}, wantErr: "--sip-next-hop: must be host:port"},
		{name: "HTTP settings", args: []string{"--http-addr", "127.0.0.1:9000", "--public-url", "https://pd.example.net/diversions/",
			"--rest-local-exempt", "false", "--phone-networks", "10.1.0.0/16", "--time-zone", "America/New_York"},
			want: func(c Config) bool {
				return c.HTTPAddr == "127.0.0.1:9000" && c.PublicURL.String() == "https://pd.example.net/diversions" && !c.RESTLocalExempt &&
					len(c.PhoneNetworks) == 1 && c.TimeZone.String() == "America/New_York"
			}},
		{name: "HTTP defaults", want: func(c Config) bool {
			return c.HTTPAddr == ":8080" && c.PublicURL == nil && c.RESTLocalExempt && len(c.PhoneNetworks) == 6 &&
				len(c.MetricsNetworks) == 2 && c.TimeZone == time.Local
		}},
		{name: "public URL with query", args: []string{"--public-url", "http://pd.example.net/?x=1"}, wantErr: "--public-url: must be an absolute http or https URL"},
		{name: "public URL relative", args: []string{"--public-url", "pd.example.net:8080"}, wantErr: "--public-url: must be an absolute"},
		{name: "unknown time zone", args: []string{"--time-zone", "Mars/Olympus"}, wantErr: "--time-zone: must be a time zone name"},
		{name: "database URL of another kind", args: []string{"--database-url", "mysql://db/pd"}, wantErr: "--database-url: must be empty, sqlite:PATH, or a postgres://"},
		{name: "database URL, SQLite", args: []string{"--database-url", "sqlite:/var/lib/pd/pd.db"}, want: func(c Config) bool { return c.DatabaseURL == "sqlite:/var/lib/pd/pd.db" }},
		{name: "HTTP certificate without key", args: []string{"--http-tls-cert", "c.pem"}, wantErr: "http_tls_cert and http_tls_key go together"},
		{name: "bad duration", file: "announcement_max_duration = forever\n", args: []string{"--config", file}, wantErr: "pd.conf:1: announcement_max_duration: must be a positive duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			write(tt.file)
			c, err := ParseConfig(tt.args, func(k string) string { return tt.env[k] }, &bytes.Buffer{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(c) {
				t.Fatalf("config %+v", c)
			}
		})
	}
}

func TestVersionAndPrintConfig(t *testing.T) {
	var out bytes.Buffer
	if _, err := ParseConfig([]string{"--version"}, func(string) string { return "" }, &out); err != errHelp {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "phonediversions ") {
		t.Fatalf("--version printed %q", out.String())
	}
	out.Reset()
	if _, err := ParseConfig([]string{"--print-config"}, func(string) string { return "" }, &out); err != errHelp {
		t.Fatal(err)
	}
	// What --print-config prints is a config file with every key
	// commented out: as it is, it changes nothing; each key uncommented
	// holds its default and parses.
	printed := out.String()
	file := filepath.Join(t.TempDir(), "printed.conf")
	if err := os.WriteFile(file, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(k string) string { return map[string]string{"STATE_DIRECTORY": "/var/lib/pd"}[k] }
	c, err := ParseConfig([]string{"--config", file}, env, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("printed config does not parse: %v\n%s", err, printed)
	}
	if c.DataDir != "/var/lib/pd" {
		t.Fatalf("the printed file changed data_dir to %q; under systemd it is the state directory", c.DataDir)
	}
	for _, s := range settings() {
		line := "#" + s.key + " = " + strconv.Quote(s.def) + "\n"
		if !strings.Contains(printed, "\n"+line) {
			t.Errorf("line %q missing from --print-config", line)
		}
	}
	uncommented := regexp.MustCompile(`(?m)^#([a-z_]+ = )`).ReplaceAllString(printed, "$1")
	if err := os.WriteFile(file, []byte(uncommented), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = ParseConfig([]string{"--config", file}, func(string) string { return "" }, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("the printed keys uncommented do not parse: %v", err)
	}
	if c.DataDir != "data" || c.SIPUDPPort != 5060 || c.HTTPAddr != ":8080" || c.DrainTimeout != 30*time.Second {
		t.Fatalf("the printed defaults parse to %+v", c)
	}
	for _, l := range strings.Split(printed, "\n") { // help is wrapped for an 80-column editor
		if strings.HasPrefix(l, "# ") && len(l) > 80 && strings.Count(l, " ") > 1 {
			t.Errorf("help line of %d characters: %q", len(l), l)
		}
	}
}

// TestSignalsStopCleanly runs the real binary and stops it as an operator
// would, with SIGINT (Ctrl-C) and with SIGTERM.
func TestSignalsStopCleanly(t *testing.T) {
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(bin, "--data-dir", dataDir, "--log-format", "json", "--sip-addr", "127.0.0.1",
				"--sip-udp-port", "0", "--sip-tcp-port", "0", "--http-addr", "127.0.0.1:0")
			cmd.Env = append(os.Environ(), "PHONEDIVERSIONS_ADMIN_PASSWORD=")
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := bufio.NewScanner(stderr)
			ready := false
			for !ready && lines.Scan() {
				ready = strings.Contains(lines.Text(), `"message":"ready"`)
			}
			if !ready {
				cmd.Process.Kill()
				t.Fatal("the program never logged ready")
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			var rest strings.Builder
			done := make(chan error, 1)
			go func() {
				for lines.Scan() {
					rest.WriteString(lines.Text() + "\n")
				}
				done <- cmd.Wait()
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("exit: %v\n%s", err, rest.String())
				}
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				t.Fatal("did not stop within 20 s")
			}
			if !strings.Contains(rest.String(), `"message":"stopped"`) {
				t.Fatalf("no stopped line: %s", rest.String())
			}
			for _, l := range strings.Split(strings.TrimSpace(rest.String()), "\n") {
				if !json.Valid([]byte(l)) {
					t.Errorf("a log line that is not JSON: %q", l)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dataDir, "phonediversions.db")); err != nil {
		t.Fatal(err)
	}
}

// TestMainServesHTTP starts the program, switches a group through the
// REST API on its HTTP listener, reads readiness and metrics, and stops:
// the switch is on disk for the next start.
func TestMainServesHTTP(t *testing.T) {
	dataDir := t.TempDir()
	var logs bytes.Buffer
	m := NewMain(testConfig(t, dataDir), io.Discard, &logs)
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	base := "http://" + m.HTTPAddr.String()
	g, err := m.Service.CreateGroup(ctx, routing.Actor{Name: "admin"}, routing.ChannelWeb, routing.Group{Name: "Front Desk", Destination: "1022"})
	if err != nil {
		t.Fatal(err)
	}
	get := func(method, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("POST", fmt.Sprintf("/Rest/setDiversion?groupId=%d&state=ON", g.ID)); code != 200 || !strings.Contains(body, "<State>ON</State>") {
		t.Fatalf("setDiversion: %d %s", code, body)
	}
	if code, _ := get("GET", "/readyz"); code != 200 {
		t.Errorf("readyz: %d", code)
	}
	if code, body := get("GET", "/metrics"); code != 200 || !strings.Contains(body, `phonediversions_switches_total{channel="rest"} 1`) ||
		!strings.Contains(body, "phonediversions_active_calls 0") {
		t.Errorf("metrics: %d %s", code, body)
	}
	if !strings.Contains(logs.String(), `"phone_service":"http://127.0.0.1:`) {
		t.Errorf("the start does not tell the phone service URL: %s", logs.String())
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("the HTTP listener still answers after Close")
	}
	m = NewMain(testConfig(t, dataDir), io.Discard, io.Discard)
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got, err := m.Service.Group(ctx, g.ID); err != nil || !got.On {
		t.Fatalf("after restart: %+v %v", got, err)
	}
}

// `phonediversions backup FILE` copies the running product's database;
// the product started on the copy has the data.
func TestBackupCommand(t *testing.T) {
	dataDir := t.TempDir()
	m := NewMain(testConfig(t, dataDir), io.Discard, io.Discard)
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	g, err := m.Service.CreateGroup(ctx, routing.Actor{Name: "admin"}, routing.ChannelWeb, routing.Group{Name: "Front Desk", Destination: "1022"})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "pd-backup.db")
	var out bytes.Buffer
	noEnv := func(string) string { return "" }
	if err := runBackup(ctx, []string{"--data-dir", dataDir, file}, noEnv, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "backed up to "+file) {
		t.Errorf("the command said %q", out.String())
	}
	for _, args := range [][]string{{}, {"--data-dir", dataDir}, {"--database-url", "postgres://db/pd", file + ".2"}} {
		if err := runBackup(ctx, args, noEnv, io.Discard); err == nil {
			t.Errorf("backup %q: no error", args)
		}
	}
	restored := testConfig(t, t.TempDir())
	restored.DatabaseURL = "sqlite:" + file
	m2 := NewMain(restored, io.Discard, io.Discard)
	if err := m2.Run(ctx); err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if got, err := m2.Service.Group(ctx, g.ID); err != nil || got.Name != "Front Desk" {
		t.Errorf("the group in the restored copy: %+v %v", got, err)
	}
}

// `phonediversions copy-store` moves a one-machine installation to
// PostgreSQL: the product started on the PostgreSQL database has its
// groups and its administrator.
func TestCopyStoreCommand(t *testing.T) {
	pgURL := routingtest.PostgresURL(t)
	dataDir := t.TempDir()
	var out bytes.Buffer
	m := NewMain(testConfig(t, dataDir), &out, io.Discard)
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	password := passwordLine.FindStringSubmatch(out.String())[1]
	g, err := m.Service.CreateGroup(ctx, routing.Actor{Name: "admin"}, routing.ChannelWeb, routing.Group{Name: "Front Desk", Destination: "1022"})
	if err != nil {
		t.Fatal(err)
	}
	path := m.DatabasePath()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--from", "sqlite:" + path},
		{"--from", "sqlite:" + filepath.Join(dataDir, "none.db"), "--to", pgURL},
		{"--from", "mysql://x", "--to", pgURL},
	} {
		if err := runCopyStore(ctx, args, io.Discard); err == nil {
			t.Errorf("copy-store %q: no error", args)
		}
	}
	out.Reset()
	if err := runCopyStore(ctx, []string{"--from", "sqlite:" + path, "--to", pgURL}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "copied sqlite:"+path) {
		t.Errorf("copy-store said %q", out.String())
	}
	if err := runCopyStore(ctx, []string{"--from", "sqlite:" + path, "--to", pgURL}, io.Discard); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("a second copy into the same database: %v", err)
	}
	cfg := testConfig(t, t.TempDir())
	cfg.DatabaseURL = pgURL
	out.Reset()
	m = NewMain(cfg, &out, io.Discard)
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if strings.Contains(out.String(), "password") {
		t.Error("a new administrator was made on the copy")
	}
	if _, err := m.Service.Authenticate(ctx, "admin", password); err != nil {
		t.Errorf("the administrator on PostgreSQL: %v", err)
	}
	if got, err := m.Service.Group(ctx, g.ID); err != nil || got.Name != "Front Desk" {
		t.Errorf("the group on PostgreSQL: %+v %v", got, err)
	}
}
