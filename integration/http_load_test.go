package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/routing"
)

// The HTTP benchmark measures the REST API of the running product with a
// Go client on the same machine: listGroups of 1,000 groups and
// toggleDiversion, alone and while SIPp places 300 announce-then-hang-up
// calls per second; and the calls' RTP lateness while 200 toggles per
// second run. It is not part of the test run:
//
//	PD_LOAD=1 go test ./integration/ -run TestLoadHTTP -v -timeout 10m

// latencies collects request durations.
type latencies struct {
	mu     sync.Mutex
	d      []time.Duration
	errors int
}

func (l *latencies) add(d time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.errors++
		return
	}
	l.d = append(l.d, d)
}

func (l *latencies) quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	s := slices.Clone(l.d)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func (l *latencies) summary(elapsed time.Duration) string {
	return fmt.Sprintf("%d requests, %.0f/s, p50 %v, p99 %v, max %v, %d errors", len(l.d),
		float64(len(l.d))/elapsed.Seconds(), l.quantile(0.5).Round(10*time.Microsecond),
		l.quantile(0.99).Round(10*time.Microsecond), l.quantile(1).Round(10*time.Microsecond), l.errors)
}

// httpLoad sends requests from workers clients, each waiting for its
// answer before the next, for the duration.
func httpLoad(c *http.Client, method, url string, workers int, d time.Duration) (*latencies, time.Duration) {
	l := &latencies{}
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for time.Since(start) < d {
				l.add(request(c, method, url))
			}
		})
	}
	wg.Wait()
	return l, time.Since(start)
}

// httpRate sends rate requests per second, each on its own schedule
// whatever the answers take, for the duration.
func httpRate(c *http.Client, method, url string, rate int, d time.Duration) (*latencies, time.Duration) {
	l := &latencies{}
	start := time.Now()
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if at.Sub(start) >= d {
			break
		}
		time.Sleep(time.Until(at))
		wg.Go(func() { l.add(request(c, method, url)) })
	}
	wg.Wait()
	return l, time.Since(start)
}

// wrongPasswords signs in with a wrong password from workers clients,
// each request from the next of the addresses 127.0.0.2–127.0.0.251 (so
// that the limit per address lets each try ten times), for the duration.
// Every answer counts: 401 and 429 are what an attacker gets.
func wrongPasswords(url string, workers int, d time.Duration) (*latencies, time.Duration) {
	clients := make([]*http.Client, 250)
	for i := range clients {
		dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))}}
		clients[i] = &http.Client{Timeout: 10 * time.Second,
			Transport: &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true}}
	}
	l := &latencies{}
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for time.Since(start) < d {
				req := mustRequest("GET", url)
				req.SetBasicAuth("admin", "not-the-password")
				t0 := time.Now()
				resp, err := clients[next.Add(1)%int64(len(clients))].Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 401 && resp.StatusCode != 429 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				l.add(time.Since(t0), err)
			}
		})
	}
	wg.Wait()
	return l, time.Since(start)
}

func request(c *http.Client, method, url string) (time.Duration, error) {
	start := time.Now()
	resp, err := c.Do(mustRequest(method, url))
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return time.Since(start), err
}

func mustRequest(method, url string) *http.Request {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		panic(err)
	}
	return req
}

// latenessBuckets reads the cumulative buckets of the RTP lateness
// histogram from /metrics: upper bound (seconds) → count.
func latenessBuckets(t *testing.T, base string) map[float64]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[float64]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	const prefix = `phonediversions_rtp_lateness_seconds_bucket{le="`
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		le, rest, _ := strings.Cut(line[len(prefix):], `"} `)
		bound := math.Inf(1)
		if le != "+Inf" {
			bound, _ = strconv.ParseFloat(le, 64)
		}
		out[bound], _ = strconv.ParseFloat(rest, 64)
	}
	return out
}

// latenessP99 returns the smallest bucket bound (seconds) holding 99 % of
// the packets sent between two readings, and the packet count.
func latenessP99(before, after map[float64]float64) (float64, float64) {
	total := after[math.Inf(1)] - before[math.Inf(1)]
	var bounds []float64
	for b := range after {
		bounds = append(bounds, b)
	}
	slices.Sort(bounds)
	for _, b := range bounds {
		if after[b]-before[b] >= 0.99*total {
			return b, total
		}
	}
	return math.Inf(1), total
}

func bucketText(b float64) string {
	if math.IsInf(b, 1) {
		return "> 100 ms"
	}
	return fmt.Sprintf("≤ %g ms", b*1000)
}

// groupsSetup adds 1,000 groups to the load setup.
func groupsSetup(ctx context.Context, svc *routing.Service, dataDir string) error {
	if err := loadSetup(false)(ctx, svc, dataDir); err != nil {
		return err
	}
	for i := range 1000 {
		if _, err := svc.CreateGroup(ctx, admin, routing.ChannelWeb, routing.Group{
			Name: fmt.Sprintf("Team %04d", i), Destination: strconv.Itoa(10000 + i), Description: "Diversion of team " + strconv.Itoa(i)}); err != nil {
			return err
		}
	}
	return nil
}

func TestLoadHTTP(t *testing.T) {
	if os.Getenv("PD_LOAD") == "" {
		t.Skip("load benchmark: set PD_LOAD=1 to run it")
	}
	p := startProduct(t, groupsSetup, "")
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	list := p.httpBase + "/Rest/listGroups"
	toggle := p.httpBase + "/Rest/toggleDiversion?groupId=1"
	if r, err := c.Get(list); err != nil || r.StatusCode != 200 {
		t.Fatalf("listGroups: %v %v", r, err)
	}
	const window = 10 * time.Second
	report := func(what string, l *latencies, d time.Duration) {
		t.Logf("%-58s %s", what, l.summary(d))
		if l.errors > 0 {
			t.Errorf("%s: %d errors", what, l.errors)
		}
	}

	l, d := httpLoad(c, "GET", list, 1, window)
	report("alone: listGroups (1,000 groups), 1 client", l, d)
	aloneList := l.quantile(0.99)
	l, d = httpLoad(c, "GET", list, 4, window)
	report("alone: listGroups (1,000 groups), 4 clients", l, d)
	l, d = httpLoad(c, "POST", toggle, 1, window)
	report("alone: toggleDiversion, 1 client", l, d)
	aloneToggle := l.quantile(0.99)
	l, d = httpLoad(c, "POST", toggle, 4, window)
	report("alone: toggleDiversion, 4 clients", l, d)

	// The same while SIPp places 300 calls per second.
	needTool(t, "sipp")
	const rate, seconds = 300, 90
	dir := t.TempDir()
	sipDone := make(chan [2]int, 1)
	go func() {
		calls, failed := sippLoad(t, p, mustAbs(t, "scenarios/uac_load_announce.xml"), rate, seconds, dir)
		sipDone <- [2]int{calls, failed}
	}()
	time.Sleep(10 * time.Second) // ramp up to about 900 concurrent calls
	b0 := latenessBuckets(t, p.httpBase)
	time.Sleep(window)
	b1 := latenessBuckets(t, p.httpBase)
	quiet, quietN := latenessP99(b0, b1)
	t.Logf("%-58s RTP lateness p99 %s over %.0f packets", "300 calls/s, no HTTP load:", bucketText(quiet), quietN)
	l, d = httpRate(c, "POST", toggle, 200, 2*window)
	b2 := latenessBuckets(t, p.httpBase)
	busy, busyN := latenessP99(b1, b2)
	report("300 calls/s: toggleDiversion at 200/s", l, d)
	t.Logf("%-58s RTP lateness p99 %s over %.0f packets", "300 calls/s while 200 toggles/s run:", bucketText(busy), busyN)
	l, d = wrongPasswords(list, 4, window)
	b3 := latenessBuckets(t, p.httpBase)
	attacked, attackedN := latenessP99(b2, b3)
	t.Logf("%-58s %s", "300 calls/s: wrong passwords from 250 addresses, 4 clients", l.summary(d))
	t.Logf("%-58s RTP lateness p99 %s over %.0f packets", "300 calls/s while wrong passwords arrive:", bucketText(attacked), attackedN)
	l, d = httpLoad(c, "GET", list, 1, window)
	report("300 calls/s: listGroups (1,000 groups), 1 client", l, d)
	l, d = httpLoad(c, "POST", toggle, 1, window)
	report("300 calls/s: toggleDiversion, 1 client", l, d)
	r := <-sipDone
	t.Logf("SIPp: %d calls, %d failed", r[0], r[1])
	if r[1] != 0 {
		t.Errorf("%d calls failed", r[1])
	}
	if aloneList > 10*time.Millisecond || aloneToggle > 10*time.Millisecond {
		t.Errorf("p99 alone: listGroups %v, toggleDiversion %v; target under 10 ms", aloneList, aloneToggle)
	}
	if attacked > 0.005 {
		t.Errorf("RTP lateness p99 while wrong passwords arrive: %s; target under 5 ms", bucketText(attacked))
	}
	if busy > 0.005 {
		t.Errorf("RTP lateness p99 while 200 toggles/s run: %s; target under 5 ms", bucketText(busy))
	}
}
