package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/prompts"
)

// TestLoadUploads measures what four concurrent announcement uploads do
// to calls in progress: RTP lateness (the product's own histogram of send
// times after their deadline) in a window before the uploads and during
// them, with the same call load, and the process's peak memory before and
// after. Run it with:
//
//	PD_LOAD=1 go test ./integration/ -run '^TestLoadUploads$' -v -timeout 30m
//
// PD_UPLOAD_RATE sets the call rate (default 200 calls/s of a 3 s
// announcement, about 600 streams).
func TestLoadUploads(t *testing.T) {
	loadEnabled(t)
	rate := 200
	if s := os.Getenv("PD_UPLOAD_RATE"); s != "" {
		rate, _ = strconv.Atoi(s)
	}
	const seconds = 75
	// Ten minutes at 24 kHz, 16-bit mono: 28.8 MB, the size of the file
	// that raised the peak from 25 to 196 MB.
	wav := toneWAV(24000, 24000*600)
	p := startProduct(t, loadSetup(false), "")
	c := signedInClient(t, p.httpBase)
	csrf := pageToken(t, c, p.httpBase+"/callhandler")
	dir := t.TempDir()
	done := make(chan [2]int, 1)
	go func() {
		calls, failed := sippLoad(t, p, mustAbs(t, "scenarios/uac_load_announce.xml"), rate, seconds, dir)
		done <- [2]int{calls, failed}
	}()
	time.Sleep(steadyFrom)
	h0 := lateness(t, p)
	time.Sleep(15 * time.Second)
	h1 := lateness(t, p)
	_, _, peakBefore := procStat(p.cmd.Process.Pid)
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var took []time.Duration
	refused := 0
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				status, retry := uploadAnnouncement(t, c, p.httpBase, csrf, fmt.Sprintf("load-%d.wav", i), wav)
				if status == http.StatusServiceUnavailable {
					mu.Lock()
					refused++
					mu.Unlock()
					time.Sleep(retry)
					continue
				}
				if status != http.StatusOK {
					t.Errorf("upload %d: %d", i, status)
				}
				mu.Lock()
				took = append(took, time.Since(start))
				mu.Unlock()
				return
			}
		}()
	}
	wg.Wait()
	during := time.Since(start)
	h2 := lateness(t, p)
	_, _, peakAfter := procStat(p.cmd.Process.Pid)
	res := <-done
	t.Logf("%d calls/s × %d s: %d calls, %d failed", rate, seconds, res[0], res[1])
	t.Logf("before the uploads (15 s): %s", h1.since(h0))
	t.Logf("during 4 uploads of a 28.8 MB, 10-minute 24 kHz WAV (%v; done after %v; %d refusals with 503 retried): %s",
		during.Round(time.Millisecond), took, refused, h2.since(h1))
	t.Logf("peak resident memory: %d MB before the uploads, %d MB after (each stored result 9.6 MB, kept in memory)", peakBefore>>20, peakAfter>>20)
	if res[1] != 0 {
		t.Errorf("%d calls failed", res[1])
	}
}

// toneWAV is a 16-bit mono WAV file of a 440 Hz tone.
func toneWAV(rate, frames int) []byte {
	pcm := make([]int16, frames)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/float64(rate)))
	}
	var buf bytes.Buffer
	prompts.WriteWAV(&buf, rate, pcm)
	return buf.Bytes()
}

// pageToken reads the session's CSRF token off a page.
func pageToken(t *testing.T, c *http.Client, page string) string {
	t.Helper()
	resp, err := c.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`data-csrf="([^"]+)"`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no token on %s", page)
	}
	return string(m[1])
}

// uploadAnnouncement uploads a file as the page's script does; it returns
// the status and, for a 503, the Retry-After.
func uploadAnnouncement(t *testing.T, c *http.Client, base, csrf, name string, wav []byte) (int, time.Duration) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		fw, _ := mw.CreateFormFile("file", name)
		fw.Write(wav)
		mw.Close()
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", base+"/announcements", pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	req.Header.Set("Origin", base)
	resp, err := c.Do(req)
	if err != nil {
		t.Errorf("upload: %v", err)
		return 0, 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	return resp.StatusCode, time.Duration(retry) * time.Second
}

// histogram is the product's RTP lateness histogram: cumulative counts by
// upper bound in seconds, and the total.
type histogram struct {
	le    []float64
	count map[float64]float64
	total float64
}

var bucketLine = regexp.MustCompile(`^phonediversions_rtp_lateness_seconds_bucket\{le="([^"]+)"\} (\S+)$`)

// lateness reads the histogram from /metrics.
func lateness(t *testing.T, p *product) histogram {
	t.Helper()
	resp, err := http.Get(p.httpBase + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h := histogram{count: map[float64]float64{}}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if m := bucketLine.FindStringSubmatch(line); m != nil {
			le, _ := strconv.ParseFloat(m[1], 64)
			n, _ := strconv.ParseFloat(m[2], 64)
			if m[1] == "+Inf" {
				h.total = n
				continue
			}
			h.le = append(h.le, le)
			h.count[le] = n
		}
	}
	return h
}

// since says, for the packets sent between an earlier reading and this
// one, how many there were and the bucket that holds the 99th percentile.
func (h histogram) since(before histogram) string {
	total := h.total - before.total
	if total <= 0 {
		return "no packets"
	}
	p99 := "over " + strconv.FormatFloat(h.le[len(h.le)-1]*1000, 'f', -1, 64) + " ms"
	for _, le := range h.le {
		if h.count[le]-before.count[le] >= 0.99*total {
			p99 = "≤ " + strconv.FormatFloat(le*1000, 'f', -1, 64) + " ms"
			break
		}
	}
	late := total - (h.count[0.005] - before.count[0.005])
	return fmt.Sprintf("%.0f packets, lateness p99 %s, %.0f (%.3f %%) more than 5 ms late", total, p99, late, 100*late/total)
}
