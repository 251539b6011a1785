package integration

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/routing"
	"github.com/phonediversions/phonediversions/routing/sqlite"
)

// The Reports benchmark loads the Reports tab of a product holding
// 1,000,000 report entries with one filter after another, and exports the
// whole report as CSV while watching the product's memory. It is not part
// of the test run:
//
//	PD_LOAD=1 go test ./integration/ -run TestLoadReports -v -timeout 20m

const reportEntries = 1_000_000

// millionReports puts a month of report entries in the data folder: a
// copy of a database built once and kept in the temporary folder, as the
// building takes two minutes.
func millionReports(ctx context.Context, dataDir string) error {
	// The month up to today, so that the chart's default week holds entries.
	start := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -29)
	cached := filepath.Join(os.TempDir(), "phonediversions-reports-1m-v3-"+start.Format("20060102")+".db")
	if _, err := os.Stat(cached); err != nil {
		if err := buildReports(ctx, cached+".building", start); err != nil {
			return err
		}
		if err := os.Rename(cached+".building", cached); err != nil {
			return err
		}
	}
	b, err := os.ReadFile(cached)
	if err != nil {
		return err
	}
	// The product makes its first administrator at its start; the store
	// holds only the report.
	return os.WriteFile(filepath.Join(dataDir, "phonediversions.db"), b, 0o600)
}

// buildReports writes the entries: calls of many callers to many lines,
// and switches.
func buildReports(ctx context.Context, path string, start time.Time) error {
	os.Remove(path)
	db := sqlite.New(path)
	if err := db.Open(); err != nil {
		return err
	}
	defer db.Close()
	rng := rand.New(rand.NewPCG(7, 11))
	calls := []routing.Status{routing.StatusConnected, routing.StatusDirectAccess, routing.StatusTerminated,
		routing.StatusBusy, routing.StatusNoAnswer, routing.StatusFailed, routing.StatusCancelled}
	const batch = 50_000
	for done := 0; done < reportEntries; done += batch {
		err := db.Update(ctx, func(tx routing.Tx) error {
			for i := done; i < done+batch; i++ {
				e := routing.ReportEntry{Time: start.Add(time.Duration(i) * (30 * 24 * time.Hour / reportEntries)),
					Caller: fmt.Sprintf("+4144%07d", rng.IntN(200_000)), Receiver: fmt.Sprintf("%d", 1000+rng.IntN(5000)),
					Group: fmt.Sprintf("Team %03d", rng.IntN(300)), Username: fmt.Sprintf("User %04d, Dept %02d", rng.IntN(2000), rng.IntN(40))}
				if i%20 == 0 {
					e.Action, e.Status, e.Channel = routing.ActionDiversion, routing.StatusActivated, routing.ChannelWeb
					if i%40 == 0 {
						e.Status = routing.StatusDeactivated
					}
				} else {
					e.Action, e.Status, e.Channel = routing.ActionCallHandler, calls[rng.IntN(len(calls))], routing.ChannelSIP
				}
				if err := tx.AppendReport(&e); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// signedInClient signs in to the product's web page as the first
// administrator.
func signedInClient(t *testing.T, base string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 5 * time.Minute}
	resp, err := c.Get(base + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(body)
	if m == nil {
		t.Fatal("no sign-in token")
	}
	req, _ := http.NewRequest("POST", base+"/signin", strings.NewReader(url.Values{"username": {"admin"},
		"password": {"integration-secret"}, "csrf": {string(m[1])}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/state" {
		t.Fatalf("sign-in ended at %s", resp.Request.URL)
	}
	return c
}

func TestLoadReports(t *testing.T) {
	if os.Getenv("PD_LOAD") == "" {
		t.Skip("load benchmark: set PD_LOAD=1 to run it")
	}
	built := time.Now()
	dataDir := t.TempDir()
	if err := millionReports(context.Background(), dataDir); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d report entries ready in %v", reportEntries, time.Since(built).Round(time.Second))
	p := startProductIn(t, dataDir, func(context.Context, *routing.Service, string) error { return nil }, "")
	c := signedInClient(t, p.httpBase)
	day := time.Now().AddDate(0, 0, -14).Format("2006-01-02")
	week := time.Now().AddDate(0, 0, -21).Format("2006-01-02")
	filters := []struct{ name, query string }{
		{"no filter (newest first)", ""},
		{"oldest first", "order=oldest"},
		{"one day", "from=" + day + "T00:00&to=" + day + "T23:59"},
		{"action Diversion", "action=Diversion"},
		{"status Busy", "status=Busy"},
		{"status Busy, page 100", "status=Busy&page=100"},
		{"search a caller number", "search=4144012345"},
		{"search a group, one week", "search=Team+042&from=" + week + "T00:00&to=" + day + "T23:59"},
		{"search a word in every entry", "search=Dept"},
	}
	var all []time.Duration
	for _, fl := range filters {
		var d []time.Duration
		for range 20 {
			start := time.Now()
			resp, err := c.Get(p.httpBase + "/reports?" + fl.query)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %d", fl.name, resp.StatusCode)
			}
			d = append(d, time.Since(start))
		}
		slices.Sort(d)
		all = append(all, d...)
		chart := time.Now()
		resp, err := c.Get(p.httpBase + "/reports/chart?" + fl.query)
		if err != nil {
			t.Fatal(err)
		}
		svg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		title := regexp.MustCompile(`<title>([^<]*)</title>`).FindSubmatch(svg)
		if resp.StatusCode != 200 || title == nil {
			t.Fatalf("chart of %s: %d %.200s", fl.name, resp.StatusCode, svg)
		}
		t.Logf("%-32s page p50 %6.1f ms, p99 %6.1f ms; chart %6.1f ms (%s)", fl.name, ms(d[len(d)/2]), ms(d[len(d)*99/100]),
			ms(time.Since(chart)), title[1])
	}
	slices.Sort(all)
	p99 := all[len(all)*99/100]
	t.Logf("all %d page loads: p50 %.1f ms, p99 %.1f ms", len(all), ms(all[len(all)/2]), ms(p99))
	if p99 > 200*time.Millisecond {
		t.Errorf("p99 page load %v; target under 200 ms", p99)
	}

	// The export of every entry, while the product's memory is watched.
	pid := p.cmd.Process.Pid
	_, rss0, _ := procStat(pid)
	peak := rss0
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
				if _, rss, _ := procStat(pid); rss > peak {
					peak = rss
				}
			}
		}
	}()
	start := time.Now()
	resp, err := c.Get(p.httpBase + "/reports/export")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	close(done)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("export: %v %d", err, resp.StatusCode)
	}
	elapsed := time.Since(start)
	rows := countCSVRows(t, c, p.httpBase+"/reports/export?action=Diversion")
	t.Logf("export of all %d entries: %d MB in %v (%.0f rows/s); resident memory %d MB before, peak %d MB during (+%d MB)",
		reportEntries, n>>20, elapsed.Round(time.Millisecond), float64(reportEntries)/elapsed.Seconds(), rss0>>20, peak>>20, (peak-rss0)>>20)
	if rows != reportEntries/20 {
		t.Errorf("the Diversion export holds %d rows, want %d", rows, reportEntries/20)
	}
	if peak-rss0 > 64<<20 {
		t.Errorf("the export grew the product by %d MB", (peak-rss0)>>20)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// countCSVRows exports and counts the data rows.
func countCSVRows(t *testing.T, c *http.Client, u string) int {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n") - 1
}
