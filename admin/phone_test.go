package admin_test

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/phonediversions/phonediversions/admin"
	"github.com/phonediversions/phonediversions/routing"
)

// xmlNode is a parsed element, children in document order.
type xmlNode struct {
	Name     string
	Text     string
	Children []*xmlNode
}

func (n *xmlNode) child(name string) *xmlNode {
	for _, c := range n.Children {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (n *xmlNode) all(name string) []*xmlNode {
	var out []*xmlNode
	for _, c := range n.Children {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

// parsePhoneXML parses a phone answer, decoding the encoding its prolog
// declares.
func parsePhoneXML(t *testing.T, r response) *xmlNode {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "text/xml; charset=ISO-8859-1" {
		t.Fatalf("Content-Type %q", ct)
	}
	if !strings.HasPrefix(r.body, `<?xml version="1.0" encoding="ISO-8859-1"?>`) {
		t.Fatalf("prolog does not declare the charset of the Content-Type: %q", r.body[:min(60, len(r.body))])
	}
	dec := xml.NewDecoder(strings.NewReader(r.body))
	dec.CharsetReader = func(charset string, in io.Reader) (io.Reader, error) {
		b, err := io.ReadAll(in)
		var out bytes.Buffer
		for _, c := range b {
			out.WriteRune(rune(c))
		}
		return &out, err
	}
	var stack []*xmlNode
	var root *xmlNode
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, r.body)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &xmlNode{Name: tok.Name.Local}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.Children = append(p.Children, n)
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].Text += strings.TrimSpace(string(tok))
			}
		}
	}
	return root
}

// checkOrder fails unless the root's children come in the order Cisco
// phones require: each name of order, each repeated or absent.
func checkOrder(t *testing.T, root *xmlNode, order ...string) {
	t.Helper()
	i := 0
	for _, c := range root.Children {
		for i < len(order) && order[i] != c.Name {
			i++
		}
		if i == len(order) {
			t.Fatalf("element %s out of order (want %v)", c.Name, order)
		}
	}
}

type softKeyItem struct {
	name, url string
	position  int
}

// checkSoftKeys checks the soft keys and returns them by name.
func checkSoftKeys(t *testing.T, root *xmlNode) map[string]softKeyItem {
	t.Helper()
	keys := map[string]softKeyItem{}
	positions := map[int]bool{}
	for _, k := range root.all("SoftKeyItem") {
		pos, err := strconv.Atoi(k.child("Position").Text)
		if err != nil || pos < 1 || pos > 8 || positions[pos] {
			t.Errorf("soft key %q at position %q", k.child("Name").Text, k.child("Position").Text)
		}
		positions[pos] = true
		item := softKeyItem{name: k.child("Name").Text, url: k.child("URL").Text, position: pos}
		if !strings.HasPrefix(item.url, "SoftKey:") {
			checkAbsolute(t, item.url)
		}
		keys[item.name] = item
	}
	if _, ok := keys["Exit"]; !ok || keys["Exit"].url != "SoftKey:Exit" {
		t.Errorf("no Exit soft key: %v", keys)
	}
	return keys
}

// checkAbsolute checks a URL the phone will follow: absolute, on the
// public URL, and parsable.
func checkAbsolute(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host != "phones.example.net:8080" || u.Path != "/phone" {
		t.Fatalf("URL %q is not the absolute phone service URL", raw)
	}
	if len(raw) > 256 {
		t.Errorf("URL of %d characters: phones take 256", len(raw))
	}
	return u
}

// followPhone requests a URL the phone was given, on the test server.
func (f *fixture) followPhone(raw string) response {
	f.t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.get(u.RequestURI())
}

func TestPhoneServiceMenus(t *testing.T) {
	for _, n := range []int{0, 1, 2, 250} {
		t.Run(fmt.Sprintf("%d groups", n), func(t *testing.T) {
			f := newFixture(t)
			var groups []routing.Group
			for i := range n {
				name := fmt.Sprintf("Group %03d", i)
				if i == 1 {
					name = "Vladislav Jovanović — a group name as long as the product allows"
				}
				groups = append(groups, f.group(name, strconv.Itoa(1000+i), ""))
			}
			r := f.get(f.phoneURL(0, "SEP001122334455"))
			if r.status != 200 {
				t.Fatalf("status %d", r.status)
			}
			root := parsePhoneXML(t, r)
			switch n {
			case 0:
				if root.Name != "CiscoIPPhoneText" || !strings.Contains(root.child("Text").Text, "No diversion groups") {
					t.Fatalf("no groups: %s", r.body)
				}
				checkOrder(t, root, "Title", "Prompt", "Text", "SoftKeyItem")
				checkSoftKeys(t, root)
			case 1:
				// The only group is toggled at once.
				if root.Name != "CiscoIPPhoneText" || !strings.Contains(root.child("Text").Text, "now ON") {
					t.Fatalf("one group: %s", r.body)
				}
				checkOrder(t, root, "Title", "Prompt", "Text", "SoftKeyItem")
				checkSoftKeys(t, root)
				g, _ := f.svc.Group(ctx, groups[0].ID)
				if !g.On {
					t.Error("the only group was not switched ON")
				}
				if e := f.lastReport(); e.Username != "phone SEP001122334455" || e.Channel != routing.ChannelPhone || e.Status != routing.StatusActivated {
					t.Errorf("reported as %+v", e)
				}
			default:
				checkMenu(t, f, root, groups)
			}
		})
	}
}

// checkMenu walks every page of the menu and toggles one group from it.
func checkMenu(t *testing.T, f *fixture, root *xmlNode, groups []routing.Group) {
	t.Helper()
	pages := (len(groups) + 99) / 100
	var names []string
	for page := 1; ; page++ {
		if root.Name != "CiscoIPPhoneMenu" {
			t.Fatalf("page %d: root %s", page, root.Name)
		}
		checkOrder(t, root, "Title", "Prompt", "MenuItem", "SoftKeyItem")
		for _, el := range []string{"Title", "Prompt"} {
			if c := root.child(el); c == nil || utf8.RuneCountInString(c.Text) > 32 {
				t.Errorf("page %d: %s %v", page, el, c)
			}
		}
		items := root.all("MenuItem")
		if len(items) == 0 || len(items) > 100 {
			t.Fatalf("page %d: %d items", page, len(items))
		}
		for _, it := range items {
			name := it.child("Name").Text
			if utf8.RuneCountInString(name) > 64 || !strings.HasSuffix(name, ": OFF") {
				t.Errorf("item name %q: want at most 64 characters ending in the state", name)
			}
			u := checkAbsolute(t, it.child("URL").Text)
			if u.Query().Get("name") != "SEP001122334455" || u.Query().Get("groupID") == "" {
				t.Errorf("item URL %q lacks the group or the device", u)
			}
			names = append(names, name)
		}
		keys := checkSoftKeys(t, root)
		if keys["Select"].url != "SoftKey:Select" {
			t.Errorf("page %d: no Select soft key", page)
		}
		if _, ok := keys["Previous"]; ok != (page > 1) {
			t.Errorf("page %d of %d: Previous %v", page, pages, ok)
		}
		next, ok := keys["Next"]
		if ok != (page < pages) {
			t.Errorf("page %d of %d: Next %v", page, pages, ok)
		}
		if pages > 1 && !strings.Contains(root.child("Title").Text, fmt.Sprintf("%d/%d", page, pages)) {
			t.Errorf("title %q does not say the page", root.child("Title").Text)
		}
		if !ok {
			break
		}
		root = parsePhoneXML(t, f.followPhone(next.url))
	}
	if len(names) != len(groups) {
		t.Fatalf("the menu lists %d groups, want %d", len(names), len(groups))
	}
	if !slices.ContainsFunc(names, func(n string) bool {
		return strings.HasPrefix(n, "Vladislav Jovanović — a group name") && strings.HasSuffix(n, ": OFF")
	}) {
		t.Error("the longest name is not shown with its state")
	}
	// Choose the last item of the last page: the group toggles and the
	// Back soft key leads to that page again.
	items := root.all("MenuItem")
	chosen := items[len(items)-1]
	r := f.followPhone(chosen.child("URL").Text)
	text := parsePhoneXML(t, r)
	if text.Name != "CiscoIPPhoneText" || !strings.Contains(text.child("Text").Text, "now ON") {
		t.Fatalf("after choosing: %s", r.body)
	}
	keys := checkSoftKeys(t, text)
	back := checkAbsolute(t, keys["Back"].url)
	if back.Query().Get("page") != strconv.Itoa(pages) {
		t.Errorf("Back leads to %q, want page %d", back, pages)
	}
	again := parsePhoneXML(t, f.followPhone(keys["Back"].url))
	items = again.all("MenuItem")
	if got := items[len(items)-1].child("Name").Text; !strings.HasSuffix(got, ": ON") {
		t.Errorf("the menu shows %q after the switch", got)
	}
	// listGroups sees it too, and the report names the device.
	id := checkAbsolute(t, chosen.child("URL").Text).Query().Get("groupID")
	if lg := f.get("/Rest/listGroups?groupId=" + id); !strings.Contains(lg.body, "<State>ON</State>") {
		t.Errorf("listGroups after the phone switch: %s", lg.body)
	}
	if e := f.lastReport(); e.Username != "phone SEP001122334455" || e.Channel != routing.ChannelPhone {
		t.Errorf("reported as %+v", e)
	}
}

func TestPhoneServiceGroupID(t *testing.T) {
	f := newFixture(t)
	g := f.group("Front Desk", "1022", "")
	f.group("Back Office", "1023", "")
	frontDesk := f.phoneURL(g.ID, "SEPAABBCCDDEEFF")
	r := f.get(frontDesk)
	root := parsePhoneXML(t, r)
	if root.Name != "CiscoIPPhoneText" || root.child("Title").Text != "Front Desk" ||
		root.child("Text").Text != "The diversion of Front Desk is now ON. Calls go to 1022." {
		t.Fatalf("toggle: %s", r.body)
	}
	checkSoftKeys(t, root)
	// Parameter names in any case, as CUCM administrators type them.
	upper := strings.NewReplacer("groupID=", "GROUPID=", "name=", "Name=").Replace(frontDesk)
	root = parsePhoneXML(t, f.get(upper))
	if root.child("Text").Text != "The diversion of Front Desk is now OFF." {
		t.Errorf("second toggle: %q", root.child("Text").Text)
	}
	page, _ := f.svc.Reports(ctx, routing.ReportFilter{Action: routing.ActionDiversion})
	if page.Total != 2 || page.Entries[0].Username != "phone SEPAABBCCDDEEFF" || page.Entries[0].Channel != routing.ChannelPhone {
		t.Errorf("report: %+v", page)
	}
	// Another group id with this URL's key, or an id that is no group,
	// switches nothing.
	for _, bad := range []string{"999", "abc", "-1", "1e9", strconv.FormatInt(g.ID+1, 10)} {
		before := f.snapshot()
		r := f.get(strings.Replace(frontDesk, "groupID="+strconv.FormatInt(g.ID, 10), "groupID="+bad, 1))
		root := parsePhoneXML(t, r)
		if r.status != 403 || root.Name != "CiscoIPPhoneText" || !strings.Contains(root.child("Text").Text, "Copy it again from the Groups tab") {
			t.Errorf("groupID=%s: %d %s", bad, r.status, r.body)
		}
		if after := f.snapshot(); after.Reports != before.Reports {
			t.Errorf("groupID=%s changed the store", bad)
		}
	}
}

func TestPhoneServiceNetworks(t *testing.T) {
	f := newFixture(t, func(f *fixture) { f.cfg.PhoneNetworks = admin.Networks{prefix("127.0.0.1/32")} })
	g := f.group("Front Desk", "1022", "")
	r := f.do(client("127.0.0.2"), "GET", f.phoneURL(g.ID, "SEP1"), nil)
	if r.status != 403 {
		t.Fatalf("from outside the phone networks: %d", r.status)
	}
	if got, _ := f.svc.Group(ctx, g.ID); got.On {
		t.Error("a refused phone switched the group")
	}
	// A phone without a device name is reported by its address, as a
	// phone.
	f.get(f.phoneURL(g.ID, ""))
	if e := f.lastReport(); e.Username != "phone at 127.0.0.1" {
		t.Errorf("nameless phone reported as %q", e.Username)
	}
}

// On a group that follows a schedule, the text after a switch says how
// long the manual state holds and what the schedule does then.
func TestPhoneToggleSaysHowLongItHolds(t *testing.T) {
	f := newFixture(t) // Saturday 2026-11-28, 09:00 in Zurich
	g := f.group("Front Desk", "1022", "")
	ranges, err := routing.ParseRanges("Sat 08:00-18:00", "ranges")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SetSchedule(ctx, routing.Actor{Name: "admin"}, routing.ChannelWeb, g.ID, ranges); err != nil {
		t.Fatal(err)
	}
	url := f.phoneURL(g.ID, "SEPAABBCCDDEEFF")
	// The plan wants ON now: switching ON follows it.
	root := parsePhoneXML(t, f.get(url))
	if want := "The diversion of Front Desk is now ON. Calls go to 1022. The schedule switches it OFF at 18:00."; root.child("Text").Text != want {
		t.Errorf("switched ON:\n%q\nwant\n%q", root.child("Text").Text, want)
	}
	// Switching OFF goes against it until 18:00.
	root = parsePhoneXML(t, f.get(url))
	if want := "The diversion of Front Desk is now OFF. This holds until 18:00, when the schedule wants it OFF too."; root.child("Text").Text != want {
		t.Errorf("switched OFF:\n%q\nwant\n%q", root.child("Text").Text, want)
	}
	ranges, _ = routing.ParseRanges("Sat 12:00-18:00", "ranges")
	if _, err := f.svc.SetSchedule(ctx, routing.Actor{Name: "admin"}, routing.ChannelWeb, g.ID, ranges); err != nil {
		t.Fatal(err)
	}
	// Now (09:00) the plan wants OFF until 12:00: switching ON holds until
	// then, and the schedule keeps it ON from 12:00.
	root = parsePhoneXML(t, f.get(url))
	if want := "The diversion of Front Desk is now ON. Calls go to 1022. This holds until 12:00, when the schedule wants it ON too."; root.child("Text").Text != want {
		t.Errorf("switched ON before the range:\n%q\nwant\n%q", root.child("Text").Text, want)
	}
}

// TestPhoneServiceKey is door 1: the phone service switches a group only
// through a URL the product gave out for that group. Without its key —
// an <img> on any page, a guessed groupID, the menu's key with a groupID
// added, a HEAD request — nothing changes and the phone is told to copy
// the URL again. Renewing the key retires every URL given out before.
func TestPhoneServiceKey(t *testing.T) {
	f := newFixture(t)
	g := f.group("Front Desk", "1022", "")
	other := f.group("Back Office", "1023", "")
	id := strconv.FormatInt(g.ID, 10)
	good := f.phoneURL(g.ID, "SEP001122334455")
	menu := f.phoneURL(0, "SEP001122334455")
	refused := []struct{ name, method, path string }{
		{"no key", "GET", "/phone?groupID=" + id},
		{"no key, device name", "GET", "/phone?groupID=" + id + "&name=SEP001122334455"},
		{"no key, POST", "POST", "/phone?groupID=" + id},
		{"empty key", "GET", "/phone?groupID=" + id + "&key="},
		{"another group's key", "GET", strings.Replace(f.phoneURL(other.ID, "SEP1"), "groupID="+strconv.FormatInt(other.ID, 10), "groupID="+id, 1)},
		{"the menu's key with a group", "GET", menu + "&groupID=" + id},
		{"a key with one character changed", "GET", flipLastKeyChar(good)},
		{"no key, menu", "GET", "/phone?name=SEP001122334455"},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			before := f.snapshot()
			r := f.do(local, c.method, c.path, nil)
			root := parsePhoneXML(t, r)
			if r.status != 403 || root.Name != "CiscoIPPhoneText" ||
				!strings.Contains(root.child("Text").Text, "not valid") || !strings.Contains(root.child("Text").Text, "Groups tab") {
				t.Errorf("%s %s: %d %s", c.method, c.path, r.status, r.body)
			}
			if after := f.snapshot(); !reflect.DeepEqual(after, before) {
				t.Errorf("%s changed the store", c.path)
			}
		})
	}
	// HEAD never switches, even with the key.
	before := f.snapshot()
	if r := f.do(local, "HEAD", good, nil); r.status != 200 {
		t.Errorf("HEAD: %d", r.status)
	}
	if after := f.snapshot(); !reflect.DeepEqual(after, before) {
		t.Error("HEAD switched the group")
	}
	// The URL of the Groups tab switches, and the report names the phone
	// as a phone.
	if r := f.get(good); r.status != 200 || !strings.Contains(r.body, "now ON") {
		t.Fatalf("the Groups tab's URL: %d %s", r.status, r.body)
	}
	if e := f.lastReport(); e.Username != "phone SEP001122334455" || e.Channel != routing.ChannelPhone {
		t.Errorf("reported as %q on %s", e.Username, e.Channel)
	}
	// The Groups tab says what renewing does before it is done.
	page := f.groupsTab.get("/groups")
	if !strings.Contains(page.body, "changes <strong>every</strong> phone service URL") {
		t.Errorf("the Groups tab does not warn before renewing:\n%s", page.body)
	}
	if r := f.groupsTab.post("/phone-service/renew", nil); r.status != 303 {
		t.Fatalf("renew: %d %s", r.status, r.body)
	}
	before = f.snapshot()
	if r := f.get(good); r.status != 403 {
		t.Errorf("a URL given out before the renewal: %d", r.status)
	}
	if after := f.snapshot(); after.Groups[0].On != before.Groups[0].On {
		t.Error("the old URL still switches")
	}
	renewed := f.phoneURL(g.ID, "SEP001122334455")
	if renewed == good {
		t.Fatal("the Groups tab shows the same URL after the renewal")
	}
	if r := f.get(renewed); r.status != 200 || !strings.Contains(r.body, "now OFF") {
		t.Errorf("the renewed URL: %d %s", r.status, r.body)
	}
	// Only an administrator renews.
	f.user("lead", "password-lead", routing.PrivGroups)
	lead := f.signIn("lead", "password-lead")
	if r := lead.post("/phone-service/renew", nil); r.status != 403 {
		t.Errorf("renew by a user without Admin: %d", r.status)
	}
	if f.phoneURL(g.ID, "SEP001122334455") != renewed {
		t.Error("a refused renewal changed the URLs")
	}
}

// flipLastKeyChar changes the last character of the key= value.
func flipLastKeyChar(u string) string {
	i := strings.Index(u, "key=") + len("key=")
	j := i + strings.IndexAny(u[i:], "&")
	if j < i {
		j = len(u)
	}
	c := byte('A')
	if u[j-1] == 'A' {
		c = 'B'
	}
	return u[:j-1] + string(c) + u[j:]
}
