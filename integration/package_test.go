package integration

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildDeb builds the Debian package with the README's command into a
// new folder and returns its path; version "" lets git name it.
func buildDeb(t *testing.T, version string) string {
	t.Helper()
	out := t.TempDir()
	cmd := exec.Command("../packaging/build-deb", out)
	if version != "" {
		cmd.Env = append(os.Environ(), "PD_VERSION="+version)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("packaging/build-deb: %v\n%s", err, b)
	}
	debs, _ := filepath.Glob(filepath.Join(out, "*.deb"))
	if len(debs) != 1 {
		t.Fatalf("packaging/build-deb made %v", debs)
	}
	return debs[0]
}

func output(t *testing.T, name string, args ...string) string {
	t.Helper()
	b, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, b)
	}
	return string(b)
}

// TestDebianPackage builds the package and checks what an operator gets:
// its control data and files, the binary's version, the config file
// (every key commented out, as the binary prints it), the unit (systemd
// accepts it; its exposure is 2.5 at most), and the binary run the way
// the unit runs it — an unprivileged user with only CAP_NET_BIND_SERVICE,
// its state directory, the packaged config, the notify socket — serving
// a REST request on a privileged port and a call.
func TestDebianPackage(t *testing.T) {
	for _, tool := range []string{"dpkg-deb", "systemd-analyze", "setpriv", "sipp"} {
		needTool(t, tool)
	}
	deb := buildDeb(t, "")
	field := func(name string) string { return strings.TrimSpace(output(t, "dpkg-deb", "--field", deb, name)) }
	goarch := strings.TrimSpace(output(t, "go", "env", "GOARCH"))
	described := strings.TrimSpace(output(t, "git", "describe", "--tags", "--always", "--dirty"))
	for name, want := range map[string]string{"Package": "phonediversions", "Architecture": goarch, "Depends": "passwd", "Section": "comm"} {
		if got := field(name); got != want {
			t.Errorf("control %s: %q, want %q", name, got, want)
		}
	}
	if v := field("Version"); !strings.HasSuffix(v, "."+strings.ReplaceAll(described, "-", "+")) {
		t.Errorf("version %q does not name the commit %s", v, described)
	}
	info := output(t, "dpkg-deb", "--info", deb)
	for _, script := range []string{"preinst", "postinst", "prerm", "postrm", "conffiles"} {
		if !regexp.MustCompile(`(?m)^\s+\d+ bytes,\s+\d+ lines\s+\*?\s+` + script + `\b`).MatchString(info) {
			t.Errorf("control member %s missing:\n%s", script, info)
		}
	}
	if cf := output(t, "sh", "-c", "dpkg-deb --ctrl-tarfile "+deb+" | tar -xOf - ./conffiles"); strings.TrimSpace(cf) != "/etc/phonediversions/phonediversions.conf" {
		t.Errorf("conffiles %q", cf)
	}
	// Each file with its mode and owner.
	files := map[string]string{}
	for _, l := range strings.Split(output(t, "dpkg-deb", "--contents", deb), "\n") {
		if f := strings.Fields(l); len(f) >= 6 {
			files[strings.TrimPrefix(f[len(f)-1], ".")] = f[0] + " " + f[1]
		}
	}
	for path, want := range map[string]string{
		"/usr/bin/phonediversions":                        "-rwxr-xr-x root/root",
		"/usr/lib/systemd/system/phonediversions.service": "-rw-r--r-- root/root",
		"/etc/phonediversions/phonediversions.conf":       "-rw-r----- root/phonediversions",
		"/usr/share/doc/phonediversions/README.md":        "-rw-r--r-- root/root",
		"/usr/share/doc/phonediversions/cucm.md":          "-rw-r--r-- root/root",
		"/usr/share/doc/phonediversions/benchmarks.md":    "-rw-r--r-- root/root",
	} {
		if files[path] != want {
			t.Errorf("%s: %q, want %q", path, files[path], want)
		}
	}
	t.Logf("package %s: %d bytes, %d entries", filepath.Base(deb), fileSize(t, deb), len(files))

	root := openDir(t) // the service's user must reach the binary and the config
	output(t, "dpkg-deb", "-x", deb, root)
	bin := filepath.Join(root, "usr/bin/phonediversions")
	if got := strings.TrimSpace(output(t, bin, "--version")); got != "phonediversions "+described {
		t.Errorf("--version: %q, want the commit %s", got, described)
	}
	conf := filepath.Join(root, "etc/phonediversions/phonediversions.conf")
	if b, _ := os.ReadFile(conf); string(b) != output(t, bin, "--print-config") {
		t.Error("the packaged config file is not what the binary prints as its defaults")
	}
	unit := filepath.Join(root, "usr/lib/systemd/system/phonediversions.service")
	checkUnit(t, unit, bin)

	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("running the binary as the unit does takes root (to change user)")
		}
		t.Skip("running the binary as the unit does takes root (to change user)")
	}
	runAsUnit(t, unit, bin, conf)
}

// openDir is a new folder other users may enter, removed after the test.
func openDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pd-package-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	return dir
}

func fileSize(t *testing.T, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// unitValues reads the unit file's key = value lines (last one wins,
// except where a key may repeat: all of them, joined by a space).
func unitValues(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if k, val, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			if v[k] != "" && k == "SystemCallFilter" {
				val = v[k] + " " + val
			}
			v[k] = val
		}
	}
	return v
}

// checkUnit has systemd verify the unit (its ExecStart pointed at bin,
// the only change) and rate its exposure, and checks what the product
// needs of it.
func checkUnit(t *testing.T, unit, bin string) {
	t.Helper()
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(t.TempDir(), "phonediversions.service")
	os.WriteFile(local, []byte(strings.Replace(string(b), "ExecStart=/usr/bin/phonediversions ", "ExecStart="+bin+" ", 1)), 0o644)
	if out, err := exec.Command("systemd-analyze", "verify", local).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	sec, _ := exec.Command("systemd-analyze", "security", "--offline=true", unit).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for phonediversions.service: ([0-9.]+)`).FindSubmatch(sec)
	if m == nil {
		t.Fatalf("systemd-analyze security gave no exposure:\n%s", sec)
	}
	exposure, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security: exposure %.1f", exposure)
	if exposure > 2.5 {
		t.Errorf("exposure %.1f, want 2.5 at most:\n%s", exposure, sec)
	}
	v := unitValues(t, unit)
	stop, err := time.ParseDuration(v["TimeoutStopSec"])
	if err != nil {
		t.Fatalf("TimeoutStopSec %q", v["TimeoutStopSec"])
	}
	drain := regexp.MustCompile(`(?m)^#drain_timeout = "(.*)"$`).FindStringSubmatch(output(t, bin, "--print-config"))
	if d, err := time.ParseDuration(drain[1]); err != nil || stop <= d {
		t.Errorf("TimeoutStopSec %v is not longer than drain_timeout %s: systemd would kill calls that may still finish", stop, drain[1])
	}
	for k, want := range map[string]string{"Type": "notify", "User": "phonediversions", "StateDirectory": "phonediversions",
		"AmbientCapabilities": "CAP_NET_BIND_SERVICE", "CapabilityBoundingSet": "CAP_NET_BIND_SERVICE", "Restart": "on-failure",
		"ProtectSystem": "strict", "PrivateTmp": "yes", "NoNewPrivileges": "yes"} {
		if v[k] != want {
			t.Errorf("unit %s=%q, want %q", k, v[k], want)
		}
	}
	if v["WatchdogSec"] == "" || !strings.HasPrefix(v["SystemCallFilter"], "@system-service") {
		t.Errorf("unit without a watchdog or a system call filter: %v", v)
	}
}

// runAsUnit starts bin as the unit would (its user, capabilities, state
// directory, config file, notify socket; the user is nobody, as the
// package's own exists only once installed), then serves a REST request
// on a privileged port and a call, and stops through the drain.
func runAsUnit(t *testing.T, unit, bin, conf string) {
	t.Helper()
	v := unitValues(t, unit)
	args := strings.Fields(v["ExecStart"])[1:]
	for i, a := range args {
		if a == "/etc/phonediversions/phonediversions.conf" {
			args[i] = conf
		}
	}
	dir := openDir(t)
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	os.Chown(conf, 0, gid)               // root:phonediversions once installed
	state := filepath.Join(dir, "state") // as StateDirectory= makes it
	os.Mkdir(state, 0o750)
	os.Chown(state, uid, gid)
	sock := filepath.Join(dir, "notify")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	os.Chmod(sock, 0o777)
	httpPort := privilegedPort(t)
	sipPort := freePort(t)
	cmd := exec.Command("setpriv", append([]string{"--reuid", nobody.Uid, "--regid", nobody.Gid, "--clear-groups",
		"--inh-caps", "-all,+net_bind_service", "--ambient-caps", "-all,+net_bind_service", "--bounding-set", "-all,+net_bind_service",
		"--no-new-privs", "--", bin}, args...)...)
	cmd.Dir = state
	cmd.Env = []string{"PATH=/usr/bin:/bin", "STATE_DIRECTORY=" + state, "NOTIFY_SOCKET=" + sock,
		"PHONEDIVERSIONS_HTTP_ADDR=127.0.0.1:" + strconv.Itoa(httpPort), "PHONEDIVERSIONS_SIP_ADDR=127.0.0.1",
		"PHONEDIVERSIONS_SIP_UDP_PORT=" + strconv.Itoa(sipPort), "PHONEDIVERSIONS_SIP_TCP_PORT=-1",
		"PHONEDIVERSIONS_RTP_ADDR=127.0.0.1", "PHONEDIVERSIONS_RTP_PORT_MIN=" + strconv.Itoa(rtpMin),
		"PHONEDIVERSIONS_RTP_PORT_MAX=" + strconv.Itoa(rtpMax), "PHONEDIVERSIONS_LOG_FORMAT=json"}
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	readNotify := func(prefix string) {
		t.Helper()
		buf := make([]byte, 512)
		for {
			notify.SetReadDeadline(time.Now().Add(30 * time.Second))
			n, err := notify.Read(buf)
			if err != nil {
				t.Fatalf("no %s from the service: %v\n%s", prefix, err, logs.String())
			}
			if strings.HasPrefix(string(buf[:n]), prefix) {
				return
			}
		}
	}
	readNotify("READY=1")

	// Set up a diverted line through the REST API, on the privileged port.
	base := "http://127.0.0.1:" + strconv.Itoa(httpPort) + "/Rest/"
	group := regexp.MustCompile(`<GroupID>(\d+)</GroupID>`).FindStringSubmatch(post(t, base+"addGroup", url.Values{"groupName": {"Front Desk"}, "destination": {"1022"}}))
	if group == nil {
		t.Fatal("addGroup answered no group id")
	}
	post(t, base+"addLine", url.Values{"groupId": {group[1]}, "lineNumber": {"1001"}})
	post(t, base+"setDiversion", url.Values{"groupId": {group[1]}, "state": {"ON"}})

	// A diverted call hears the announcement and is hung up.
	runSIPp(t, "-sf", "scenarios/uac_load_announce.xml", "-s", "1022", "-m", "1", "-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t)), "127.0.0.1:"+strconv.Itoa(sipPort))

	// What the service wrote is its user's, in its state directory.
	for _, name := range []string{"phonediversions.db", "first-admin-password"} {
		fi, err := os.Stat(filepath.Join(state, name))
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, logs.String())
		}
		if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != uid {
			t.Errorf("%s is owned by %d, want the service's user %d", name, st.Uid, uid)
		}
		if name == "first-admin-password" && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	readNotify("STOPPING=1")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, logs.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("did not stop\n%s", logs.String())
	}
}

// privilegedPort is a free TCP port below 1024 on 127.0.0.1 (80 when
// free), which only a process with CAP_NET_BIND_SERVICE may bind.
func privilegedPort(t *testing.T) int {
	t.Helper()
	for _, p := range append([]int{80}, 800, 801, 802, 803, 804, 805, 806, 807, 808, 809) {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			l.Close()
			return p
		}
	}
	t.Fatal("no free port below 1024")
	return 0
}

// TestDebianInstallUpgradePurge installs the package with dpkg on this
// machine, runs it as installed, upgrades it (data and an edited config
// kept), removes it (data and config kept) and purges it (both gone).
// It changes the machine, so it runs only as root where dpkg is and the
// package is not installed already; it skips elsewhere, also under CI.
func TestDebianInstallUpgradePurge(t *testing.T) {
	if _, err := exec.LookPath("dpkg"); err != nil || os.Geteuid() != 0 {
		t.Skip("installs a package: needs dpkg and root")
	}
	if exec.Command("dpkg-query", "-W", "phonediversions").Run() == nil {
		t.Skip("phonediversions is installed on this machine: not touching it")
	}
	needTool(t, "setpriv")
	_, err := user.Lookup("phonediversions")
	madeUser := err != nil
	v1, v2 := buildDeb(t, "1.0.0"), buildDeb(t, "1.0.1")
	t.Cleanup(func() {
		exec.Command("dpkg", "--purge", "phonediversions").Run()
		if madeUser { // by the package: leave the machine as it was
			exec.Command("userdel", "phonediversions").Run()
			exec.Command("groupdel", "phonediversions").Run()
		}
	})
	const conf, data = "/etc/phonediversions/phonediversions.conf", "/var/lib/phonediversions"
	dpkg := func(args ...string) { output(t, "dpkg", append([]string{"--force-confold"}, args...)...) }

	dpkg("--install", v1)
	if got := strings.TrimSpace(output(t, "/usr/bin/phonediversions", "--version")); got != "phonediversions 1.0.0" {
		t.Fatalf("installed version %q", got)
	}
	if _, err := user.Lookup("phonediversions"); err != nil {
		t.Fatalf("no service user after install: %v", err)
	}
	if out, err := exec.Command("systemd-analyze", "verify", "/usr/lib/systemd/system/phonediversions.service").CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify of the installed unit: %v\n%s", err, out)
	}
	if _, err := os.Lstat("/etc/systemd/system/multi-user.target.wants/phonediversions.service"); err != nil {
		t.Errorf("the service is not enabled: %v", err)
	}
	fi, err := os.Stat(conf)
	if err != nil {
		t.Fatal(err)
	}
	if g, _ := user.LookupGroupId(strconv.Itoa(int(fi.Sys().(*syscall.Stat_t).Gid))); g == nil || g.Name != "phonediversions" || fi.Mode().Perm() != 0o640 {
		t.Errorf("config file %v group %v, want 0640 root:phonediversions", fi.Mode().Perm(), g)
	}
	// The operator's edit, and data made by the installed service.
	b, _ := os.ReadFile(conf)
	edited := strings.Replace(string(b), `#log_level = "info"`, `log_level = "debug"`, 1)
	os.WriteFile(conf, []byte(edited), 0o640)
	runInstalled(t, func(base string) {
		post(t, base+"addGroup", url.Values{"groupName": {"Kept"}, "destination": {"1022"}})
	})

	dpkg("--install", v2)
	if got := strings.TrimSpace(output(t, "/usr/bin/phonediversions", "--version")); got != "phonediversions 1.0.1" {
		t.Fatalf("upgraded version %q", got)
	}
	if b, _ := os.ReadFile(conf); string(b) != edited {
		t.Error("the upgrade changed the edited config file")
	}
	runInstalled(t, func(base string) {
		if body := get(t, base+"listGroups"); !strings.Contains(body, "<GroupName>Kept</GroupName>") {
			t.Errorf("the group made before the upgrade is gone: %s", body)
		}
	})

	dpkg("--remove", "phonediversions")
	if _, err := os.Stat("/usr/bin/phonediversions"); !os.IsNotExist(err) {
		t.Errorf("binary after remove: %v", err)
	}
	for _, kept := range []string{conf, data + "/phonediversions.db"} {
		if _, err := os.Stat(kept); err != nil {
			t.Errorf("remove took %s: %v", kept, err)
		}
	}
	dpkg("--purge", "phonediversions")
	for _, gone := range []string{conf, data} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Errorf("%s after purge: %v", gone, err)
		}
	}
}

// runInstalled runs the installed service as its unit would (systemd is
// not running here: its user, its state directory made as
// StateDirectory= makes it, the installed config), calls use with the
// REST base URL once it is ready, and stops it.
func runInstalled(t *testing.T, use func(base string)) {
	t.Helper()
	u, err := user.Lookup("phonediversions")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	const state = "/var/lib/phonediversions"
	os.MkdirAll(state, 0o750)
	os.Chown(state, uid, gid)
	port := freePort(t)
	cmd := exec.Command("setpriv", "--reuid", u.Uid, "--regid", u.Gid, "--clear-groups", "--no-new-privs", "--",
		"/usr/bin/phonediversions", "--config", "/etc/phonediversions/phonediversions.conf")
	cmd.Dir = state
	cmd.Env = []string{"PATH=/usr/bin:/bin", "STATE_DIRECTORY=" + state, "PHONEDIVERSIONS_LOG_FORMAT=json",
		"PHONEDIVERSIONS_HTTP_ADDR=127.0.0.1:" + strconv.Itoa(port), "PHONEDIVERSIONS_SIP_UDP_PORT=0", "PHONEDIVERSIONS_SIP_TCP_PORT=0",
		"PHONEDIVERSIONS_SIP_ADDR=127.0.0.1", "PHONEDIVERSIONS_RTP_ADDR=127.0.0.1"}
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stderr)
	ready := false
	var logs strings.Builder
	for !ready && sc.Scan() {
		logs.WriteString(sc.Text() + "\n")
		ready = strings.Contains(sc.Text(), `"message":"ready"`)
	}
	if !ready {
		t.Fatalf("the installed service did not start:\n%s", logs.String())
	}
	go func() {
		for sc.Scan() {
		}
	}()
	use("http://127.0.0.1:" + strconv.Itoa(port) + "/Rest/")
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
}

// post posts a form that must be taken (200) and returns the answer.
func post(t *testing.T, u string, form url.Values) string {
	t.Helper()
	code, body := postForm(t, u, form)
	if code != 200 {
		t.Fatalf("%s: %d %s", u, code, body)
	}
	return body
}

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
