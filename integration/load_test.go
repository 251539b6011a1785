package integration

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The load benchmark drives the product with SIPp on the same machine.
// It is not part of the test run; run it with:
//
//	PD_LOAD=1 go test ./integration/ -run '^TestLoadAnnounceThen' -v -timeout 30m
//
// PD_BINARY runs another build of the product (an earlier commit's, to
// compare on the same machine in one session). PD_GC_PERCENT sets the
// product's gc_percent, PD_MEMORY_LIMIT its memory_limit (MiB),
// PD_DEBUG_ADDR its debug_addr (the profiler). PD_LOAD_RATES (calls/s,
// comma-separated, default 400,600,800,1000) and PD_LOAD_SECONDS (default
// 60 for the first rate, 30 for the others) set the announce-then-hang-up
// runs; PD_LOAD_BRIDGED (default 40 calls/s of 13 s) the
// announce-then-connect run. CPU and resident memory are measured over
// the steady window, without the ramps.

func loadEnabled(t *testing.T) {
	t.Helper()
	if os.Getenv("PD_LOAD") == "" {
		t.Skip("load benchmark: set PD_LOAD=1 to run it")
	}
	needTool(t, "sipp")
}

// procStat reads the CPU time and resident memory of a process.
func procStat(pid int) (cpu time.Duration, rss, peak int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err == nil {
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		cpu = time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
	}
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err == nil {
		sc := bufio.NewScanner(strings.NewReader(string(s)))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) >= 2 && (f[0] == "VmRSS:" || f[0] == "VmHWM:") {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				if f[0] == "VmRSS:" {
					rss = kb << 10
				} else {
					peak = kb << 10
				}
			}
		}
	}
	return cpu, rss, peak
}

// loadSetup is defaultSetup with a 3 s announcement made active.
func loadSetup(connect bool) setupFunc {
	return withAnnouncement(defaultSetup(connect), "testdata/three-seconds.wav")
}

// run is one load run's figures.
type run struct {
	rate, seconds      int
	calls, failed      int
	steady             window
	rss, peak          int64
	setupP50, setupP99 string
}

func (r run) String() string {
	return fmt.Sprintf("%d calls/s × %d s: %d calls, %d failed; steady window: CPU %.0f %%, RSS up to %d MB; RSS at the end %d MB, peak %d MB; setup p50 %s, p99 %s",
		r.rate, r.seconds, r.calls, r.failed, r.steady.cpu, r.steady.rssMax>>20, r.rss>>20, r.peak>>20, r.setupP50, r.setupP99)
}

// window is what a process used over the steady window of a run.
type window struct {
	cpu    float64 // % of one core
	rssMax int64   // the highest resident size sampled (each 500 ms)
}

// steady measures the CPU and the resident memory of a process between
// from and to after now: the steady window of a run, without the ramp up
// (calls accumulating until the first ones end) and the ramp down (no new
// calls placed). It returns at once; read the figures from the channel.
func steady(pid int, from, to time.Duration) <-chan window {
	out := make(chan window, 1)
	start := time.Now()
	from = min(from, to/2) // a short run keeps its second half
	go func() {
		time.Sleep(from)
		cpu0, rss, _ := procStat(pid)
		w := window{rssMax: rss}
		t0 := time.Now()
		for time.Now().Before(start.Add(to)) {
			time.Sleep(min(500*time.Millisecond, time.Until(start.Add(to))))
			_, rss, _ := procStat(pid)
			w.rssMax = max(w.rssMax, rss)
		}
		cpu1, _, _ := procStat(pid)
		w.cpu = 100 * float64(cpu1-cpu0) / float64(time.Since(t0))
		out <- w
	}()
	return out
}

// steadyFrom is where the steady window starts: after the first calls
// (a 3 s announcement, then 10 s of conversation when connected) ended.
const steadyFrom = 15 * time.Second

// setupTimes reads the setup-time histogram SIPp kept (INVITE to 200,
// with SIPp's 1 ms clock) and returns the buckets holding the median and
// the 99th percentile, such as "<1 ms" or "<5 ms".
func setupTimes(dir string) (p50, p99 string) {
	b, err := os.ReadFile(filepath.Join(dir, "stat.csv"))
	if err != nil {
		return "?", "?"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	head, last := strings.Split(lines[0], ";"), strings.Split(lines[len(lines)-1], ";")
	const prefix = "ResponseTimeRepartitionsetup_"
	var bounds []string
	var counts []int
	total := 0
	for i, h := range head {
		if strings.HasPrefix(h, prefix) && i < len(last) {
			n, _ := strconv.Atoi(last[i])
			bounds = append(bounds, strings.TrimPrefix(h, prefix)+" ms")
			counts = append(counts, n)
			total += n
		}
	}
	pick := func(q float64) string {
		seen := 0
		for i, n := range counts {
			seen += n
			if float64(seen) >= q*float64(total) {
				return bounds[i]
			}
		}
		return "?"
	}
	return pick(0.5), pick(0.99)
}

// sippLoad runs SIPp as the caller at rate calls/s for seconds and
// returns how many calls it placed and how many failed, from its exit and
// its statistics.
func sippLoad(t *testing.T, p *product, scenario string, rate, seconds int, dir string) (calls, failed int) {
	t.Helper()
	wav, err := os.ReadFile("testdata/far.wav")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "far.wav"), wav, 0o644); err != nil {
		t.Fatal(err)
	}
	n := rate * seconds
	args := []string{"-sf", scenario, "-s", "5000", "-m", strconv.Itoa(n), "-r", strconv.Itoa(rate), "-l", "20000",
		"-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)), "-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t)),
		"-timeout", strconv.Itoa(seconds + 90), "-trace_stat", "-fd", "1", "-stf", filepath.Join(dir, "stat.csv"),
		"-max_socket", "20000", "127.0.0.1:" + strconv.Itoa(p.sipPort)}
	cmd := startSIPpIn(t, dir, args...)
	err = waitSIPp(cmd, time.Duration(seconds+120)*time.Second)
	calls, failed = sippCounts(dir, "OutgoingCall(C)")
	if calls < 0 {
		calls, failed = n, 0
	}
	if err != nil && failed == 0 {
		t.Logf("sipp: %v\n%s", err, cmd.Stdout)
		failed = -1
	}
	return calls, failed
}

func TestLoadAnnounceThenHangUp(t *testing.T) {
	loadEnabled(t)
	rates := []int{400, 600, 800, 1000}
	if s := os.Getenv("PD_LOAD_RATES"); s != "" {
		rates = nil
		for _, f := range strings.Split(s, ",") {
			r, _ := strconv.Atoi(strings.TrimSpace(f))
			rates = append(rates, r)
		}
	}
	for i, rate := range rates {
		seconds := 30
		if i == 0 {
			seconds = 60
		}
		if s := os.Getenv("PD_LOAD_SECONDS"); s != "" {
			seconds, _ = strconv.Atoi(s)
		}
		t.Run(fmt.Sprintf("%dcps", rate), func(t *testing.T) {
			p := startProduct(t, loadSetup(false), "")
			dir := t.TempDir()
			win := steady(p.cmd.Process.Pid, steadyFrom, time.Duration(seconds)*time.Second)
			calls, failed := sippLoad(t, p, mustAbs(t, "scenarios/uac_load_announce.xml"), rate, seconds, dir)
			_, rss, peak := procStat(p.cmd.Process.Pid)
			p50, p99 := setupTimes(dir)
			r := run{rate: rate, seconds: seconds, calls: calls, failed: failed,
				steady: <-win, rss: rss, peak: peak, setupP50: p50, setupP99: p99}
			p.stop()
			t.Logf("%v; up to %d concurrent; %s", r, maxConcurrent(dir), mediaCounters(p))
			if failed != 0 {
				t.Errorf("%d failed calls at %d calls/s", failed, rate)
			}
		})
	}
}

func TestLoadAnnounceThenConnect(t *testing.T) {
	loadEnabled(t)
	rate := 40
	if s := os.Getenv("PD_LOAD_BRIDGED"); s != "" {
		rate, _ = strconv.Atoi(s)
	}
	const seconds = 40
	farPort, farDir := freePort(t), t.TempDir()
	far := startSIPpIn(t, farDir, "-sf", mustAbs(t, "scenarios/uas_load_answer.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(farPort),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t)), "-rtp_echo", "-max_socket", "20000",
		"-trace_stat", "-fd", "1", "-stf", filepath.Join(farDir, "stat.csv"))
	time.Sleep(300 * time.Millisecond)
	p := startProduct(t, loadSetup(true), "127.0.0.1:"+strconv.Itoa(farPort))
	dir := t.TempDir()
	win := steady(p.cmd.Process.Pid, steadyFrom, seconds*time.Second)
	calls, failed := sippLoad(t, p, mustAbs(t, "scenarios/uac_load_connect.xml"), rate, seconds, dir)
	_, rss, peak := procStat(p.cmd.Process.Pid)
	p50, p99 := setupTimes(dir)
	w := <-win
	p.stop()
	time.Sleep(1500 * time.Millisecond) // the answering SIPp writes its last statistics each second
	far.Process.Kill()
	farCalls, farFailed := sippCounts(farDir, "IncomingCall(C)")
	t.Logf("%s", mediaCounters(p))
	t.Logf("%d calls/s of 13 s (3 s announcement, 10 s bridged): %d calls, %d failed, up to %d concurrent of which up to %d bridged; "+
		"answering side %d calls, %d failed; steady window: CPU %.0f %%, RSS up to %d MB; RSS at the end %d MB, peak %d MB; setup p50 %s, p99 %s",
		rate, calls, failed, maxConcurrent(dir), maxConcurrent(farDir), farCalls, farFailed, w.cpu, w.rssMax>>20, rss>>20, peak>>20, p50, p99)
	if failed != 0 || farFailed != 0 {
		t.Errorf("%d failed calls, %d failed on the answering side", failed, farFailed)
	}
	if farCalls != calls {
		t.Errorf("%d calls reached the answering side of %d placed", farCalls, calls)
	}
}

// sippCounts reads the cumulative count of calls (the column named calls)
// and of failed calls from the last line of a SIPp statistics file in
// dir; -1, -1 when there is none.
func sippCounts(dir, calls string) (n, failed int) {
	b, err := os.ReadFile(filepath.Join(dir, "stat.csv"))
	if err != nil {
		return -1, -1
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	head, last := strings.Split(lines[0], ";"), strings.Split(lines[len(lines)-1], ";")
	n, failed = -1, -1
	for i, h := range head {
		if i < len(last) {
			switch h {
			case calls:
				n, _ = strconv.Atoi(last[i])
			case "FailedCall(C)":
				failed, _ = strconv.Atoi(last[i])
			}
		}
	}
	return n, failed
}

// mediaCounters summarises the RTP counters the product logs as it stops
// (durations are logged in milliseconds).
func mediaCounters(p *product) string {
	m := p.logLine("media counters")
	if m == nil {
		return "no media counters logged"
	}
	out := fmt.Sprintf("RTP sent %v, late %v, skipped %v; announcement lateness p50 %v ms, p99 %v ms, max %v ms; relay p99 %v ms",
		m["rtp_sent"], m["rtp_late"], m["rtp_skipped"], m["lateness_p50"], m["lateness_p99"], m["lateness_max"], m["relay_p99"])
	if s := p.logLine("SIP counters"); s != nil {
		out += fmt.Sprintf("; SIP datagrams' wait to be read p50 %v ms, p99 %v ms, max %v ms over %v",
			s["read_wait_p50"], s["read_wait_p99"], s["read_wait_max"], s["read"])
	}
	return out
}

// maxConcurrent reads the highest number of calls SIPp had in progress.
func maxConcurrent(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, "stat.csv"))
	if err != nil {
		return 0
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	col := -1
	for i, h := range strings.Split(lines[0], ";") {
		if h == "CurrentCall" {
			col = i
		}
	}
	most := 0
	for _, l := range lines[1:] {
		f := strings.Split(l, ";")
		if col >= 0 && col < len(f) {
			if n, err := strconv.Atoi(f[col]); err == nil && n > most {
				most = n
			}
		}
	}
	return most
}

func mustAbs(t *testing.T, path string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}
