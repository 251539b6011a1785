package media_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"github.com/phonediversions/phonediversions/audio"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/media"
)

// The load benchmarks run the far ends (sinks, or the two parties of each
// bridged call) in a child process, the test binary itself started with
// PD_MEDIA_HELPER set, so that the CPU measured with getrusage is the
// engine's alone. Run them with:
//
//	go test ./media/ -run '^$' -bench 'Streams|Relay' -benchtime 1x -timeout 20m

const helperEnv = "PD_MEDIA_HELPER"

// TestMediaLoadHelper is the child process of the load benchmarks; it does
// nothing in a normal test run.
func TestMediaLoadHelper(t *testing.T) {
	switch os.Getenv(helperEnv) {
	case "sink":
		runSink()
	case "parties":
		runParties()
	default:
		t.Skip("child process of the load benchmarks")
	}
	os.Exit(0)
}

// sinkReport is what the sink child prints when its input closes.
type sinkReport struct {
	Received uint64 `json:"received"`
	Lost     uint64 `json:"lost"` // sequence numbers never seen, per stream
}

// runSink binds sockets, prints their addresses, counts RTP packets per
// SSRC until standard input closes, then prints a sinkReport.
func runSink() {
	n, _ := strconv.Atoi(os.Getenv("PD_SINKS"))
	var conns []*net.UDPConn
	var addrs []string
	for i := 0; i < n; i++ {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			panic(err)
		}
		c.SetReadBuffer(8 << 20)
		conns = append(conns, c)
		addrs = append(addrs, c.LocalAddr().String())
	}
	json.NewEncoder(os.Stdout).Encode(addrs)
	type seqs struct{ first, last, count uint64 }
	var mu sync.Mutex
	streams := map[uint32]*seqs{}
	var received atomic.Uint64
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func(c *net.UDPConn) {
			defer wg.Done()
			buf := make([]byte, 2048)
			local := map[uint32]*seqs{}
			for {
				n, err := c.Read(buf)
				if err != nil {
					break
				}
				if n < 12 || buf[1] >= 200 && buf[1] <= 204 {
					// Not RTP: an RTCP report some leg sent to its peer's
					// port + 1, which can be another sink's socket.
					continue
				}
				received.Add(1)
				ssrc := uint32(buf[8])<<24 | uint32(buf[9])<<16 | uint32(buf[10])<<8 | uint32(buf[11])
				seq := uint64(buf[2])<<8 | uint64(buf[3])
				s := local[ssrc]
				if s == nil {
					s = &seqs{first: seq, last: seq}
					local[ssrc] = s
				} else {
					// unwrap 16-bit sequence numbers
					d := (seq - s.last) & 0xffff
					if d < 0x8000 {
						s.last += d
					}
				}
				s.count++
			}
			mu.Lock()
			for k, v := range local {
				streams[k] = v
			}
			mu.Unlock()
		}(c)
	}
	io.Copy(io.Discard, os.Stdin)
	time.Sleep(200 * time.Millisecond) // let the last packets land
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
	var lost uint64
	for _, s := range streams {
		if want := s.last - s.first + 1; want > s.count {
			lost += want - s.count
		}
	}
	json.NewEncoder(os.Stdout).Encode(sinkReport{Received: received.Load(), Lost: lost})
}

// child is a running helper process.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

func startChild(b *testing.B, mode string, env ...string) *child {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMediaLoadHelper$")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+mode), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return &child{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
}

func (c *child) decode(b *testing.B, v any) {
	b.Helper()
	line, err := c.out.ReadBytes('\n')
	if err != nil {
		b.Fatalf("child: %v", err)
	}
	if err := json.Unmarshal(line, v); err != nil {
		b.Fatalf("child said %q: %v", line, err)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkStreams plays the built-in announcement in a loop to N loopback
// sinks for a measured 10 s after a 2 s ramp, and reports CPU per stream,
// lateness against each packet's deadline and packets lost.
// PD_STREAMS (comma-separated) chooses the counts.
func BenchmarkStreams(b *testing.B) {
	counts := []int{60, 500, 1000, 2000, 4000, 6000, 8000}
	if s := os.Getenv("PD_STREAMS"); s != "" {
		counts = nil
		for _, f := range strings.Split(s, ",") {
			if n, err := strconv.Atoi(f); err == nil {
				counts = append(counts, n)
			}
		}
	}
	for _, n := range counts {
		b.Run(fmt.Sprintf("streams=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				runStreams(b, n, 2*time.Second, 10*time.Second)
			}
		})
	}
}

func runStreams(b *testing.B, n int, ramp, measure time.Duration) {
	e, err := media.New(media.Config{IP: loopback, PortMin: 20000, PortMax: 39998})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	sink := startChild(b, "sink", "PD_SINKS=16")
	var addrs []string
	sink.decode(b, &addrs)
	frames := builtin(b).Frames(0)
	var legs []*media.Leg
	var streams []*media.Stream
	start := time.Now()
	for i := 0; i < n; i++ {
		leg, err := e.NewLeg(media.LegConfig{Format: media.Format{Codec: audio.PCMU}, Peer: netip.MustParseAddrPort(addrs[i%len(addrs)])})
		if err != nil {
			b.Fatal(err)
		}
		legs = append(legs, leg)
		// Calls arrive spread over the ramp, not all in one instant.
		time.Sleep(time.Until(start.Add(ramp * time.Duration(i) / time.Duration(n) / 2)))
		streams = append(streams, e.Play(leg, frames, true))
	}
	time.Sleep(time.Until(start.Add(ramp)))
	before, cpu0, t0 := e.Stats(), cpuTime(), time.Now()
	time.Sleep(measure)
	after, cpu1, t1 := e.Stats(), cpuTime(), time.Now()
	for _, s := range streams {
		s.Stop()
	}
	sent := e.Stats().PacketsSent
	for _, l := range legs {
		l.Close()
	}
	sink.stdin.Close()
	var rep sinkReport
	sink.decode(b, &rep)
	sink.cmd.Wait()

	lat := after.Lateness.Sub(before.Lateness)
	cpu := float64(cpu1-cpu0) / float64(t1.Sub(t0))
	b.ReportMetric(cpu*100, "%CPU")
	b.ReportMetric(cpu*1e6/float64(n), "µs-CPU/s/stream")
	b.ReportMetric(float64(lat.Quantile(0.5).Microseconds())/1000, "p50-late-ms")
	b.ReportMetric(float64(lat.Quantile(0.99).Microseconds())/1000, "p99-late-ms")
	b.ReportMetric(float64(lat.Max.Microseconds())/1000, "max-late-ms")
	b.ReportMetric(float64(after.PacketsSent-before.PacketsSent)/t1.Sub(t0).Seconds(), "pkt/s")
	b.ReportMetric(float64(after.PacerWakeups-before.PacerWakeups)/t1.Sub(t0).Seconds(), "wakeups/s")
	b.ReportMetric(float64(sent-rep.Received), "lost")
	b.ReportMetric(float64(after.SkippedFrames-before.SkippedFrames), "skipped")
	b.ReportMetric(float64(after.SendErrors), "send-errors")
}

// runParties is the child of BenchmarkRelay. It reads the two relay ports
// of each bridged pair, opens a leg towards each, prints its own ports,
// waits for a go-ahead, plays a looped tone from every leg (spread over the
// first second) and, after PD_DURATION, prints how many packets it sent
// and received.
func runParties() {
	var ports [][2]int
	if err := json.NewDecoder(os.Stdin).Decode(&ports); err != nil {
		panic(err)
	}
	dur, _ := time.ParseDuration(os.Getenv("PD_DURATION"))
	ip := netip.MustParseAddr("127.0.0.1")
	e, err := media.New(media.Config{IP: ip, PortMin: 40000, PortMax: 49998})
	if err != nil {
		panic(err)
	}
	var legs []*media.Leg
	var mine [][2]int
	for _, p := range ports {
		var pair [2]int
		for j, port := range p {
			codec := audio.PCMU
			if j == 1 {
				codec = audio.PCMA // the far party chose A-law: the relay transcodes
			}
			leg, err := e.NewLeg(media.LegConfig{Format: media.Format{Codec: codec}, Peer: netip.AddrPortFrom(ip, uint16(port))})
			if err != nil {
				panic(err)
			}
			legs = append(legs, leg)
			pair[j] = leg.Port()
		}
		mine = append(mine, pair)
	}
	json.NewEncoder(os.Stdout).Encode(mine)
	var goAhead struct{}
	if err := json.NewDecoder(os.Stdin).Decode(&goAhead); err != nil {
		panic(err)
	}
	frames := [2][][]byte{media.RingbackEurope().Frames(audio.PCMU), media.RingbackEurope().Frames(audio.PCMA)}
	var streams []*media.Stream
	start := time.Now()
	for i, leg := range legs {
		time.Sleep(time.Until(start.Add(time.Second * time.Duration(i) / time.Duration(len(legs)))))
		streams = append(streams, e.Play(leg, frames[i%2], true))
	}
	time.Sleep(time.Until(start.Add(dur)))
	for _, s := range streams {
		s.Stop()
	}
	time.Sleep(200 * time.Millisecond)
	st := e.Stats()
	json.NewEncoder(os.Stdout).Encode(map[string]uint64{"sent": st.PacketsSent, "received": st.PacketsReceived})
}

// BenchmarkRelay bridges N pairs of legs; a child process plays both
// parties of every pair (caller in PCMU, far party in PCMA), so the relay
// carries 4 flows of 50 packets per second per pair, transcoding each.
func BenchmarkRelay(b *testing.B) {
	for _, n := range []int{250, 500, 1000, 1500} {
		b.Run(fmt.Sprintf("pairs=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				runRelay(b, n, 3*time.Second, 10*time.Second)
			}
		})
	}
}

func runRelay(b *testing.B, pairs int, ramp, measure time.Duration) {
	e, err := media.New(media.Config{IP: loopback, PortMin: 20000, PortMax: 39998})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	var ports [][2]int
	var legs []*media.Leg
	for i := 0; i < pairs; i++ {
		a, err := e.NewLeg(media.LegConfig{Format: media.Format{Codec: audio.PCMU}})
		if err != nil {
			b.Fatal(err)
		}
		c, err := e.NewLeg(media.LegConfig{Format: media.Format{Codec: audio.PCMA}})
		if err != nil {
			b.Fatal(err)
		}
		e.Bridge(a, c)
		legs = append(legs, a, c)
		ports = append(ports, [2]int{a.Port(), c.Port()})
	}
	parties := startChild(b, "parties", "PD_DURATION="+(ramp+measure+time.Second).String())
	json.NewEncoder(parties.stdin).Encode(ports)
	var theirs [][2]int
	parties.decode(b, &theirs)
	for i, p := range theirs {
		legs[2*i].SetPeer(netip.AddrPortFrom(loopback, uint16(p[0])))
		legs[2*i+1].SetPeer(netip.AddrPortFrom(loopback, uint16(p[1])))
	}
	json.NewEncoder(parties.stdin).Encode(struct{}{})
	time.Sleep(ramp)
	before, cpu0, t0 := e.Stats(), cpuTime(), time.Now()
	time.Sleep(measure)
	after, cpu1, t1 := e.Stats(), cpuTime(), time.Now()
	var rep map[string]uint64
	parties.decode(b, &rep)
	parties.cmd.Wait()
	final := e.Stats()
	for _, l := range legs {
		l.Close()
	}
	delay := after.RelayDelay.Sub(before.RelayDelay)
	cpu := float64(cpu1-cpu0) / float64(t1.Sub(t0))
	b.ReportMetric(cpu*100, "%CPU")
	b.ReportMetric(float64(after.PacketsSent-before.PacketsSent)/t1.Sub(t0).Seconds(), "relayed-pkt/s")
	b.ReportMetric(float64(delay.Quantile(0.5).Microseconds())/1000, "p50-added-ms")
	b.ReportMetric(float64(delay.Quantile(0.99).Microseconds())/1000, "p99-added-ms")
	b.ReportMetric(float64(delay.Max.Microseconds())/1000, "max-added-ms")
	// Lost: sent by the parties but never read by the relay, plus relayed
	// but never read by the parties.
	b.ReportMetric(float64(rep["sent"]-final.PacketsReceived+final.PacketsSent-rep["received"]), "lost")
}
