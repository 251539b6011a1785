package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/routing"
	"github.com/phonediversions/phonediversions/routing/postgres"
	"github.com/phonediversions/phonediversions/routing/routingtest"
)

// Timing of the failover test, from the start of the callers.
const (
	failoverRate    = 20               // calls a second
	failoverLength  = 45 * time.Second // of the callers
	failoverKill    = 15 * time.Second // node A killed
	failoverRestart = 30 * time.Second // node A started again
	// failoverDetect is the longest the dispatcher may take to stop
	// sending calls to a dead node: its OPTIONS ping every second, a ping
	// unanswered after one second, and the call in flight then.
	failoverDetect = 3 * time.Second
	// failoverSetup is the shortest setup of a call the dispatcher sent
	// to the dead node first: it waits a second (fr_timer) for an answer.
	failoverSetup = time.Second
)

// TestTwoNodesSurviveTheLossOfOne: two product processes on one
// PostgreSQL database behind Kamailio's dispatcher (OPTIONS ping every
// second), SIPp calling at 20 calls/s for 45 s, node A killed with SIGKILL
// at 15 s and started again at 30 s. The calls lost are only those node A
// held when it died; every call that started after the detection time
// succeeds; a switch made on node B while A was down is what A answers
// and routes by after its restart; the dispatcher sends calls to A again;
// every completed call has one report entry, whichever node took it.
func TestTwoNodesSurviveTheLossOfOne(t *testing.T) {
	needTool(t, "sipp")
	needTool(t, "kamailio")
	dbURL := routingtest.PostgresURL(t)
	announcement := filepath.Join(t.TempDir(), "tone.wav")
	if err := writeTone(announcement, 440, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	prepareShared(t, dbURL, withAnnouncement(defaultSetup(false), announcement))

	// The far party the nodes send outbound legs to: busy, so that a
	// call's report says which way it was routed.
	far, nextHop := uas(t, "uas_busy.xml", 1)
	portA, portB, pbxPort := freePort(t), freePort(t), freePort(t)
	nodeArgs := func(port, rtpLow int) []string {
		return append(productArgs(t.TempDir(), nextHop), "--database-url", dbURL,
			"--sip-udp-port", strconv.Itoa(port), "--sip-tcp-port", "-1",
			"--rtp-port-min", strconv.Itoa(rtpLow), "--rtp-port-max", strconv.Itoa(rtpLow+4998))
	}
	argsA := nodeArgs(portA, rtpMin)
	a := launch(t, argsA...)
	b := launch(t, nodeArgs(portB, rtpMin+5000)...)
	startDispatcher(t, t.TempDir(), pbxPort, portA, portB)

	dir := t.TempDir()
	logFile := filepath.Join(dir, "calls.log")
	n := failoverRate * int(failoverLength/time.Second)
	callers := startSIPpIn(t, dir, "-sf", mustAbs(t, "scenarios/uac_failover.xml"), "-s", "5000",
		"-m", strconv.Itoa(n), "-r", strconv.Itoa(failoverRate), "-l", "2000",
		"-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)), "-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t)),
		"-timeout", "120", "-trace_logs", "-log_file", logFile, "-max_socket", "4000",
		"127.0.0.1:"+strconv.Itoa(pbxPort))
	start := time.Now()

	time.Sleep(time.Until(start.Add(failoverKill)))
	a.kill()
	killed := time.Since(start)
	// Node A logs a call as ended once its report entry is committed.
	committedOnA := map[string]bool{}
	a.mu.Lock()
	for _, l := range a.lines {
		if l["message"] == "call ended" && l["report_error"] == nil {
			committedOnA[fmt.Sprint(l["caller"])] = true
		}
	}
	a.mu.Unlock()
	t.Logf("node A killed at %v", killed.Round(time.Millisecond))

	// While A is down, a switch through B's REST API.
	if code, body := postForm(t, b.httpBase+"/Rest/setDiversion", url.Values{"groupId": {"1"}, "state": {"ON"}}); code != http.StatusOK {
		t.Fatalf("switch on node B: %d %s", code, body)
	}

	time.Sleep(time.Until(start.Add(failoverRestart)))
	a = launch(t, argsA...)
	restarted := time.Since(start)
	t.Logf("node A started again at %v", restarted.Round(time.Millisecond))
	if _, body := getText(t, http.DefaultClient, a.httpBase+"/Rest/listGroups?format=json"); !strings.Contains(body, `"State":"ON"`) {
		t.Errorf("node A after its restart lists %s, want the group ON as switched on node B", body)
	}

	if err := waitSIPp(callers, 2*time.Minute); err != nil {
		t.Logf("the callers: %v (lost calls make SIPp exit 1)", err)
	}
	calls := readCallLog(t, logFile)
	if len(calls) != n {
		t.Fatalf("%d calls in the callers' log, want %d", len(calls), n)
	}

	// Node A routes by the switch made on B: a call to line 1001 is
	// diverted to the group's destination (the busy far party).
	tmpl, err := os.ReadFile("scenarios/uac_expect_failure.xml")
	if err != nil {
		t.Fatal(err)
	}
	scenario := filepath.Join(t.TempDir(), "uac.xml")
	if err := os.WriteFile(scenario, bytes.ReplaceAll(tmpl, []byte(`response="CODE"`), []byte(`response="486"`)), 0o600); err != nil {
		t.Fatal(err)
	}
	args := uacArgs(t, a, scenario, 1)
	args[3] = "1001" // -s: the line itself
	runSIPp(t, args...)
	if err := waitSIPp(far, 30*time.Second); err != nil {
		t.Errorf("far party (SIPp): %v\n%s", err, far.Stdout)
	}

	// The figures and the verdicts.
	svc := sharedService(t, dbURL)
	completed := 0
	for _, c := range calls {
		if c.completed() {
			completed++
		}
	}
	// The last calls' entries are written a moment after they ended
	// (the group commit): wait for them, but not for ever.
	entries := callEntries(t, svc)
	for deadline := time.Now().Add(10 * time.Second); len(entries) < completed && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		entries = callEntries(t, svc)
	}
	var lost, lostHeld, lostInWindow, onA, onB, afterRestartOnA int
	var endedBeforeKill, failedOver, cutOff int
	var detected time.Duration
	for _, c := range calls {
		switch {
		case c.answeredBy == portA:
			onA++
		case c.answeredBy == portB:
			onB++
		}
		if c.answeredBy == portA && c.started > restarted {
			afterRestartOnA++
		}
		if c.answered-c.started >= failoverSetup && c.started > killed-failoverSetup {
			// Sent to the dead node first, then to the other one.
			failedOver++
			detected = max(detected, c.started-killed)
		} else if c.answered-c.started >= failoverSetup {
			t.Logf("call %d took %v to set up", c.number, c.answered-c.started)
		}
		if c.completed() {
			caller := "07" + strconv.Itoa(c.number)
			got := entries[caller]
			switch {
			case c.answeredBy == portA && c.answered < killed && !committedOnA[caller] && got <= 1:
				// Ended on node A, whose commit of its entry the kill may
				// have cut off: A had not said it was written.
				cutOff += 1 - got
			case got != 1:
				t.Errorf("call %d (answered by port %d, ended at %v): %d report entries, want one", c.number, c.answeredBy, c.ended, got)
			}
			if c.ended < killed {
				endedBeforeKill++
			}
			continue
		}
		lost++
		held := c.answeredBy == portA && c.answered < killed
		inWindow := c.answeredBy == 0 && c.started >= killed-time.Second && c.started < killed+failoverDetect
		switch {
		case held:
			lostHeld++
		case inWindow:
			lostInWindow++
		default:
			t.Errorf("call %d started at %v, answered at %v by port %d, ended at %v: lost, and node A did not hold it when it died",
				c.number, c.started, c.answered, c.answeredBy, c.ended)
		}
	}
	t.Logf("%d calls: %d answered by node A, %d by node B; %d lost: %d held by A when it died, %d sent to A before the dispatcher knew; "+
		"%d sent to A after its death and then to B (the last %v after the death); %d answered by A after its restart; "+
		"%d report entries of calls A ended were not yet committed when it died",
		len(calls), onA, onB, lost, lostHeld, lostInWindow, failedOver, detected.Round(time.Millisecond), afterRestartOnA, cutOff)
	if detected > failoverDetect {
		t.Errorf("the dispatcher sent a call to the dead node %v after its death, want within %v", detected, failoverDetect)
	}
	if afterRestartOnA == 0 {
		t.Error("no call reached node A after its restart")
	}
	if onB == 0 || endedBeforeKill == 0 {
		t.Error("the calls did not spread over both nodes")
	}
	// The entry is written once the call ended (the group commit).
	var direct []routing.ReportEntry
	for deadline := time.Now().Add(10 * time.Second); len(direct) == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		direct = entries1001(t, svc)
	}
	if len(direct) != 1 || !strings.HasPrefix(direct[0].Detail, "divert") {
		t.Errorf("the call to line 1001 through node A after its restart: report %+v, want one entry of a call diverted (the switch made on node B)", direct)
	}

	// A switch on node B reaches node A's event stream within a second.
	delay := switchSeenElsewhere(t, b, a)
	t.Logf("a switch on node B reached node A's /Rest/events %v after it was asked for", delay.Round(100*time.Microsecond))
	if delay > time.Second {
		t.Errorf("a switch on node B reached node A's event stream after %v, want within a second", delay)
	}
	b.stop()
	a.stop()
}

// switchSeenElsewhere switches group 1 OFF through from's REST API and
// returns how long after the request the change event came on to's
// /Rest/events stream (a bound: the event is read once the switch was
// answered).
func switchSeenElsewhere(t *testing.T, from, to *product) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, to.httpBase+"/Rest/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for l := range lines { // the stream's opening comment: it follows
		if strings.HasPrefix(l, ": following") {
			break
		}
	}
	asked := time.Now()
	if code, body := postForm(t, from.httpBase+"/Rest/setDiversion", url.Values{"groupId": {"1"}, "state": {"OFF"}}); code != http.StatusOK {
		t.Fatalf("switch: %d %s", code, body)
	}
	for l := range lines {
		if strings.HasPrefix(l, "data: ") && strings.Contains(l, `"State":"OFF"`) {
			return time.Since(asked)
		}
	}
	t.Fatal("the event stream ended without the switch")
	return 0
}

// prepareShared migrates the PostgreSQL database and runs setup on it.
func prepareShared(t *testing.T, dbURL string, setup setupFunc) {
	t.Helper()
	svc := sharedService(t, dbURL)
	if err := setup(context.Background(), svc, t.TempDir()); err != nil {
		t.Fatal(err)
	}
}

// sharedService opens the PostgreSQL database for the test's own reads.
func sharedService(t *testing.T, dbURL string) *routing.Service {
	t.Helper()
	db := postgres.New(dbURL)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return routing.NewService(db, routing.WithPasswordCost(4), routing.WithSharedStore())
}

// callEntries counts the Call Handler report entries by caller.
func callEntries(t *testing.T, svc *routing.Service) map[string]int {
	t.Helper()
	out := map[string]int{}
	err := svc.EachReport(context.Background(), routing.ReportFilter{Action: routing.ActionCallHandler}, func(e routing.ReportEntry) error {
		out[e.Caller]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// entries1001 returns the Call Handler entries of calls to line 1001 made
// by the direct caller 2001.
func entries1001(t *testing.T, svc *routing.Service) []routing.ReportEntry {
	t.Helper()
	var out []routing.ReportEntry
	err := svc.EachReport(context.Background(), routing.ReportFilter{Action: routing.ActionCallHandler}, func(e routing.ReportEntry) error {
		if e.Caller == "2001" {
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// failoverCall is one call of the callers' log; times from SIPp's start.
type failoverCall struct {
	number                   int
	started, answered, ended time.Duration
	answeredBy               int // the port of the node's Contact
}

func (c failoverCall) completed() bool { return c.ended > 0 }

// readCallLog reads the log of uac_failover.xml.
func readCallLog(t *testing.T, path string) map[int]*failoverCall {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	calls := map[int]*failoverCall{}

	var origin int64 = -1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 {
			continue
		}
		num, err1 := strconv.Atoi(fields[1])
		tick, err2 := strconv.ParseInt(fields[2], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		if origin < 0 {
			origin = tick // the first call starts at once
		}
		at := time.Duration(tick-origin) * time.Millisecond
		c := calls[num]
		if c == nil {
			c = &failoverCall{number: num}
			calls[num] = c
		}
		switch fields[0] {
		case "start":
			c.started = at
		case "answered":
			c.answered = at
			if len(fields) > 3 {
				c.answeredBy, _ = strconv.Atoi(fields[3])
			}
		case "ended":
			c.ended = at
		}
	}
	return calls
}

// kill ends the product with SIGKILL, as a machine that dies would.
func (p *product) kill() {
	p.cmd.Process.Kill()
	<-p.logDone
	p.cmd.Wait()
}

// postForm posts a form and returns the status and the body.
func postForm(t *testing.T, u string, v url.Values) (int, string) {
	t.Helper()
	resp, err := http.PostForm(u, v)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// startDispatcher runs Kamailio on pbxPort as the front of two nodes: its
// dispatcher sends each new call to the next node in turn, pings both
// with OPTIONS every second and takes a node that does not answer (or
// answers 503) out of rotation until it answers 200 again; a call that a
// node does not answer within a second goes to the other.
func startDispatcher(t *testing.T, dir string, pbxPort, portA, portB int) {
	t.Helper()
	list := filepath.Join(dir, "dispatcher.list")
	if err := os.WriteFile(list, []byte(fmt.Sprintf("1 sip:127.0.0.1:%d 0 0\n1 sip:127.0.0.1:%d 0 0\n", portA, portB)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`#!KAMAILIO
debug=1
log_stderror=yes
children=2
disable_tcp=yes
auto_aliases=no
listen=udp:127.0.0.1:%d
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "dispatcher.so"
modparam("tm", "fr_timer", 1000)
modparam("tm", "fr_inv_timer", 30000)
modparam("dispatcher", "list_file", "%s")
modparam("dispatcher", "flags", 2)
modparam("dispatcher", "ds_ping_interval", 1)
modparam("dispatcher", "ds_probing_mode", 1)
modparam("dispatcher", "ds_probing_threshold", 1)
modparam("dispatcher", "ds_inactive_threshold", 1)
modparam("dispatcher", "ds_ping_reply_codes", "class=2")

request_route {
	if (is_method("OPTIONS") && $rU == $null) {
		sl_send_reply("200", "OK");
		exit;
	}
	if (is_method("CANCEL")) {
		if (t_check_trans()) {
			t_relay();
		}
		exit;
	}
	if (has_totag()) {
		# The requests of a dialog follow its route set (Record-Route
		# below), both ways; the ACK of a failure belongs to its INVITE's
		# transaction.
		if (loose_route()) {
			t_relay();
		} else if (is_method("ACK") && t_check_trans()) {
			t_relay();
		} else {
			sl_send_reply("404", "Not Here");
		}
		exit;
	}
	record_route();
	if (!ds_select_dst("1", "4")) {
		sl_send_reply("503", "No Node");
		exit;
	}
	t_on_failure("NEXT_NODE");
	t_relay();
}

failure_route[NEXT_NODE] {
	if (t_is_canceled()) {
		exit;
	}
	if (t_check_status("503") || (t_branch_timeout() && !t_branch_replied())) {
		ds_mark_dst("ip");
		if (ds_next_dst()) {
			t_on_failure("NEXT_NODE");
			t_relay();
		}
	}
}
`, pbxPort, list)
	runKamailio(t, dir, cfg, pbxPort, 64)
}
