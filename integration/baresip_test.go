package integration

import (
	"bytes"
	bin "encoding/binary"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tones each party sends, far enough apart to tell in a recording
// after G.711, and inside its band.
const (
	callerTone       = 500.0
	announcementTone = 1000.0
	farTone          = 1500.0
)

// TestBaresipCallsALineOfAGroup calls through a second, independent SIP
// stack and a PBX, as a diverted call happens in service:
//
//	baresip (caller) → kamailio (the PBX: line 1001 is forwarded to the
//	product's number 5000 with a Diversion header) → the product (plays
//	the announcement, then connects the caller back to 1001 through the
//	PBX) → kamailio → baresip (the phone of line 1001: answers by itself)
//
// Each baresip plays a tone of its own and records what it hears. The
// caller's recording holds the announcement's tone, then the far party's;
// the far party's holds the caller's.
func TestBaresipCallsALineOfAGroup(t *testing.T) {
	needTool(t, "baresip")
	needTool(t, "kamailio")
	dir := t.TempDir()
	for name, tone := range map[string]struct {
		hz  float64
		dur time.Duration
	}{
		"announcement.wav": {announcementTone, 2 * time.Second},
		"caller.wav":       {callerTone, 40 * time.Second},
		"far.wav":          {farTone, 40 * time.Second},
	} {
		if err := writeTone(filepath.Join(dir, name), tone.hz, tone.dur); err != nil {
			t.Fatal(err)
		}
	}
	farPort, pbxPort := freePort(t), freePort(t)
	far := startBaresip(t, filepath.Join(dir, "far"), baresipConfig{
		listen: farPort, account: "<sip:1001@127.0.0.1>;regint=0;answermode=auto",
		source: filepath.Join(dir, "far.wav"), rtpPorts: "31000-31099",
	})
	p := startProduct(t, withAnnouncement(defaultSetup(true), filepath.Join(dir, "announcement.wav")),
		"127.0.0.1:"+strconv.Itoa(pbxPort))
	startKamailio(t, dir, pbxPort, p.sipPort, farPort)

	caller := startBaresip(t, filepath.Join(dir, "caller"), baresipConfig{
		account: "<sip:0791234567@127.0.0.1>;regint=0", source: filepath.Join(dir, "caller.wav"),
		rtpPorts: "31100-31199", dial: "sip:1001@127.0.0.1:" + strconv.Itoa(pbxPort),
		// The announcement (2 s), the far leg's set-up, then about 4 s
		// of conversation; quitting ends the call with a BYE.
		quitAfter: 9 * time.Second,
	})
	if err := caller.wait(30 * time.Second); err != nil {
		t.Fatalf("caller (baresip): %v\n%s", err, caller.output())
	}
	if got := p.waitOutcomes(1); len(got) != 1 || got[0] != "Connected" {
		t.Fatalf("outcomes %v, want Connected\ncaller:\n%s\nfar:\n%s", got, caller.output(), far.output())
	}

	heard := caller.recording(t)
	segs := segments(heard, 8000, 250*time.Millisecond)
	t.Logf("the caller heard (dominant Hz per 250 ms): %v", segs)
	firstAnn, firstFar := first(segs, announcementTone), first(segs, farTone)
	switch {
	case firstAnn < 0:
		t.Errorf("the caller's recording has no announcement (%v Hz)", announcementTone)
	case count(segs, announcementTone) < 6:
		t.Errorf("the caller heard the announcement for %d × 250 ms, want about 2 s", count(segs, announcementTone))
	case firstFar < 0:
		t.Errorf("the caller's recording has no far party (%v Hz)", farTone)
	case firstFar < firstAnn:
		t.Errorf("the caller heard the far party before the announcement")
	case count(segs, farTone) < 8:
		t.Errorf("the caller heard the far party for %d × 250 ms, want seconds", count(segs, farTone))
	}
	farHeard := segments(far.recording(t), 8000, 250*time.Millisecond)
	t.Logf("the far party heard: %v", farHeard)
	if n := count(farHeard, callerTone); n < 8 {
		t.Errorf("the far party heard the caller (%v Hz) for %d × 250 ms, want seconds", callerTone, n)
	}
	if n := count(farHeard, announcementTone); n > 0 {
		t.Errorf("the far party heard the announcement (%d × 250 ms); it is the caller's alone", n)
	}
}

// baresipConfig is what a baresip instance is set up with.
type baresipConfig struct {
	listen    int    // SIP UDP port; 0 for any
	account   string // the accounts line
	source    string // WAV file it plays
	rtpPorts  string
	dial      string        // URI to call at start; "" to wait for calls
	quitAfter time.Duration // 0: runs until the test ends
}

// baresip is a running baresip.
type baresip struct {
	dir  string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan error
}

func (b *baresip) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.Write(p)
}

func (b *baresip) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.String()
}

// startBaresip starts baresip with its configuration in dir: G.711,
// the WAV source, a player that discards (ALSA's null device) and the
// sndfile module, which records what it sends and hears in dir/rec.
func startBaresip(t *testing.T, dir string, c baresipConfig) *baresip {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "rec"), 0o755); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`sip_listen 127.0.0.1:%d
net_interface 127.0.0.1
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module sndfile.so
module alsa.so
module account.so
module menu.so
audio_source aufile,%s
audio_player alsa,null
audio_alert alsa,null
snd_path %s
rtp_ports %s
audio_buffer 20-160
`, c.listen, c.source, filepath.Join(dir, "rec"), c.rtpPorts)
	for name, body := range map[string]string{"config": config, "accounts": c.account + "\n", "contacts": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"-4", "-f", dir}
	if c.dial != "" {
		args = append(args, "-e", "/dial "+c.dial)
	}
	if c.quitAfter > 0 {
		args = append(args, "-t", strconv.Itoa(int(c.quitAfter/time.Second)))
	}
	b := &baresip{dir: dir, done: make(chan error, 1)}
	b.cmd = exec.Command("baresip", args...)
	b.cmd.Stdout, b.cmd.Stderr = b, b
	b.cmd.Stdin = nil
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.done <- b.cmd.Wait() }()
	t.Cleanup(func() {
		b.cmd.Process.Kill()
		<-b.done
		if t.Failed() {
			t.Logf("baresip in %s said:\n%s", dir, b.output())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(b.output(), "baresip is ready") {
		if b.exited() || time.Now().After(deadline) {
			t.Fatalf("baresip did not start:\n%s", b.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return b
}

// wait waits for baresip to quit by itself.
func (b *baresip) wait(limit time.Duration) error {
	select {
	case err := <-b.done:
		b.done <- err
		return err
	case <-time.After(limit):
		return fmt.Errorf("still running after %v", limit)
	}
}

// exited reports whether baresip has quit.
func (b *baresip) exited() bool {
	select {
	case err := <-b.done:
		b.done <- err
		return true
	default:
		return false
	}
}

// recording returns what baresip heard: the samples of the decoder's
// dump the sndfile module wrote.
func (b *baresip) recording(t *testing.T) []int16 {
	t.Helper()
	var samples []int16
	deadline := time.Now().Add(10 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(b.dir, "rec", "dump-*-dec.wav"))
		if len(files) == 1 {
			s, err := readWAV(files[0])
			if err == nil && len(s) > 0 {
				samples = s
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recording of what baresip heard in %s: %v", b.dir, files)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return samples
}

// startKamailio runs kamailio as the PBX on pbxPort: an INVITE for line
// 1001 that is not one of the product's own legs is forwarded to the
// product's number 5000 with a Diversion header, as CUCM does for a
// forwarded line; every other request goes to line 1001's phone.
func startKamailio(t *testing.T, dir string, pbxPort, productPort, farPort int) {
	t.Helper()
	cfg := fmt.Sprintf(`#!KAMAILIO
debug=2
log_stderror=yes
children=1
disable_tcp=yes
auto_aliases=no
listen=udp:127.0.0.1:%d
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "siputils.so"

request_route {
	if (is_method("OPTIONS") && $rU == $null) {
		sl_send_reply("200", "OK");
		exit;
	}
	if (is_method("INVITE") && !has_totag() && $rU == "1001" && !is_present_hf("X-PhoneDiversions-Loop")) {
		append_hf("Diversion: <sip:1001@127.0.0.1>;reason=unconditional;counter=1\r\n");
		$rU = "5000";
		$du = "sip:127.0.0.1:%d";
		forward();
		exit;
	}
	$du = "sip:127.0.0.1:%d";
	forward();
}
`, pbxPort, productPort, farPort)
	runKamailio(t, dir, cfg, pbxPort, 32)
}

// runKamailio runs kamailio with the configuration cfg (and shared memory
// of shmMB) in dir until the test ends, once it answers OPTIONS on port;
// a failed test shows what it said.
func runKamailio(t *testing.T, dir, cfg string, port, shmMB int) {
	t.Helper()
	path := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	var mu sync.Mutex
	cmd := exec.Command("kamailio", "-f", path, "-DD", "-E", "-m", strconv.Itoa(shmMB), "-M", "8", "-P", filepath.Join(dir, "kamailio.pid"), "-Y", dir)
	w := lockedWriter{w: &out, mu: &mu}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			mu.Lock()
			t.Logf("kamailio said:\n%s", out.String())
			mu.Unlock()
		}
	})
	if !optionsAnswered(port, 10*time.Second) {
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("kamailio did not answer OPTIONS:\n%s", out.String())
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// optionsAnswered sends OPTIONS to port until it is answered 200.
func optionsAnswered(port int, limit time.Duration) bool {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return false
	}
	defer c.Close()
	deadline := time.Now().Add(limit)
	for i := 0; time.Now().Before(deadline); i++ {
		msg := fmt.Sprintf("OPTIONS sip:127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKping%d\r\n"+
			"From: <sip:test@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1:%d>\r\nCall-ID: ping%d\r\nCSeq: 1 OPTIONS\r\n"+
			"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", port, c.LocalAddr(), i, port, i)
		c.WriteToUDP([]byte(msg), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		buf := make([]byte, 4096)
		if n, err := c.Read(buf); err == nil && strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
			return true
		}
	}
	return false
}

// writeTone writes a 16-bit mono 8 kHz WAV file of a sine at hz.
func writeTone(path string, hz float64, d time.Duration) error {
	n := int(d.Seconds() * 8000)
	data := make([]byte, 2*n)
	for i := range n {
		v := int16(12000 * math.Sin(2*math.Pi*hz*float64(i)/8000))
		bin.LittleEndian.PutUint16(data[2*i:], uint16(v))
	}
	var b bytes.Buffer
	b.WriteString("RIFF")
	bin.Write(&b, bin.LittleEndian, uint32(36+len(data)))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(8000), uint32(16000), uint16(2), uint16(16)} {
		bin.Write(&b, bin.LittleEndian, v)
	}
	b.WriteString("data")
	bin.Write(&b, bin.LittleEndian, uint32(len(data)))
	b.Write(data)
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// readWAV returns the samples of a 16-bit mono PCM WAV file.
func readWAV(path string) ([]int16, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, fmt.Errorf("%s: not a WAV file", path)
	}
	for p := 12; p+8 <= len(b); {
		id, size := string(b[p:p+4]), int(bin.LittleEndian.Uint32(b[p+4:]))
		p += 8
		if id == "data" {
			end := min(p+size, len(b))
			out := make([]int16, (end-p)/2)
			for i := range out {
				out[i] = int16(bin.LittleEndian.Uint16(b[p+2*i:]))
			}
			return out, nil
		}
		p += size + size%2
	}
	return nil, fmt.Errorf("%s: no data", path)
}

// segments returns the dominant frequency of each window of samples
// (0 for silence), to the nearest 10 Hz between 100 and 3500 Hz.
func segments(samples []int16, rate int, window time.Duration) []float64 {
	n := int(window.Seconds() * float64(rate))
	var out []float64
	for start := 0; start+n <= len(samples); start += n {
		out = append(out, dominant(samples[start:start+n], rate))
	}
	return out
}

// dominant returns the frequency of the strongest tone in samples
// (Goertzel's power at each 10 Hz step), or 0 when they are near silence.
func dominant(samples []int16, rate int) float64 {
	var energy float64
	for _, s := range samples {
		energy += float64(s) * float64(s)
	}
	if energy/float64(len(samples)) < 100*100 {
		return 0
	}
	best, bestPower := 0.0, 0.0
	for f := 100.0; f <= 3500; f += 10 {
		k := 2 * math.Cos(2*math.Pi*f/float64(rate))
		var s1, s2 float64
		for _, x := range samples {
			s1, s2 = float64(x)+k*s1-s2, s1
		}
		if p := s1*s1 + s2*s2 - k*s1*s2; p > bestPower {
			best, bestPower = f, p
		}
	}
	return best
}

// near reports whether f is within 20 Hz of want.
func near(f, want float64) bool { return math.Abs(f-want) <= 20 }

// first returns the index of the first segment near hz, or -1.
func first(segs []float64, hz float64) int {
	for i, f := range segs {
		if near(f, hz) {
			return i
		}
	}
	return -1
}

// count returns how many segments are near hz.
func count(segs []float64, hz float64) int {
	n := 0
	for _, f := range segs {
		if near(f, hz) {
			n++
		}
	}
	return n
}
