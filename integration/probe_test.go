package integration

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/internal/testcert"
	"github.com/phonediversions/phonediversions/prompts"
)

// probeResult is the part of `phonediversions probe --json` the test
// reads.
type probeResult struct {
	Path         string  `json:"path"`
	Code         int     `json:"code"`
	Rang         bool    `json:"rang"`
	FarParty     string  `json:"far_party"`
	Ringback     float64 `json:"ringback_s"`
	Talk         float64 `json:"talk_s"`
	HungUpBy     string  `json:"hung_up_by"`
	Announcement *struct {
		Duration float64 `json:"duration_s"`
		Level    float64 `json:"level_dbfs"`
	} `json:"announcement"`
	Received struct {
		Packets int `json:"packets"`
	} `json:"received"`
}

// runProbe runs the product's probe subcommand (the target among args)
// and returns its verdict and exit status.
func runProbe(t *testing.T, args ...string) (probeResult, int) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"probe", "--json", "--local-ip", "127.0.0.1", "--duration", "30s"}, args...)...)
	out, err := cmd.Output()
	status := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		status = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var r probeResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("probe printed %q (%v): %s", out, err, exit)
	}
	return r, status
}

// TestProbe calls the product with `phonediversions probe` on each path
// it takes and checks the verdict against what the test set up: an
// announcement of its own (2 s of 1 kHz at -9 dBFS) then hang-up, the
// same then a connection to SIPp as the far party, a direct-access
// caller, and a number the product does not know; the recording of the
// first call is checked for the tone's frequency and length.
func TestProbe(t *testing.T) {
	needTool(t, "sipp")
	dir := t.TempDir()
	const seconds, freq, amplitude = 2.0, 1000.0, 0.5
	tone := make([]int16, int(seconds*8000))
	for i := range tone {
		tone[i] = int16(amplitude * 32767 * math.Sin(2*math.Pi*freq*float64(i)/8000))
	}
	wav := filepath.Join(dir, "tone.wav")
	f, err := os.Create(wav)
	if err != nil {
		t.Fatal(err)
	}
	if err := prompts.WriteWAV(f, 8000, tone); err != nil {
		t.Fatal(err)
	}
	f.Close()
	wantLevel := 20 * math.Log10(amplitude/math.Sqrt2) // RMS of a sine

	checkAnnouncement := func(t *testing.T, r probeResult) {
		t.Helper()
		if r.Announcement == nil {
			t.Fatalf("no announcement in %+v", r)
		}
		if d := r.Announcement.Duration; math.Abs(d-seconds) > 0.1 {
			t.Errorf("announcement of %.2f s, want %.1f s", d, seconds)
		}
		if l := r.Announcement.Level; math.Abs(l-wantLevel) > 1 {
			t.Errorf("announcement at %.1f dBFS, want %.1f", l, wantLevel)
		}
	}

	t.Run("announcement then hang-up, and a refused number", func(t *testing.T) {
		p := startProduct(t, withAnnouncement(defaultSetup(false), wav), "")
		heard := filepath.Join(dir, "heard.wav")
		r, status := runProbe(t, "--diverted-from", "1001", "--record", heard, sipTarget(p, "5000"))
		if status != 0 || r.Path != "announcement-then-hang-up" || r.HungUpBy != "product" {
			t.Fatalf("exit %d, %+v", status, r)
		}
		checkAnnouncement(t, r)
		pcm, err := readWAV(heard)
		if err != nil {
			t.Fatal(err)
		}
		if got := float64(len(pcm)) / 8000; math.Abs(got-seconds) > 0.1 {
			t.Errorf("recording of %.2f s, want %.1f s", got, seconds)
		}
		// The tone's frequency from its zero crossings over the middle
		// second, within the 20 ms frames that came: a frame that did
		// not (a packet lost, or skipped by the pacer after a stall of a
		// busy machine) is silence in the recording; at most a tenth of
		// the second may be missing.
		mid := pcm[len(pcm)/4 : len(pcm)/4+8000]
		came := make([]bool, len(mid)/160)
		for f := range came {
			came[f] = slices.ContainsFunc(mid[f*160:(f+1)*160], func(v int16) bool { return v != 0 })
			if !came[f] {
				t.Logf("no audio in the 20 ms from sample %d of the recording", len(pcm)/4+f*160)
			}
		}
		crossings, pairs := 0, 0
		for i := 1; i < len(came)*160; i++ {
			if !came[(i-1)/160] || !came[i/160] {
				continue
			}
			pairs++
			if (mid[i-1] < 0) != (mid[i] < 0) {
				crossings++
			}
		}
		if got := float64(crossings) / 2 / (float64(pairs) / 8000); pairs < 8000*9/10 || math.Abs(got-freq) > 10 {
			t.Errorf("recording at %.0f Hz over %d samples with audio, want %.0f Hz over at least 7200", got, pairs, freq)
		}

		r, status = runProbe(t, sipTarget(p, "9999"))
		if status != 1 || r.Path != "refused" || r.Code != 404 {
			t.Fatalf("unknown number: exit %d, %+v; want exit 1, refused 404", status, r)
		}
	})

	t.Run("over TCP and TLS", func(t *testing.T) {
		certDir := t.TempDir()
		cert, key := testcert.Write(t, certDir, time.Now().Add(24*time.Hour))
		p := startProductIn(t, t.TempDir(), withAnnouncement(defaultSetup(false), wav), "",
			"--sip-tls-cert", cert, "--sip-tls-key", key, "--sip-tls-port", "0")
		for _, c := range []struct {
			transport string
			port      int
			args      []string
		}{
			{"tcp", p.tcpPort, nil},
			{"tls", p.tlsPort, []string{"--tls-ca", cert}},
		} {
			args := append([]string{"--transport", c.transport, "--diverted-from", "1001"}, c.args...)
			r, status := runProbe(t, append(args, "sip:5000@127.0.0.1:"+strconv.Itoa(c.port))...)
			if status != 0 || r.Path != "announcement-then-hang-up" || r.HungUpBy != "product" {
				t.Fatalf("over %s: exit %d, %+v", c.transport, status, r)
			}
			checkAnnouncement(t, r)
		}
		// A certificate the probe was not told to trust: no call.
		r, status := runProbe(t, "--transport", "tls", "--diverted-from", "1001", "sip:5000@127.0.0.1:"+strconv.Itoa(p.tlsPort))
		if status != 1 || r.Path != "unanswered" {
			t.Fatalf("over TLS to an unknown certificate: exit %d, %+v", status, r)
		}
	})

	t.Run("announcement then connect, and direct access", func(t *testing.T) {
		far, farAddr := uas(t, "uas_answer.xml", 2)
		p := startProduct(t, withAnnouncement(defaultSetup(true), wav), farAddr)
		r, status := runProbe(t, "--diverted-from", "1001", "--duration", "8s", sipTarget(p, "5000"))
		if status != 0 || r.Path != "announcement-then-connect" || r.FarParty != "answered" || r.Rang {
			t.Fatalf("exit %d, %+v", status, r)
		}
		checkAnnouncement(t, r)
		if r.Ringback <= 0 || r.Talk <= 0 {
			t.Errorf("ringback %.2f s, far party heard %.2f s: want both (SIPp rings, then streams a file)", r.Ringback, r.Talk)
		}
		r, status = runProbe(t, "--from", "2001", "--diverted-from", "1001", "--duration", "4s", sipTarget(p, "5000"))
		if status != 0 || r.Path != "connected" || !r.Rang || r.Announcement != nil || r.Received.Packets == 0 {
			t.Fatalf("direct access: exit %d, %+v", status, r)
		}
		if err := waitSIPp(far, 60e9); err != nil {
			t.Fatalf("far party: %v\n%s", err, far.Stdout)
		}
	})
}

func sipTarget(p *product, number string) string {
	return "sip:" + number + "@127.0.0.1:" + strconv.Itoa(p.sipPort)
}
