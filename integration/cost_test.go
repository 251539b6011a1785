package integration

import (
	"context"
	"database/sql"
	bin "encoding/binary"
	"fmt"
	"maps"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/zaf/g711"

	"github.com/phonediversions/phonediversions/routing"
	"github.com/phonediversions/phonediversions/routing/routingtest"
)

// The cost benchmark runs, in one go on one machine, the product and
// SIPp's own answering side (the reference, scenarios/bench_*.xml from
// the project's shared benchmark) with the same SIPp caller, and prints
// their figures side by side with the ratio product / reference:
//
//	PD_LOAD=1 go test -count=1 ./integration/ -run TestCallCost -v -timeout 60m
//
// Each call is announce-then-hang-up with a 3.0 s 440 Hz tone. Every rate
// runs both servers, the reference first; PD_COST_RATES (default 20,400)
// sets the fixed rates, PD_COST_CLIMB (default 600,800,1000,1200,1400,1600) the
// rates tried, in order, for the highest clean one (no failed call and
// setup p99 under 100 ms), each server climbing until it first fails.
// PD_COST_SECONDS (default 30) is how long the caller places calls;
// PD_COST_SERVERS (default reference,product) which servers run, one
// alone to profile it (with PD_DEBUG_ADDR); sipgo-bare is a server on
// the SIP stack alone (baresipgo: answers, hangs up after 3 s, no media),
// to tell the stack's cost from the product's; product-postgres is the
// product on a PostgreSQL database of PD_TEST_POSTGRES's server, whose
// own CPU over the same window is shown beside the product's (the whole
// server's: the benchmark is its only user).
//
// CPU is the server process's utime+stime over the steady window (5 s to
// 30 s after the caller starts) as % of one core; memory its peak VmHWM;
// setup the INVITE to 200 time on the wire (a capture of the SIP port;
// SIPp's own 1 ms histogram when not root); RTP lateness is measured on
// the caller's media ports: one port in 16 is read, and each packet's
// arrival (the kernel's stamp as it reached the socket) is compared with
// its RTP timestamp (lateness = transit − the stream's smallest
// transit), the same way for both servers.

const (
	callerMediaBase = 10000 // SIPp's [auto_media_port] counts up from here in steps of 4
	callerMediaSpan = 10000 // and wraps round after this many ports
	sampleEvery     = 16    // one caller media port in 16 is read for lateness
	toneSeconds     = 3
)

// costRun is one server's figures at one rate.
type costRun struct {
	server                string
	rate                  int
	calls, failed         int // the caller's
	serverFailed          int // the answering SIPp's (the reference); 0 for the product
	cpu                   float64
	storeCPU              float64 // the PostgreSQL server's, for product-postgres
	peak                  int64
	setup                 [3]time.Duration // p50, p95, p99
	setupFrom             string           // "wire" or "sipp"
	lateP50, lateP99, max time.Duration
	packets, streams      int
	steal                 float64          // CPU the machine's host took from it over the window, % of one core
	accepted, refused     int              // calls answered 200 and refused 503, on the wire
	refusal               [2]time.Duration // p99 and most of INVITE to 503, on the wire
}

func (r costRun) clean() bool {
	return r.failed == 0 && r.serverFailed == 0 && r.calls > 0 && r.setup[2] < 100*time.Millisecond
}

func (r costRun) String() string {
	store := ""
	if r.storeCPU > 0 {
		store = fmt.Sprintf(" + PostgreSQL %.1f %%", r.storeCPU)
	}
	return fmt.Sprintf("%-9s %4d calls/s: %6d calls, %d failed (answering side %d); CPU %5.1f %%%s (steal %.0f %%), peak %3d MB; setup p50 %v p95 %v p99 %v (%s); RTP lateness p50 %v p99 %v max %v over %d packets of %d streams (%.1f per stream)",
		r.server, r.rate, r.calls, r.failed, r.serverFailed, r.cpu, store, r.steal, r.peak>>20,
		r.setup[0].Round(10*time.Microsecond), r.setup[1].Round(10*time.Microsecond), r.setup[2].Round(10*time.Microsecond), r.setupFrom,
		r.lateP50.Round(10*time.Microsecond), r.lateP99.Round(10*time.Microsecond), r.max.Round(10*time.Microsecond),
		r.packets, r.streams, float64(r.packets)/float64(max(r.streams, 1))) + r.shedString()
}

// shedString tells the calls refused with 503, when there were any.
func (r costRun) shedString() string {
	if r.refused == 0 {
		return ""
	}
	return fmt.Sprintf("; %d answered, %d refused 503 (INVITE to 503 p99 %v, most %v)", r.accepted, r.refused,
		r.refusal[0].Round(10*time.Microsecond), r.refusal[1].Round(10*time.Microsecond))
}

func TestCallCost(t *testing.T) {
	loadEnabled(t)
	seconds := envInt("PD_COST_SECONDS", 30)
	fixed := envInts("PD_COST_RATES", []int{20, 400})
	climb := envInts("PD_COST_CLIMB", []int{600, 800, 1000, 1200, 1400, 1600})
	dir := t.TempDir()
	wav, ul := filepath.Join(dir, "ann.wav"), filepath.Join(dir, "ann.ul")
	benchTone(t, wav, ul)

	var report []string
	pair := func(rate int, servers ...string) map[string]costRun {
		out := map[string]costRun{}
		for _, s := range servers {
			var r costRun
			t.Run(fmt.Sprintf("%s-%dcps", s, rate), func(t *testing.T) {
				r = costOnce(t, s, rate, seconds, wav, ul, "bench_caller_announce.xml")
				t.Log(r)
			})
			out[s] = r
			report = append(report, r.String())
		}
		return out
	}
	ratio := func(rs map[string]costRun) []string {
		ref, ok := rs["reference"]
		if !ok {
			return nil
		}
		var out []string
		for _, name := range slices.Sorted(maps.Keys(rs)) {
			p := rs[name]
			if name == "reference" {
				continue
			}
			store := ""
			if p.storeCPU > 0 {
				store = fmt.Sprintf(" (%.2f× with PostgreSQL's)", (p.cpu+p.storeCPU)/ref.cpu)
			}
			out = append(out, fmt.Sprintf("%d calls/s: %s / reference — CPU %.2f×%s, peak memory %.2f×, setup p99 %.2f×",
				p.rate, name, p.cpu/ref.cpu, store, float64(p.peak)/float64(ref.peak), float64(p.setup[2])/float64(max(ref.setup[2], time.Microsecond))))
		}
		return out
	}
	servers := []string{"reference", "product"}
	if s := os.Getenv("PD_COST_SERVERS"); s != "" {
		servers = strings.Split(s, ",")
	}
	for _, rate := range fixed {
		rs := pair(rate, servers...)
		report = append(report, ratio(rs)...)
		// The fixed rates are well within what either server carries: a
		// failed call there is a fault, not a limit.
		for s, r := range rs {
			if r.failed != 0 || r.serverFailed != 0 {
				t.Errorf("%s at %d calls/s: %d failed calls, %d on the answering side", s, rate, r.failed, r.serverFailed)
			}
		}
	}
	highest := map[string]int{}
	climbing := servers
	for _, rate := range climb {
		if len(climbing) == 0 {
			break
		}
		rs := pair(rate, climbing...)
		var still []string
		for _, s := range climbing {
			if rs[s].clean() {
				highest[s] = rate
				still = append(still, s)
			}
		}
		report = append(report, ratio(rs)...)
		climbing = still
	}
	report = append(report, fmt.Sprintf("highest clean rate tried (0 failed, setup p99 < 100 ms): reference %d calls/s, product %d calls/s",
		highest["reference"], highest["product"]))
	t.Log("\n" + strings.Join(report, "\n"))
	if out := os.Getenv("PD_COST_OUT"); out != "" {
		os.WriteFile(out, []byte(strings.Join(report, "\n")+"\n"), 0o644)
	}
}

// costOnce runs one server at one rate with the benchmark's caller.
func costOnce(t *testing.T, server string, rate, seconds int, wav, ul, caller string) costRun {
	r := costRun{server: server, rate: rate}
	dir := t.TempDir()
	media := holdCallerMedia(t)
	var pid, port int
	var serverDir string
	var prod *product
	var storeWin <-chan float64
	switch server {
	case "reference":
		serverDir = t.TempDir()
		b, err := os.ReadFile(ul)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(serverDir, "ann.ul"), b, 0o644)
		port = freePort(t)
		cmd := startSIPpIn(t, serverDir, "-sf", mustAbs(t, "scenarios/bench_reference_uas.xml"), "-i", "127.0.0.1",
			"-p", strconv.Itoa(port), "-mp", strconv.Itoa(rtpMin), "-l", "100000", "-timeout", "600",
			"-trace_stat", "-fd", "1", "-stf", filepath.Join(serverDir, "stat.csv"), "-max_socket", "20000")
		time.Sleep(300 * time.Millisecond)
		pid = cmd.Process.Pid
	case "product":
		prod = startProduct(t, costSetup(wav), "")
		pid, port = prod.cmd.Process.Pid, prod.sipPort
	case "sipgo-bare":
		// The SIP stack alone: what the product adds is the difference.
		port = freePort(t)
		cmd := exec.Command(bareSipgo(t), "-listen", "127.0.0.1:"+strconv.Itoa(port), "-hold", strconv.Itoa(toneSeconds)+"s")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		if !optionsAnswered(port, 10*time.Second) {
			t.Fatalf("baresipgo does not answer on port %d", port)
		}
		pid = cmd.Process.Pid
	case "product-postgres":
		dbURL := routingtest.PostgresURL(t)
		prepareShared(t, dbURL, costSetup(wav))
		prod = launch(t, append(productArgs(t.TempDir(), ""), "--database-url", dbURL)...)
		pid, port = prod.cmd.Process.Pid, prod.sipPort
		storeWin = cpuWindow(postgresCPU(t, dbURL), 5*time.Second, time.Duration(min(seconds, 30))*time.Second)
	default:
		t.Fatalf("no server %q", server)
	}
	sip := startSIPCapture(t, port)
	win := steady(pid, 5*time.Second, time.Duration(min(seconds, 30))*time.Second)
	stealWin := cpuWindow(stolen, 5*time.Second, time.Duration(min(seconds, 30))*time.Second)
	n := rate * seconds
	args := []string{"-sf", mustAbs(t, "scenarios/"+caller), "-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)),
		"-mp", strconv.Itoa(callerMediaBase), "-r", strconv.Itoa(rate), "-rp", "1000", "-m", strconv.Itoa(n), "-l", "5000",
		"-timeout", strconv.Itoa(seconds + 45), "-trace_stat", "-fd", "1", "-stf", filepath.Join(dir, "stat.csv"),
		"127.0.0.1:" + strconv.Itoa(port)}
	sipp := startSIPpIn(t, dir, args...)
	err := waitSIPp(sipp, time.Duration(seconds+60)*time.Second)
	r.calls, r.failed = sippCounts(dir, "OutgoingCall(C)")
	if err != nil && r.failed == 0 {
		t.Logf("caller: %v\n%s", err, sipp.Stdout)
		r.failed = -1
	}
	w := <-win
	r.cpu, r.steal = w.cpu, <-stealWin
	if storeWin != nil {
		r.storeCPU = <-storeWin
	}
	_, _, r.peak = procStat(pid)
	switch server {
	case "reference":
		time.Sleep(1500 * time.Millisecond) // SIPp writes its statistics each second
		_, r.serverFailed = sippCounts(serverDir, "IncomingCall(C)")
	case "sipgo-bare":
	default:
		prod.stop()
		t.Logf("the product's own counters: %s", mediaCounters(prod))
		if became := prod.logLines("overloaded: new calls are refused with 503 until the node keeps up"); len(became) > 0 {
			causes := map[string]int{}
			for _, m := range became {
				causes[fmt.Sprint(m["cause"])]++
			}
			t.Logf("overloaded %d times: %v; the first: %v", len(became), causes, became[0])
		}
	}
	r.lateP50, r.lateP99, r.max, r.packets, r.streams = media.lateness()
	if sip != nil {
		w := sip.calls(t)
		if len(w.setups) == 0 {
			t.Error("no call set up in the capture")
		}
		r.setup, r.setupFrom = quantiles(w.setups), "wire"
		r.accepted, r.refused = len(w.setups), len(w.refusals)
		if len(w.refusals) > 0 {
			r.refusal = [2]time.Duration{quantiles(w.refusals)[2], w.refusals[len(w.refusals)-1]}
		}
	} else {
		p50, p99 := setupTimes(dir)
		r.setup = [3]time.Duration{bucket(p50), 0, bucket(p99)}
		r.setupFrom = "SIPp's 1 ms histogram, upper bounds"
	}
	if r.failed != 0 || r.serverFailed != 0 {
		t.Logf("%s at %d calls/s: %d failed calls, %d on the answering side", server, rate, r.failed, r.serverFailed)
	}
	return r
}

// bareSipgo builds the bare sipgo answering server (baresipgo) once.
func bareSipgo(t *testing.T) string {
	t.Helper()
	bareOnce.Do(func() {
		bareBin = filepath.Join(filepath.Dir(binary), "baresipgo")
		if out, err := exec.Command("go", "build", "-o", bareBin, "./baresipgo").CombinedOutput(); err != nil {
			bareErr = fmt.Errorf("building baresipgo: %v\n%s", err, out)
		}
	})
	if bareErr != nil {
		t.Fatal(bareErr)
	}
	return bareBin
}

var (
	bareOnce sync.Once
	bareBin  string
	bareErr  error
)

// costSetup is the default group with the caller's diverting line (1044)
// and the tone as the active announcement, connect-to-called off.
func costSetup(wav string) setupFunc {
	return withAnnouncement(func(ctx context.Context, svc *routing.Service, dataDir string) error {
		if err := defaultSetup(false)(ctx, svc, dataDir); err != nil {
			return err
		}
		gs, err := svc.Groups(ctx, routing.GroupFilter{})
		if err != nil {
			return err
		}
		_, err = svc.AddLine(ctx, admin, routing.ChannelWeb, gs[0].ID, "1044", "")
		return err
	}, wav)
}

// benchTone writes the benchmark's announcement, 3.0 s of 440 Hz, as a
// 16-bit WAV file for the product and the same samples as raw µ-law for
// the reference's rtp_stream.
func benchTone(t *testing.T, wav, ul string) {
	t.Helper()
	if err := writeTone(wav, 440, toneSeconds*time.Second); err != nil {
		t.Fatal(err)
	}
	samples, err := readWAV(wav)
	if err != nil {
		t.Fatal(err)
	}
	law := make([]byte, len(samples))
	for i, v := range samples {
		law[i] = g711.EncodeUlawFrame(v)
	}
	if err := os.WriteFile(ul, law, 0o644); err != nil {
		t.Fatal(err)
	}
}

// callerMedia holds every media port the caller's SDPs name, so that the
// servers' RTP is dropped quietly (a full receive buffer) rather than
// answered with ICMP port unreachable; one port in sampleEvery is read to
// measure lateness.
type callerMedia struct {
	conns []*net.UDPConn
	wg    sync.WaitGroup
	mu    sync.Mutex
	byKey map[uint64][]arrival
}

type arrival struct {
	at time.Duration // since the start of the run
	ts uint32
}

func holdCallerMedia(t *testing.T) *callerMedia {
	t.Helper()
	m := &callerMedia{byKey: map[uint64][]arrival{}}
	t0 := time.Now()
	var unstamped sync.Once // one error, not one a packet
	// The caller itself binds its first two media ports (audio and video
	// sockets it never reads), which the first call's SDP names.
	for port := callerMediaBase + 4; port < callerMediaBase+callerMediaSpan; port++ {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			t.Fatalf("holding the caller's media port %d: %v", port, err)
		}
		m.conns = append(m.conns, c)
		if (port-callerMediaBase-4)%(4*sampleEvery) != 0 {
			c.SetReadBuffer(1) // the kernel's minimum: the rest is dropped
			continue
		}
		// The kernel stamps each datagram as it reaches the socket: the
		// arrival a phone would see, not when this busy test process gets
		// round to reading it.
		rc, err := c.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		rc.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
		})
		if err != nil {
			t.Fatalf("arrival stamps on the caller's media port %d: %v", port, err)
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			buf, oob := make([]byte, 1500), make([]byte, 128)
			for {
				n, oobn, _, _, err := c.ReadMsgUDP(buf, oob)
				if err != nil {
					return
				}
				stamp, ok := kernelStamp(oob[:oobn])
				if !ok {
					unstamped.Do(func() { t.Errorf("caller's media port %d: a datagram without the kernel's arrival stamp", port) })
					continue
				}
				at := stamp.Sub(t0)
				if n < 12 || buf[0]>>6 != 2 {
					continue
				}
				key := uint64(port)<<32 | uint64(bin.BigEndian.Uint32(buf[8:12]))
				m.mu.Lock()
				m.byKey[key] = append(m.byKey[key], arrival{at: at, ts: bin.BigEndian.Uint32(buf[4:8])})
				m.mu.Unlock()
			}
		}()
	}
	t.Cleanup(m.close)
	return m
}

// kernelStamp returns the arrival time in a datagram's control data
// (SO_TIMESTAMPNS).
func kernelStamp(oob []byte) (time.Time, bool) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, false
	}
	for _, m := range msgs {
		if m.Header.Level == syscall.SOL_SOCKET && m.Header.Type == syscall.SO_TIMESTAMPNS && len(m.Data) >= int(unsafe.Sizeof(syscall.Timespec{})) {
			ts := (*syscall.Timespec)(unsafe.Pointer(&m.Data[0]))
			return time.Unix(ts.Unix()), true
		}
	}
	return time.Time{}, false
}

func (m *callerMedia) close() {
	for _, c := range m.conns {
		c.Close()
	}
	m.wg.Wait()
	m.conns = nil
}

// lateness closes the ports and returns the lateness of the packets read:
// for each stream (port and SSRC), a packet's transit is its arrival
// minus its RTP timestamp, and its lateness the transit minus the
// stream's smallest.
func (m *callerMedia) lateness() (p50, p99, most time.Duration, packets, streams int) {
	m.close()
	var all []time.Duration
	for _, list := range m.byKey {
		if len(list) == 0 {
			continue
		}
		streams++
		first := list[0].ts
		transit := make([]time.Duration, len(list))
		least := time.Duration(math.MaxInt64)
		for i, a := range list {
			media := time.Duration(int32(a.ts-first)) * time.Second / 8000
			transit[i] = a.at - media
			least = min(least, transit[i])
		}
		for _, tr := range transit {
			all = append(all, tr-least)
		}
	}
	if len(all) == 0 {
		return 0, 0, 0, 0, 0
	}
	slices.Sort(all)
	q := func(f float64) time.Duration { return all[min(len(all)-1, int(f*float64(len(all))))] }
	return q(0.5), q(0.99), all[len(all)-1], len(all), streams
}

// sipCapture records a server's SIP port on loopback with dumpcap.
type sipCapture struct {
	cmd  *exec.Cmd
	file string
}

// startSIPCapture starts capturing the SIP port, or returns nil when it
// cannot (not root, no dumpcap): setup times then come from SIPp.
func startSIPCapture(t *testing.T, port int) *sipCapture {
	t.Helper()
	if _, err := exec.LookPath("dumpcap"); err != nil || os.Geteuid() != 0 {
		t.Log("setup times from SIPp's 1 ms histogram: capturing on loopback needs root and dumpcap (apt-get install tshark)")
		return nil
	}
	c := &sipCapture{file: filepath.Join(t.TempDir(), "sip.pcap")}
	c.cmd = capturing(t, "dumpcap", "-q", "-i", "lo", "-f", fmt.Sprintf("udp port %d", port), "-B", "64", "-w", c.file)
	return c
}

// wireCalls are the calls of a capture: for each call (Call-ID), the
// time from its first INVITE to its first 200, or to its first 503.
type wireCalls struct {
	setups, refusals []time.Duration
}

// calls stops the capture and reads each call's first INVITE and the
// first 200 or 503 to it.
func (c *sipCapture) calls(t *testing.T) wireCalls {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGINT)
	c.cmd.Wait()
	out, err := exec.Command("tshark", "-r", c.file, "-Y", "sip.CSeq.method == \"INVITE\"", "-T", "fields",
		"-e", "frame.time_epoch", "-e", "sip.Call-ID", "-e", "sip.Method", "-e", "sip.Status-Code").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	invite := map[string]float64{}
	var w wireCalls
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 4 {
			continue
		}
		at, _ := strconv.ParseFloat(f[0], 64)
		switch {
		case f[2] == "INVITE":
			if _, seen := invite[f[1]]; !seen {
				invite[f[1]] = at
			}
		case f[3] == "200" || f[3] == "503":
			if t0, ok := invite[f[1]]; ok && t0 > 0 {
				d := time.Duration((at - t0) * 1e9)
				if f[3] == "200" {
					w.setups = append(w.setups, d)
				} else {
					w.refusals = append(w.refusals, d)
				}
				invite[f[1]] = -1 // the first final answer only
			}
		}
	}
	slices.Sort(w.setups)
	slices.Sort(w.refusals)
	return w
}

// quantiles returns the p50, p95 and p99 of sorted durations.
func quantiles(d []time.Duration) [3]time.Duration {
	if len(d) == 0 {
		return [3]time.Duration{}
	}
	q := func(f float64) time.Duration { return d[min(len(d)-1, int(f*float64(len(d))))] }
	return [3]time.Duration{q(0.5), q(0.95), q(0.99)}
}

// bucket turns SIPp's histogram bucket ("<5 ms", ">=500 ms") into its
// bound.
func bucket(s string) time.Duration {
	s = strings.Trim(strings.TrimSuffix(s, " ms"), "<>=")
	ms, _ := strconv.Atoi(s)
	return time.Duration(ms) * time.Millisecond
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func envInts(name string, def []int) []int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		if v, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
			out = append(out, v)
		}
	}
	return out
}

// cpuWindow measures, between from and to after now, the CPU time that
// read reads as % of one core. It returns at once.
func cpuWindow(read func() time.Duration, from, to time.Duration) <-chan float64 {
	out := make(chan float64, 1)
	start := time.Now()
	from = min(from, to/2)
	go func() {
		time.Sleep(from)
		c0, t0 := read(), time.Now()
		time.Sleep(time.Until(start.Add(to)))
		out <- 100 * float64(read()-c0) / float64(time.Since(t0))
	}()
	return out
}

// stolen reads the CPU time the machine's host gave to others while this
// machine wanted it (steal in /proc/stat, all CPUs): on a virtual
// machine, time a process could not run however idle the guest looks.
// Figures taken while it is high say more about the host than about the
// product.
func stolen() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	n, _ := strconv.ParseInt(f[8], 10, 64)
	return time.Duration(n) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// postgresCPU returns a reading of the CPU time the PostgreSQL server of
// dbURL spent: its postmaster and every process it started.
func postgresCPU(t *testing.T, dbURL string) func() time.Duration {
	t.Helper()
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var backend int
	if err := db.QueryRow(`SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		t.Fatal(err)
	}
	postmaster := parentOf(backend)
	return func() time.Duration {
		total, _, _ := procStat(postmaster)
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			if pid, err := strconv.Atoi(e.Name()); err == nil && parentOf(pid) == postmaster {
				c, _, _ := procStat(pid)
				total += c
			}
		}
		return total
	}
}

// parentOf returns the parent process of pid (0 when unknown).
func parentOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}
