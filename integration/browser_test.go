package integration

import (
	"bytes"
	"context"
	bin "encoding/binary"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/phonediversions/phonediversions/routing"
)

// The browser tests drive Debian's chromium through chromedp against the
// product binary, as the people who use the web page would.
// PD_SCREENSHOTS=1 saves the screenshots they take under docs/screenshots.

// browserTest is a browser with a tab open on the product.
type browserTest struct {
	t    *testing.T
	p    *product
	ctx  context.Context
	shot string // folder of the screenshots
}

func newBrowser(t *testing.T, p *product) *browserTest {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed; .ci/run installs it (apt-get install chromium)")
		}
		t.Skip("chromium is not installed (Debian package: apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("chromium does not start: %v", err)
	}
	b := &browserTest{t: t, p: p, ctx: ctx, shot: t.TempDir()}
	if os.Getenv("PD_SCREENSHOTS") != "" {
		b.shot = "../docs/screenshots"
		if err := os.MkdirAll(b.shot, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// run performs the actions, failing the test with what was being done.
func (b *browserTest) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	start := time.Now()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v\n%s", what, err, b.pageText())
	}
	b.t.Logf("%s: %v", what, time.Since(start).Round(time.Millisecond))
}

// stepTimeout bounds one step of a browser test.
const stepTimeout = 15 * time.Second

// pageText is what the page says, to tell why a step failed.
func (b *browserTest) pageText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
	if err != nil {
		return "(the page cannot be read: " + err.Error() + ")"
	}
	return "the page:\n" + text
}

// value runs one action that returns a value.
func value[T any](b *browserTest, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// eval evaluates a script and returns its value, awaiting a promise.
func eval[T any](b *browserTest, what, script string) T {
	b.t.Helper()
	return value(b, what, chromedp.Evaluate[T](script, chromedp.EvalAwaitPromise))
}

func (b *browserTest) url(path string) string { return b.p.httpBase + path }

// screenshot saves the visible page as name.png.
func (b *browserTest) screenshot(name string) {
	b.t.Helper()
	png := value(b, "screenshot "+name, chromedp.CaptureScreenshot())
	if err := os.WriteFile(filepath.Join(b.shot, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// text returns the text of the first element matching sel.
func (b *browserTest) text(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(value(b, "read "+sel, chromedp.Text(chromedp.CSS(sel))))
}

// signIn signs in through the form and waits for the first tab.
func (b *browserTest) signIn(username, password, landing string) {
	b.t.Helper()
	b.run("sign in as "+username,
		chromedp.Navigate(b.url("/signin")),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), username),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(landing)))
}

// stereoWAV is a 16-bit stereo WAV at 44.1 kHz: a second of 440 Hz left
// and 660 Hz right.
func stereoWAV() []byte {
	const rate, n = 44100, 44100
	var data bytes.Buffer
	for i := range n {
		l := int16(12000 * math.Sin(2*math.Pi*440*float64(i)/rate))
		r := int16(12000 * math.Sin(2*math.Pi*660*float64(i)/rate))
		bin.Write(&data, bin.LittleEndian, []int16{l, r})
	}
	var b bytes.Buffer
	b.WriteString("RIFF")
	bin.Write(&b, bin.LittleEndian, uint32(36+data.Len()))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(2), uint32(rate), uint32(rate * 4), uint16(4), uint16(16)} {
		bin.Write(&b, bin.LittleEndian, v)
	}
	b.WriteString("data")
	bin.Write(&b, bin.LittleEndian, uint32(data.Len()))
	b.Write(data.Bytes())
	return b.Bytes()
}

// TestBrowser walks the web page as its users do: the first administrator
// signs in, creates a group with two lines, switches it on the State tab
// and finds the switch in the report; a script switches it through REST
// and the open State tab follows without a reload; an announcement is
// uploaded, played back and a broken one refused; a user with the State
// privilege alone sees only that tab and is refused the others.
func TestBrowser(t *testing.T) {
	fresh := func(context.Context, *routing.Service, string) error { return nil }
	p := startProduct(t, fresh, "")
	b := newBrowser(t, p)

	b.run("the sign-in page", chromedp.Navigate(b.url("/")), chromedp.WaitVisible(chromedp.CSS("#username")))
	b.screenshot("signin")
	b.signIn("admin", "integration-secret", "#live")
	if got := b.text("main h1"); got != "State" {
		t.Fatalf("landed on %q", got)
	}

	// A group with two lines.
	b.run("create a group",
		chromedp.Navigate(b.url("/groups/new")),
		chromedp.SendKeys(chromedp.CSS("#groupName"), "Front Desk"),
		chromedp.SendKeys(chromedp.CSS("#description"), "Reception <main> & \"lobby\""),
		chromedp.SendKeys(chromedp.CSS("#destination"), "+41 44 555 10 22"),
		chromedp.Click(chromedp.CSS("form.card button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#lineNumber")))
	for _, l := range [][2]string{{"1001", "Reception left"}, {"1002", "Reception right"}} {
		b.run("add line "+l[0],
			chromedp.SendKeys(chromedp.CSS("#lineNumber"), l[0]),
			chromedp.SendKeys(chromedp.CSS("#description"), l[1]),
			chromedp.Click(chromedp.CSS("form.inline-form button[type=submit]")),
			chromedp.WaitVisible(chromedp.CSS(`input[value="`+l[1]+`"]`)))
	}
	b.screenshot("lines")
	// Adding 1001 to a second group is refused beside the field, with a
	// link to the group that has it.
	b.run("a second group",
		chromedp.Navigate(b.url("/groups/new")),
		chromedp.SendKeys(chromedp.CSS("#groupName"), "Back Office"),
		chromedp.SendKeys(chromedp.CSS("#destination"), "1033"),
		chromedp.Click(chromedp.CSS("form.card button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#lineNumber")),
		chromedp.SendKeys(chromedp.CSS("#lineNumber"), "1001"),
		chromedp.Click(chromedp.CSS("form.inline-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#lineNumber-error a")))
	if got := b.text("#lineNumber-error"); !strings.Contains(got, `already belongs to group "Front Desk"`) {
		t.Errorf("refusal beside the field: %q", got)
	}
	b.run("the Groups tab", chromedp.Navigate(b.url("/groups")), chromedp.WaitVisible(chromedp.CSS("table")))
	b.screenshot("groups")

	// Switch it on from the State tab: the row says ON at once.
	b.run("switch ON",
		chromedp.Navigate(b.url("/state")),
		chromedp.WaitVisible(chromedp.CSS("#group-1 button")),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`window.notReloaded = true`)(ctx, t)
			return err
		}),
		chromedp.Click(chromedp.CSS("#group-1 button")),
		chromedp.WaitVisible(chromedp.CSS(`#group-1 .state.on`)))
	if got := b.text("#group-1 [data-state]"); got != "ON" {
		t.Fatalf("state after the click: %q", got)
	}
	b.screenshot("state")

	// A script switches it OFF through REST: the open page follows within
	// a second.
	switched := time.Now()
	resp, err := http.PostForm(b.url("/Rest/setDiversion"), url.Values{"groupId": {"1"}, "state": {"OFF"}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("REST switch: %v %v", resp, err)
	}
	resp.Body.Close()
	waitCtx, cancel := context.WithTimeout(b.ctx, time.Second)
	err = chromedp.Do(waitCtx, chromedp.WaitVisible(chromedp.CSS(`#group-1 .state.off`)))
	cancel()
	if err != nil {
		t.Fatalf("the State page did not follow the REST switch within a second: %v", err)
	}
	t.Logf("the State page showed the REST switch %v after it was sent", time.Since(switched).Round(time.Millisecond))
	if !eval[bool](b, "no reload", `window.notReloaded === true`) {
		t.Error("the State page reloaded to show the switch")
	}

	// The switch is in the report, with its user and channel.
	b.run("the Reports tab",
		chromedp.Navigate(b.url("/reports?action=Diversion")),
		chromedp.WaitVisible(chromedp.CSS("table tbody tr")))
	rows := eval[[]string](b, "read the report", `[...document.querySelectorAll("table tbody tr")].map(r => r.innerText.replace(/\s+/g, " "))`)
	if len(rows) != 2 || !strings.Contains(rows[0], "Deactivated localhost") || !strings.Contains(rows[0], "rest") ||
		!strings.Contains(rows[1], "Activated admin") || !strings.Contains(rows[1], "Front Desk web") {
		t.Errorf("report rows: %q", rows)
	}
	b.run("the whole report", chromedp.Navigate(b.url("/reports")), chromedp.WaitVisible(chromedp.CSS("figure.chart img")))
	b.screenshot("reports")

	// Upload a 44.1 kHz stereo WAV and play it back as callers hear it.
	wav := filepath.Join(t.TempDir(), "welcome-44k-stereo.wav")
	if err := os.WriteFile(wav, stereoWAV(), 0o644); err != nil {
		t.Fatal(err)
	}
	b.run("upload an announcement",
		chromedp.Navigate(b.url("/callhandler")),
		chromedp.WaitVisible(chromedp.CSS("#file")),
		chromedp.SendKeys(chromedp.CSS("#name"), "Welcome"),
		chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{wav}),
		chromedp.Click(chromedp.CSS("form[data-upload] button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(`audio[aria-label="Play Welcome"]`)))
	type playback struct {
		Duration float64 `json:"duration"`
		Time     float64 `json:"time"`
		Error    bool    `json:"error"`
	}
	played := eval[playback](b, "play it", `(async () => {
		const a = document.querySelector('audio[aria-label="Play Welcome"]');
		await a.play();
		await new Promise(r => setTimeout(r, 600));
		return {duration: a.duration, time: a.currentTime, error: a.error !== null};
	})()`)
	if played.Error || math.Abs(played.Duration-1) > 0.05 || played.Time < 0.2 {
		t.Errorf("playback: %+v, want a 1 s announcement playing", played)
	}
	b.screenshot("callhandler")
	broken, err := filepath.Abs("../prompts/testdata/broken-truncated.wav")
	if err != nil {
		t.Fatal(err)
	}
	b.run("upload a broken file",
		chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{broken}),
		chromedp.Click(chromedp.CSS("form[data-upload] button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(`[data-error-for=file]:not([hidden])`)))
	if got := b.text("[data-error-for=file]"); !strings.Contains(got, "holds only") {
		t.Errorf("refusal of the broken file: %q", got)
	}

	// A user with the State privilege alone.
	b.run("create a user",
		chromedp.Navigate(b.url("/users/new")),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), "reception"),
		chromedp.SendKeys(chromedp.CSS("#displayName"), "Tamara Farrow"),
		chromedp.SendKeys(chromedp.CSS("#department"), "Sales"),
		chromedp.SendKeys(chromedp.CSS("#lines"), "+41 44 555 10 22"),
		chromedp.SendKeys(chromedp.CSS("#password"), "front-desk-1"),
		chromedp.Click(chromedp.CSS("form.card button[type=submit]")),
		chromedp.WaitVisible(`//th[text()="reception"]`))
	b.screenshot("users")
	b.run("sign out", chromedp.Click(chromedp.CSS(".me button")), chromedp.WaitVisible(chromedp.CSS("#username")))
	b.signIn("reception", "front-desk-1", "#state-table")
	tabs := eval[[]string](b, "read the tabs", `[...document.querySelectorAll("nav a")].map(a => a.textContent)`)
	if strings.Join(tabs, ",") != "State" {
		t.Errorf("the State-only user sees the tabs %v", tabs)
	}
	if got := b.text("#group-1 td:nth-of-type(3)"); got != "Tamara Farrow, Sales" {
		t.Errorf("the destination's owner: %q", got)
	}
	for _, path := range []string{"/groups", "/callhandler", "/reports", "/users", "/groups/1/lines"} {
		status := eval[int](b, "fetch "+path, fmt.Sprintf(`fetch(%q).then(r => r.status)`, path))
		if status != http.StatusForbidden {
			t.Errorf("%s for the State-only user: %d, want 403", path, status)
		}
	}
	b.run("a refused tab by URL", chromedp.Navigate(b.url("/reports")), chromedp.WaitVisible(chromedp.CSS("p.error")))
	if got := b.text("p.error"); !strings.Contains(got, "Reports privilege") {
		t.Errorf("refusal page: %q", got)
	}
	// The State tab on a phone's screen, 360 px wide.
	b.run("a phone's screen",
		chromedp.EmulateViewport(360, 740, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(b.url("/state")),
		chromedp.WaitVisible(chromedp.CSS("#state-table")))
	if eval[bool](b, "fits", `document.documentElement.scrollWidth > window.innerWidth + 1`) {
		t.Error("the State tab is wider than a 360 px screen")
	}
	if !eval[bool](b, "the switch in view", `(() => {
		const r = document.querySelector("#group-1 button").getBoundingClientRect();
		return r.left >= 0 && r.right <= window.innerWidth && r.width > 0;
	})()`) {
		t.Error("the switch of a group is outside a 360 px screen")
	}
	b.screenshot("state-phone")
}
