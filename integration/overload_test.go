package integration

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOverload offers the product more calls than it carries and checks
// that it sheds the excess rather than failing calls:
//
//	PD_LOAD=1 go test -count=1 ./integration/ -run TestOverload -v -timeout 30m
//
// First it finds its highest clean rate on this machine (PD_OVERLOAD_CLIMB,
// default 600,800,1000,1200,1400: no failed and no refused call, setup
// p99 under 100 ms; PD_OVERLOAD_CLEAN skips the climb), then it offers
// 1.5 and 2 times that rate for PD_COST_SECONDS (default 30) with the
// shared benchmark's caller that takes a 503 as an expected outcome. At
// each, it asserts what a trunk in front of the node needs: no call it
// answered fails (SIPp counts a call without its BYE within 15 s, or any
// answer but 200 or 503, as failed), the setup p99 of answered calls
// stays under 100 ms, the node completes at least 90 % of its clean
// rate, every refusal is a 503 sent within 10 ms of the INVITE (on the
// wire), and the RTP lateness p99 of answered calls stays under 10 ms.
func TestOverload(t *testing.T) {
	loadEnabled(t)
	seconds := envInt("PD_COST_SECONDS", 30)
	dir := t.TempDir()
	wav, ul := filepath.Join(dir, "ann.wav"), filepath.Join(dir, "ann.ul")
	benchTone(t, wav, ul)
	const caller = "bench_caller_announce_shed.xml"
	var report []string
	run := func(rate int) costRun {
		var r costRun
		t.Run(fmt.Sprintf("product-%dcps", rate), func(t *testing.T) {
			r = costOnce(t, "product", rate, seconds, wav, ul, caller)
			t.Log(r)
		})
		report = append(report, r.String())
		return r
	}
	clean := envInt("PD_OVERLOAD_CLEAN", 0)
	if clean == 0 {
		for _, rate := range envInts("PD_OVERLOAD_CLIMB", []int{600, 800, 1000, 1200, 1400}) {
			if r := run(rate); !r.clean() || r.refused > 0 {
				break
			}
			clean = rate
		}
		if clean == 0 {
			t.Fatal("no clean rate: the product failed or refused calls at the lowest rate tried")
		}
	}
	report = append(report, fmt.Sprintf("highest clean rate: %d calls/s", clean))
	for _, f := range []float64{1.5, 2} {
		rate := int(f * float64(clean))
		r := run(rate)
		goodput := float64(r.accepted) / float64(seconds)
		line := fmt.Sprintf("%.1f× (%d calls/s offered): %d answered (%.0f calls/s, %.0f %% of the clean rate), %d refused 503, %d failed; setup p99 %v; INVITE to 503 p99 %v, most %v; RTP lateness p99 %v",
			f, rate, r.accepted, goodput, 100*goodput/float64(clean), r.refused, r.failed, r.setup[2].Round(10*time.Microsecond),
			r.refusal[0].Round(10*time.Microsecond), r.refusal[1].Round(10*time.Microsecond), r.lateP99.Round(10*time.Microsecond))
		report = append(report, line)
		if r.failed != 0 {
			t.Errorf("%.1f×: %d calls failed", f, r.failed)
		}
		if r.setup[2] >= 100*time.Millisecond {
			t.Errorf("%.1f×: setup p99 of answered calls %v, want < 100 ms", f, r.setup[2])
		}
		if goodput < 0.9*float64(clean) {
			t.Errorf("%.1f×: %.0f calls/s answered, want at least 90 %% of %d", f, goodput, clean)
		}
		if r.refusal[1] > 10*time.Millisecond {
			t.Errorf("%.1f×: a 503 took %v after its INVITE, want ≤ 10 ms", f, r.refusal[1])
		}
		if r.lateP99 >= 10*time.Millisecond {
			t.Errorf("%.1f×: RTP lateness p99 %v, want < 10 ms", f, r.lateP99)
		}
	}
	t.Log("\n" + strings.Join(report, "\n"))
}
