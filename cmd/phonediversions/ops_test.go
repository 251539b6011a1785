package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/internal/testcert"
)

// family is one metric family as /metrics shows it.
type family struct {
	name, typ, help string
	labels          []string
}

// scrape runs the program with HTTPS (so that the certificate's expiry is
// exported), answers one request and a failed sign-in, and returns the
// families /metrics lists, by name.
func scrape(t *testing.T) map[string]*family {
	t.Helper()
	dir := t.TempDir()
	cert, key := testcert.Write(t, dir, time.Now().Add(90*24*time.Hour))
	cfg := testConfig(t, dir)
	cfg.HTTPTLSCert, cfg.HTTPTLSKey = cert, key
	m := NewMain(cfg, io.Discard, io.Discard)
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	base := "https://" + m.HTTPAddr.String()
	if resp, err := c.Get(base + "/Rest/listGroups"); err == nil {
		resp.Body.Close()
	}
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]*family{}
	get := func(name string) *family {
		if out[name] == nil {
			out[name] = &family{name: name}
		}
		return out[name]
	}
	label := regexp.MustCompile(`([a-z_]+)="`)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "# HELP "):
			name, help, _ := strings.Cut(strings.TrimPrefix(l, "# HELP "), " ")
			get(name).help = help
		case strings.HasPrefix(l, "# TYPE "):
			name, typ, _ := strings.Cut(strings.TrimPrefix(l, "# TYPE "), " ")
			get(name).typ = typ
		case l != "" && !strings.HasPrefix(l, "#"):
			name, rest, _ := strings.Cut(strings.SplitN(l, " ", 2)[0], "{")
			f := out[name]
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(name, suffix); f == nil && ok && out[base] != nil {
					f = out[base]
				}
			}
			if f == nil {
				t.Fatalf("sample %q of no family", l)
			}
			for _, m := range label.FindAllStringSubmatch(rest, -1) {
				if m[1] != "le" && !slices.Contains(f.labels, m[1]) {
					f.labels = append(f.labels, m[1])
				}
			}
		}
	}
	return out
}

// units are the words that name what a metric counts or measures.
var units = []string{"calls", "switches", "streams", "uploads", "bytes", "entries", "packets", "seconds", "requests", "failures", "info"}

// metricsDoc renders docs/ops/metrics.md from the families.
func metricsDoc(fams map[string]*family) string {
	var b strings.Builder
	b.WriteString(`# Metrics

What PhoneDiversions exports at ` + "`/metrics`" + ` (Prometheus text format; open to
` + "`metrics_networks`" + `, the local host by default). Generated from a running
node by ` + "`PD_UPDATE_DOCS=1 go test ./cmd/phonediversions/ -run TestMetricsDocumented`" + `;
the same test fails when this table and the product differ. Besides these,
the Go runtime's ` + "`go_*`" + ` and the process's ` + "`process_*`" + ` metrics
(CPU seconds, resident memory, open files) are exported.

| metric | type | labels | meaning |
|---|---|---|---|
`)
	var names []string
	for n := range fams {
		if strings.HasPrefix(n, "phonediversions_") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		f := fams[n]
		labels := strings.Join(f.labels, ", ")
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", n, f.typ, labels, strings.ReplaceAll(f.help, "|", "\\|"))
	}
	return b.String()
}

// Every metric of the product has help text and names its unit
// (phonediversions_overloaded, a 0/1 state like Prometheus' own up,
// excepted), and docs/ops/metrics.md lists exactly what /metrics shows.
func TestMetricsDocumented(t *testing.T) {
	fams := scrape(t)
	for n, f := range fams {
		if !strings.HasPrefix(n, "phonediversions_") {
			continue
		}
		if f.help == "" || f.typ == "" {
			t.Errorf("%s has no help text or type", n)
		}
		words := strings.Split(n, "_")
		if n != "phonediversions_overloaded" && !slices.ContainsFunc(units, func(u string) bool { return slices.Contains(words, u) }) {
			t.Errorf("%s names no unit (one of %v)", n, units)
		}
	}
	want := metricsDoc(fams)
	path := "../../docs/ops/metrics.md"
	if os.Getenv("PD_UPDATE_DOCS") != "" {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("docs/ops/metrics.md differs from /metrics; regenerate it with PD_UPDATE_DOCS=1. What /metrics gives:\n%s", want)
	}
}

// metricNames are the product's, Go's and the process's metric names an
// expression uses.
var metricNames = regexp.MustCompile(`\b(?:phonediversions|go|process)_[a-z_]+\b`)

// exists reports whether name is a family of fams or a histogram's
// series of one.
func exists(fams map[string]*family, name string) bool {
	if fams[name] != nil {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && fams[base] != nil && fams[base].typ == "histogram" {
			return true
		}
	}
	return false
}

// The Grafana dashboard queries only metrics the product exports, and
// every panel reads the data source chosen at import.
func TestDashboardQueriesExist(t *testing.T) {
	fams := scrape(t)
	b, err := os.ReadFile("../../docs/ops/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Inputs []struct{ Name string } `json:"__inputs"`
		Panels []struct {
			Title, Type string
			Datasource  struct{ UID string }
			Targets     []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	if len(dash.Inputs) != 1 || dash.Inputs[0].Name != "DS_PROMETHEUS" {
		t.Errorf("the dashboard asks for %+v at import, want the Prometheus data source", dash.Inputs)
	}
	queries := 0
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if p.Datasource.UID != "${DS_PROMETHEUS}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: data source %q, %d queries", p.Title, p.Datasource.UID, len(p.Targets))
		}
		for _, q := range p.Targets {
			queries++
			names := metricNames.FindAllString(q.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q queries no metric: %s", p.Title, q.Expr)
			}
			for _, n := range names {
				if !exists(fams, n) {
					t.Errorf("panel %q queries %s, which /metrics does not have", p.Title, n)
				}
			}
		}
	}
	t.Logf("%d panels, %d queries", len(dash.Panels), queries)
}

// The alert rules use only metrics the product exports, and promtool
// accepts them, passes their unit tests (alerts_test.yml) and accepts
// the example configuration that loads them.
func TestAlertRules(t *testing.T) {
	fams := scrape(t)
	b, err := os.ReadFile("../../docs/ops/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if expr, ok := strings.CutPrefix(strings.TrimSpace(l), "expr: "); ok {
			for _, n := range metricNames.FindAllString(expr, -1) {
				if !exists(fams, n) {
					t.Errorf("an alert uses %s, which /metrics does not have: %s", n, expr)
				}
			}
		}
	}
	if _, err := exec.LookPath("promtool"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed; .ci/run installs it (apt-get install prometheus)")
		}
		t.Skip("promtool is not installed (Debian package: prometheus)")
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}, {"check", "config", "prometheus.yml"}} {
		cmd := exec.Command("promtool", args...)
		cmd.Dir = "../../docs/ops"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
