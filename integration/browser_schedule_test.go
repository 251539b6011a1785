package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// A team lead draws a schedule on the group page's week grid with the
// mouse, saves it, and sees on the State tab how long the group's state
// holds; drawing over the same half hours removes them again.
func TestBrowserSchedule(t *testing.T) {
	p := startProduct(t, defaultSetup(false), "")
	b := newBrowser(t, p)
	b.signIn("admin", "integration-secret", "#live")

	// Two days ahead, 00:00 to 01:00 (the product's time zone is the
	// machine's, as this test's): never today, whatever the hour.
	day := time.Now().AddDate(0, 0, 2)
	weekday := int(day.Weekday())
	cell := func(slot int) string { return fmt.Sprintf(`td[data-day="%d"][data-slot="%d"]`, weekday, slot) }
	draw := func(what string) {
		b.run(what, chromedp.ScrollIntoView(chromedp.CSS(cell(0))))
		from := eval[[]float64](b, "the first cell", centre(cell(0)))
		to := eval[[]float64](b, "the last cell", centre(cell(1)))
		b.run(what,
			chromedp.MouseEvent(chromedp.MouseMoved, from[0], from[1]),
			chromedp.MouseEvent(chromedp.MousePressed, from[0], from[1], chromedp.ButtonLeft, chromedp.ClickCount(1)),
			chromedp.MouseEvent(chromedp.MouseMoved, to[0], to[1], chromedp.ButtonLeft),
			chromedp.MouseEvent(chromedp.MouseReleased, to[0], to[1], chromedp.ButtonLeft, chromedp.ClickCount(1)))
	}
	b.run("the group page", chromedp.Navigate(b.url("/groups/1")), chromedp.WaitVisible(chromedp.CSS("#ranges")))
	draw("draw an hour on the grid")
	want := day.Weekday().String()[:3] + " 00:00-01:00"
	if got := value(b, "the ranges field", chromedp.Value(chromedp.CSS("#ranges"))); got != want {
		t.Fatalf("the ranges field after drawing: %q, want %q", got, want)
	}
	b.screenshot("schedule")
	b.run("save the schedule",
		chromedp.Click(chromedp.CSS("form[data-schedule] button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(".flash")))
	if got := b.text(".flash"); !strings.Contains(got, "schedule of Sales is saved") {
		t.Errorf("after saving: %q", got)
	}
	if got := b.text(cell(1)); got != "" || !strings.Contains(eval[string](b, "the cell's class", `document.querySelector('`+cell(1)+`').className`), "on") {
		t.Errorf("the saved grid does not show the hour")
	}

	b.run("the State tab", chromedp.Navigate(b.url("/state")), chromedp.WaitVisible(chromedp.CSS("#group-1")))
	if got, want := b.text("#group-1 [data-next]"), "OFF until "+day.Weekday().String()+" 00:00"; got != want {
		t.Errorf("the State tab's next change: %q, want %q", got, want)
	}
	b.screenshot("state-next-change")
	// Switched ON by hand against the schedule: the row says how long
	// that holds, without a page load.
	b.run("switch ON by hand", chromedp.Click(chromedp.CSS("#group-1 form[data-switch] button")),
		chromedp.WaitVisible(chromedp.CSS("#group-1 .state.on")))
	want = "ON, manual until " + day.Weekday().String() + " 00:00"
	got := ""
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if got = eval[string](b, "the next change", `document.querySelector("#group-1 [data-next]").textContent`); got == want {
			break
		}
	}
	if got != want {
		t.Errorf("after the switch by hand the row says %q, want %q", got, want)
	}

	b.run("the group page again", chromedp.Navigate(b.url("/groups/1")), chromedp.WaitVisible(chromedp.CSS("#ranges")))
	draw("draw over the same hour")
	if got := value(b, "the ranges field", chromedp.Value(chromedp.CSS("#ranges"))); got != "" {
		t.Fatalf("the ranges field after drawing over the hour: %q, want it empty", got)
	}
	b.run("save no schedule",
		chromedp.Click(chromedp.CSS("form[data-schedule] button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(".flash")))
	b.run("the State tab again", chromedp.Navigate(b.url("/state")), chromedp.WaitVisible(chromedp.CSS("#group-1")))
	if got := b.text("#group-1 [data-next]"); got != "" {
		t.Errorf("a group without a schedule shows a next change: %q", got)
	}
}

// centre is a script giving the centre of an element in the viewport.
func centre(sel string) string {
	return `(() => { const r = document.querySelector('` + sel + `').getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()`
}
