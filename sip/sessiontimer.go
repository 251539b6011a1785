package sip

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// defaultMinSE is the shortest session interval we take unless told
// otherwise (RFC 4028 4: 90 s).
const defaultMinSE = 90 * time.Second

// errSessionExpired ends a call whose session was not refreshed in time.
var errSessionExpired = errors.New("the session was not refreshed (RFC 4028)")

// sessionTimer is the caller dialog's session timer (RFC 4028), we being
// the UAS: the refresher (the caller, "uac", unless it asked us) refreshes
// the session with a re-INVITE or UPDATE before the interval runs out.
// When we are not the refresher and no refresh comes, the call ends a
// little before the session would expire; when we are, we refresh at half
// the interval.
type sessionTimer struct {
	mu        sync.Mutex
	minSE     time.Duration
	interval  time.Duration
	refresher string // "uac" or "uas"
	require   bool   // the caller supports timers: the 2xx requires them
	timer     *time.Timer
	expire    func()
	refresh   func()
}

// hasOption reports whether a Supported or Require header lists option.
func hasOption(req *sip.Request, header, option string) bool {
	for _, h := range req.GetHeaders(header) {
		for _, o := range strings.Split(h.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(o), option) {
				return true
			}
		}
	}
	return false
}

// sessionExpires reads Session-Expires: the interval and the refresher
// asked for ("" when none). ok is false when there is no such header or
// it does not parse.
func sessionExpires(req *sip.Request) (time.Duration, string, bool) {
	h := req.GetHeader("Session-Expires")
	if h == nil {
		h = req.GetHeader("x") // the compact form
	}
	if h == nil {
		return 0, "", false
	}
	v, params, _ := strings.Cut(h.Value(), ";")
	secs, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || secs <= 0 {
		return 0, "", false
	}
	refresher := ""
	for _, p := range strings.Split(params, ";") {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "refresher") {
			refresher = strings.ToLower(strings.TrimSpace(val))
		}
	}
	return time.Duration(secs) * time.Second, refresher, true
}

// tooSmall is the 422 refusal of a session interval below minSE.
func tooSmall(minSE time.Duration) *rejection {
	return &rejection{code: 422, reason: "Session Interval Too Small",
		headers: []sip.Header{sip.NewHeader("Min-SE", strconv.Itoa(int(minSE.Seconds())))}}
}

// negotiateTimer reads the session timer a request asks for, with def the
// interval we ask when the caller supports timers and asks none, and
// minSE the shortest we take. It returns nil when the session has no
// timer, and a 422 refusal when the interval asked is too short.
func negotiateTimer(req *sip.Request, def, minSE time.Duration) (*sessionTimer, *rejection) {
	interval, refresher, asked := sessionExpires(req)
	supports := hasOption(req, "Supported", supported) || hasOption(req, "Require", supported)
	if asked && interval < minSE {
		return nil, tooSmall(minSE)
	}
	if !asked {
		if !supports {
			return nil, nil
		}
		interval = def
		if mse := req.GetHeader("Min-SE"); mse != nil {
			if secs, err := strconv.Atoi(strings.TrimSpace(strings.Split(mse.Value(), ";")[0])); err == nil {
				interval = max(interval, time.Duration(secs)*time.Second)
			}
		}
	}
	switch {
	case !supports:
		refresher = "uas" // the caller cannot refresh: we must (RFC 4028 9)
	case refresher != "uas":
		refresher = "uac" // the caller refreshes unless it asked us to
	}
	return &sessionTimer{minSE: minSE, interval: interval, refresher: refresher, require: supports}, nil
}

// headers are the Session-Expires (and Require) of a 2xx.
func (t *sessionTimer) headers() []sip.Header {
	t.mu.Lock()
	defer t.mu.Unlock()
	hs := []sip.Header{sip.NewHeader("Session-Expires", strconv.Itoa(int(t.interval.Seconds()))+";refresher="+t.refresher)}
	if t.require {
		hs = append(hs, sip.NewHeader("Require", supported))
	}
	return hs
}

// start runs the timer: expire when we wait for refreshes, refresh when
// we send them.
func (t *sessionTimer) start(expire, refresh func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expire, t.refresh = expire, refresh
	t.arm()
}

// arm sets the timer for the current interval. The caller holds mu.
func (t *sessionTimer) arm() {
	if t.timer != nil {
		t.timer.Stop()
	}
	if t.refresher == "uas" {
		t.timer = time.AfterFunc(t.interval/2, t.refresh)
		return
	}
	// RFC 4028 10: end the session before it expires, by the lesser of
	// 32 s and a third of the interval.
	t.timer = time.AfterFunc(t.interval-min(32*time.Second, t.interval/3), t.expire)
}

// refreshed takes a refresh of the session (a re-INVITE or UPDATE): it may
// change the interval and the refresher, and restarts the timer. It
// returns the 422 refusal of an interval below our minimum.
func (t *sessionTimer) refreshed(req *sip.Request) *rejection {
	interval, refresher, asked := sessionExpires(req)
	if asked && interval < t.minSE {
		return tooSmall(t.minSE)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if asked {
		t.interval = interval
		if refresher == "uas" || refresher == "uac" {
			t.refresher = refresher
		}
	}
	if t.expire != nil {
		t.arm()
	}
	return nil
}

// again restarts the timer after a refresh of ours went through.
func (t *sessionTimer) again() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.refresh != nil {
		t.arm()
	}
}

// stop ends the timer.
func (t *sessionTimer) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timer != nil {
		t.timer.Stop()
	}
	t.expire, t.refresh = nil, nil
}
