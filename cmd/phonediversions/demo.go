package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/phonediversions/phonediversions/routing"
	"github.com/phonediversions/phonediversions/routing/sqlite"
)

// demoGroup is one group of the demo: the manual's examples.
type demoGroup struct {
	name, description, destination string
	lines                          []string
	on                             bool
}

// demoGroups are the groups of the original product's manual, with a few
// lines each.
var demoGroups = []demoGroup{
	{"Front desk", "Reception, ground floor", "1022", []string{"1100", "1101", "1102"}, true},
	{"1st level tech support", "Hotline, first answer", "9223", []string{"2100", "2101", "2102"}, false},
	{"2nd level tech support", "Specialists behind the hotline", "9271", []string{"2200", "2201"}, false},
	{"After-hour support", "Evenings and weekends; follows its plan", "5484", []string{"3100", "3101"}, false},
	{"Billing & Accounts", "Invoices and payments", "1071", []string{"4100", "4101"}, false},
	{"Human Resources", "Staff matters", "1002", []string{"5100", "5101"}, false},
}

// demoUser is one user of the demo: one for each privilege, and the
// owners of the groups' destinations.
type demoUser struct {
	username, name, department string
	lines                      []string
	privileges                 routing.Privileges
}

var demoUsers = []demoUser{
	{username: "admin", name: "Alex Admin", department: "IT", privileges: routing.PrivAdmin},
	{username: "reception", name: "Rita Reception", department: "Front office", lines: []string{"1022"}, privileges: routing.PrivState},
	{username: "techlead", name: "Tom Techlead", department: "Support", lines: []string{"9223", "9271", "5484"}, privileges: routing.PrivState | routing.PrivGroups},
	{username: "callhandler", name: "Carla Calls", department: "IT", privileges: routing.PrivCallHandler},
	{username: "billing", name: "Ben Billing", department: "Finance", lines: []string{"1071"}, privileges: routing.PrivState | routing.PrivReports},
	{username: "hr", name: "Hanna HR", department: "Human Resources", lines: []string{"1002"}, privileges: routing.PrivState},
	{username: "script", name: "Nightly script", department: "IT", privileges: routing.PrivREST},
}

// runDemo is `phonediversions demo` (or --demo): the product on a
// throw-away data folder holding the manual's example groups, a user per
// privilege and a plan on one group, with what to open and try printed;
// the folder is removed when it stops. The settings given (ports, …)
// apply; data_dir and database_url are the demo's own whatever is set,
// so no real data folder is touched.
func runDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	dir, err := os.MkdirTemp("", "phonediversions-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// Local by default: a demo listens on this machine only.
	defaults := []string{"--sip-addr", "127.0.0.1", "--sip-udp-port", "0", "--sip-tcp-port", "0", "--rtp-addr", "127.0.0.1",
		"--http-addr", demoHTTPAddr(), "--log-level", "warn"}
	cfg, err := ParseConfig(append(defaults, args...), getenv, stdout)
	if err != nil {
		return err
	}
	cfg.DataDir, cfg.DatabaseURL, cfg.AdminPassword = dir, "", ""
	passwords, err := seedDemo(ctx, filepath.Join(dir, "phonediversions.db"))
	if err != nil {
		return fmt.Errorf("demo data: %w", err)
	}
	m := NewMain(cfg, io.Discard, stderr)
	if err := m.Run(ctx); err != nil {
		m.Close()
		return err
	}
	defer m.Close()
	printDemo(ctx, stdout, m, dir, passwords)
	<-ctx.Done()
	fmt.Fprintln(stdout, "\nStopping the demo; its data folder is removed.")
	return nil
}

// demoHTTPAddr is 127.0.0.1:8080 when that port is free, else a free one.
func demoHTTPAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:8080")
	if err != nil {
		return "127.0.0.1:0"
	}
	l.Close()
	return "127.0.0.1:8080"
}

// seedDemo fills a new database with the demo's groups, lines, users,
// plan and settings, and returns the password it gave each user.
func seedDemo(ctx context.Context, path string) (map[string]string, error) {
	passwords := map[string]string{}
	db := sqlite.New(path)
	if err := db.Open(); err != nil {
		return nil, err
	}
	defer db.Close()
	svc := routing.NewService(db)
	actor := routing.Actor{Name: "demo"}
	ch := routing.ChannelWeb
	for _, dg := range demoGroups {
		g, err := svc.CreateGroup(ctx, actor, ch, routing.Group{Name: dg.name, Description: dg.description, Destination: dg.destination})
		if err != nil {
			return nil, err
		}
		for _, l := range dg.lines {
			if _, err := svc.AddLine(ctx, actor, ch, g.ID, l, ""); err != nil {
				return nil, err
			}
		}
		if dg.on {
			if _, err := svc.SetState(ctx, g.ID, true, actor, ch); err != nil {
				return nil, err
			}
		}
		if dg.name == "After-hour support" {
			// ON on weekday evenings and nights and all weekend.
			var plan []routing.Range
			for d := time.Monday; d <= time.Friday; d++ {
				plan = append(plan, routing.Range{Day: d, Start: 0, End: 8 * 60}, routing.Range{Day: d, Start: 18 * 60, End: routing.MinutesPerDay})
			}
			plan = append(plan, routing.Range{Day: time.Saturday, End: routing.MinutesPerDay}, routing.Range{Day: time.Sunday, End: routing.MinutesPerDay})
			if _, err := svc.SetSchedule(ctx, actor, ch, g.ID, plan); err != nil {
				return nil, err
			}
		}
	}
	for _, u := range demoUsers {
		passwords[u.username] = generatePassword()
		if _, err := svc.CreateUser(ctx, actor, ch, routing.NewUser{Username: u.username, DisplayName: u.name, Department: u.department,
			Lines: u.lines, Privileges: u.privileges, Password: passwords[u.username]}); err != nil {
			return nil, err
		}
	}
	off := false // no PBX behind the demo to connect to: announcement, then hang-up
	_, err := svc.UpdateSettings(ctx, actor, ch, routing.SettingsUpdate{ConnectToCalled: &off, DirectAccess: &[]string{"5550100"}})
	return passwords, err
}

// printDemo prints the demo's first screen.
func printDemo(ctx context.Context, w io.Writer, m *Main, dir string, passwords map[string]string) {
	web := m.HTTP.PublicURL("/", nil)
	fmt.Fprintf(w, `
PhoneDiversions demo — data in %s, removed when it stops (Ctrl-C).

Open %s and sign in as one of these users (each sees the tabs of its privileges):

`, dir, web)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  user\tpassword\tprivileges\towns")
	for _, u := range demoUsers {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", u.username, passwords[u.username], u.privileges, strings.Join(u.lines, ", "))
	}
	tw.Flush()
	fmt.Fprintln(w, "\nThe groups (Front desk is ON; After-hour support follows a plan: weekday evenings and nights, weekends):")
	tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  group\tdestination\tlines")
	for _, g := range demoGroups {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", g.name, g.destination, strings.Join(g.lines, ", "))
	}
	tw.Flush()
	menu, _ := m.HTTP.PhoneServiceURL(ctx, 0)
	sip := fmt.Sprintf("127.0.0.1:%d", m.SIP.UDPPort())
	fmt.Fprintf(w, `
Try:
  - Switch a group on the State tab (as reception), and watch the live view in a second window.
  - The REST API from this machine, as a script would:
      curl -s %sRest/listGroups
      curl -s -X POST '%sRest/toggleDiversion?groupId=5'
  - The Cisco IP phone service's menu, a phone's view of the groups (CUCM fills in #DEVICENAME#):
      %s
  - A call diverted from Front desk's line 1100 to its destination 1022, as the PBX would send it
    (the caller hears the announcement, then the product hangs up):
      phonediversions probe sip:1022@%s --diverted-from 1100
    A caller on the direct-access list is connected without it: add --from 5550100
    (there is no PBX behind the demo, so that call cannot be connected).
  - The Reports tab (as billing) then shows the switches and the calls.
`, web, web, menu, sip)
}
