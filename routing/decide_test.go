package routing_test

import (
	"testing"

	"github.com/phonediversions/phonediversions/routing"
)

func TestDecide(t *testing.T) {
	sales := routing.Group{ID: 7, Name: "Sales", Destination: "5000", On: true}
	salesAnn := routing.Group{ID: 8, Name: "Support", Destination: "+41445000", On: true, AnnouncementID: 42}
	off := routing.Group{ID: 9, Name: "Night", Destination: "5000", On: false}
	line := func(n string, g routing.Group) *routing.LineGroup {
		return &routing.LineGroup{Line: routing.Line{Number: n, GroupID: g.ID}, Group: g}
	}
	connect := routing.Settings{ConnectToCalled: true, AnnouncementID: 3, DirectAccess: []string{"+41 44 123 45 67", "0800", "2001"}}
	hangup := routing.Settings{ConnectToCalled: false, AnnouncementID: 3}
	builtin := routing.Settings{ConnectToCalled: true}

	tests := []struct {
		name  string
		call  routing.Call
		facts routing.Facts
		want  routing.Decision
	}{
		{
			name:  "own loop mark is refused",
			call:  routing.Call{Caller: "2001", Called: "5000", Initial: "1001", LoopMark: true},
			facts: routing.Facts{Settings: connect, InitialLine: line("1001", sales)},
			want:  routing.Decision{Verdict: routing.VerdictReject, Reason: routing.RejectLoop},
		},
		{
			name:  "diverted call, connect on: announce then bridge to the initial number with the global announcement",
			call:  routing.Call{Caller: "3333", Called: "5000", Initial: "1001"},
			facts: routing.Facts{Settings: connect, InitialLine: line("1001", sales)},
			want: routing.Decision{Verdict: routing.VerdictAnnounceThenBridge, Target: "1001", AnnouncementID: 3,
				Status: routing.StatusConnected, Group: "Sales", GroupID: 7},
		},
		{
			name:  "diverted call, group's own announcement overrides the global one",
			call:  routing.Call{Caller: "3333", Called: "5000", Initial: "1002"},
			facts: routing.Facts{Settings: connect, InitialLine: line("1002", salesAnn)},
			want: routing.Decision{Verdict: routing.VerdictAnnounceThenBridge, Target: "1002", AnnouncementID: 42,
				Status: routing.StatusConnected, Group: "Support", GroupID: 8},
		},
		{
			name:  "diverted call, connect off: announce then hang up",
			call:  routing.Call{Caller: "3333", Called: "5000", Initial: "1001"},
			facts: routing.Facts{Settings: hangup, InitialLine: line("1001", sales)},
			want: routing.Decision{Verdict: routing.VerdictAnnounceThenHangup, AnnouncementID: 3,
				Status: routing.StatusTerminated, Group: "Sales", GroupID: 7},
		},
		{
			name:  "diverted call, no announcement chosen: built-in one (id 0)",
			call:  routing.Call{Caller: "3333", Called: "5000", Initial: "1001"},
			facts: routing.Facts{Settings: builtin, InitialLine: line("1001", sales)},
			want: routing.Decision{Verdict: routing.VerdictAnnounceThenBridge, Target: "1001",
				Status: routing.StatusConnected, Group: "Sales", GroupID: 7},
		},
		{
			name:  "direct-access caller is bridged at once without announcement",
			call:  routing.Call{Caller: "2001", Called: "5000", Initial: "1002"},
			facts: routing.Facts{Settings: connect, InitialLine: line("1002", salesAnn)},
			want: routing.Decision{Verdict: routing.VerdictBridge, Target: "1002",
				Status: routing.StatusDirectAccess, Group: "Support", GroupID: 8},
		},
		{
			name:  "direct-access matches a number written with spaces and +",
			call:  routing.Call{Caller: "+41441234567", Called: "5000", Initial: "1001"},
			facts: routing.Facts{Settings: connect, InitialLine: line("1001", sales)},
			want: routing.Decision{Verdict: routing.VerdictBridge, Target: "1001",
				Status: routing.StatusDirectAccess, Group: "Sales", GroupID: 7},
		},
		{
			name:  "leading zeros are significant: 00800 is not 0800",
			call:  routing.Call{Caller: "00800", Called: "5000", Initial: "1001"},
			facts: routing.Facts{Settings: connect, InitialLine: line("1001", sales)},
			want: routing.Decision{Verdict: routing.VerdictAnnounceThenBridge, Target: "1001", AnnouncementID: 3,
				Status: routing.StatusConnected, Group: "Sales", GroupID: 7},
		},
		{
			name:  "a + number is not the same number without +",
			call:  routing.Call{Caller: "41441234567", Called: "5000", Initial: "1001"},
			facts: routing.Facts{Settings: connect, InitialLine: line("1001", sales)},
			want: routing.Decision{Verdict: routing.VerdictAnnounceThenBridge, Target: "1001", AnnouncementID: 3,
				Status: routing.StatusConnected, Group: "Sales", GroupID: 7},
		},
		{
			name:  "diverted call whose initial number is in no group still gets the call handler",
			call:  routing.Call{Caller: "3333", Called: "5000", Initial: "+41 44 999"},
			facts: routing.Facts{Settings: connect},
			want: routing.Decision{Verdict: routing.VerdictAnnounceThenBridge, Target: "+4144999", AnnouncementID: 3,
				Status: routing.StatusConnected},
		},
		{
			name:  "call to a line of a group that is ON is diverted to the destination",
			call:  routing.Call{Caller: "3333", Called: "1001"},
			facts: routing.Facts{Settings: connect, CalledLine: line("1001", sales)},
			want: routing.Decision{Verdict: routing.VerdictDivert, Target: "5000", DivertedFrom: "1001",
				Status: routing.StatusConnected, Group: "Sales", GroupID: 7},
		},
		{
			name:  "call to a line of a group that is OFF goes to the line",
			call:  routing.Call{Caller: "3333", Called: "1003"},
			facts: routing.Facts{Settings: connect, CalledLine: line("1003", off)},
			want: routing.Decision{Verdict: routing.VerdictBridge, Target: "1003",
				Status: routing.StatusConnected, Group: "Night", GroupID: 9},
		},
		{
			name:  "a direct-access caller to a line of a group that is ON is diverted too",
			call:  routing.Call{Caller: "2001", Called: "1001"},
			facts: routing.Facts{Settings: connect, CalledLine: line("1001", sales)},
			want: routing.Decision{Verdict: routing.VerdictDivert, Target: "5000", DivertedFrom: "1001",
				Status: routing.StatusConnected, Group: "Sales", GroupID: 7},
		},
		{
			name:  "redirected call to one of our lines: routing applies to the line",
			call:  routing.Call{Caller: "3333", Called: "1003", Initial: "7777"},
			facts: routing.Facts{Settings: connect, CalledLine: line("1003", off)},
			want: routing.Decision{Verdict: routing.VerdictBridge, Target: "1003",
				Status: routing.StatusConnected, Group: "Night", GroupID: 9},
		},
		{
			name:  "not diverted, line in no group: unknown number",
			call:  routing.Call{Caller: "3333", Called: "4711"},
			facts: routing.Facts{Settings: connect},
			want:  routing.Decision{Verdict: routing.VerdictReject, Reason: routing.RejectNotFound},
		},
		{
			name:  "called number that is no dial string",
			call:  routing.Call{Caller: "3333", Called: "alice"},
			facts: routing.Facts{Settings: connect},
			want:  routing.Decision{Verdict: routing.VerdictReject, Reason: routing.RejectInvalid},
		},
		{
			name:  "initial number that is no dial string",
			call:  routing.Call{Caller: "3333", Called: "5000", Initial: "bob"},
			facts: routing.Facts{Settings: connect},
			want:  routing.Decision{Verdict: routing.VerdictReject, Reason: routing.RejectInvalid},
		},
		{
			name:  "anonymous caller is never direct access",
			call:  routing.Call{Caller: "anonymous", Called: "5000", Initial: "1001"},
			facts: routing.Facts{Settings: connect, InitialLine: line("1001", sales)},
			want: routing.Decision{Verdict: routing.VerdictAnnounceThenBridge, Target: "1001", AnnouncementID: 3,
				Status: routing.StatusConnected, Group: "Sales", GroupID: 7},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := routing.Decide(tt.call, tt.facts)
			if got != tt.want {
				t.Errorf("Decide()\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestNormalizeNumber(t *testing.T) {
	tests := []struct {
		in, want string
		code     string
	}{
		{in: "1001", want: "1001"},
		{in: " +41 (0)44 123-45.67 ", want: "+410441234567"},
		{in: "0044 20 7946 0000", want: "00442079460000"},
		{in: "*21#", want: "*21#"},
		{in: "007", want: "007"},
		{in: "", code: routing.EINVALID},
		{in: "+", code: routing.EINVALID},
		{in: "12+3", code: routing.EINVALID},
		{in: "++1", code: routing.EINVALID},
		{in: "10O1", code: routing.EINVALID},
		{in: "sip:1001@host", code: routing.EINVALID},
		{in: "123456789012345678901234567890123", code: routing.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := routing.NormalizeNumber("destination", tt.in)
			if routing.ErrorCode(err) != tt.code {
				t.Fatalf("error %v, want code %q", err, tt.code)
			}
			if err != nil && routing.ErrorField(err) != "destination" {
				t.Errorf("error field %q, want destination", routing.ErrorField(err))
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestCallsFollowEveryChange: the calls' view in memory shows every
// change at once: a switch by storing the group's new state (the view is
// not read again), any other change by a view read anew; on a shared
// store, the changes of another node too.
func TestCallsFollowEveryChange(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		where := newDatabase(t)
		svc := routing.NewService(openStore(t, where, nil))
		g, err := svc.CreateGroup(ctx, admin, routing.ChannelWeb, routing.Group{Name: "Front Desk", Destination: "1022"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.AddLine(ctx, admin, routing.ChannelWeb, g.ID, "1001", ""); err != nil {
			t.Fatal(err)
		}
		decide := func(want routing.Verdict, target string) {
			t.Helper()
			d, err := svc.DecideCall(ctx, routing.Call{Caller: "0441234567", Called: "1001"})
			if err != nil || d.Verdict != want || d.Target != target {
				t.Fatalf("call to 1001: %v to %q (%v), want %v to %q", d.Verdict, d.Target, err, want, target)
			}
		}
		decide(routing.VerdictBridge, "1001")
		reads := routing.ViewReads(svc)
		if _, err := svc.SetState(ctx, g.ID, true, admin, routing.ChannelWeb); err != nil {
			t.Fatal(err)
		}
		decide(routing.VerdictDivert, "1022")
		if _, err := svc.Toggle(ctx, g.ID, admin, routing.ChannelPhone); err != nil {
			t.Fatal(err)
		}
		decide(routing.VerdictBridge, "1001")
		if n := routing.ViewReads(svc) - reads; n != 0 {
			t.Errorf("the view was read %d times for two switches, want 0", n)
		}
		dest := "1033"
		if _, err := svc.UpdateGroup(ctx, admin, routing.ChannelWeb, g.ID, routing.GroupUpdate{Destination: &dest}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SetState(ctx, g.ID, true, admin, routing.ChannelWeb); err != nil {
			t.Fatal(err)
		}
		decide(routing.VerdictDivert, "1033")
		if n := routing.ViewReads(svc) - reads; n != 1 {
			t.Errorf("the view was read %d times after an edit, want 1", n)
		}
		if storeKind(t) != "postgres" {
			return
		}
		// Another node's switch, heard through the store.
		a, b := startNode(t, where), startNode(t, where)
		d, err := b.svc.DecideCall(ctx, routing.Call{Called: "1001"})
		if err != nil || d.Verdict != routing.VerdictDivert {
			t.Fatalf("node B before the switch: %+v, %v", d, err)
		}
		if _, err := a.svc.SetState(ctx, g.ID, false, admin, routing.ChannelREST); err != nil {
			t.Fatal(err)
		}
		if ev := b.next(t); ev.Status != routing.StatusDeactivated {
			t.Fatalf("node B heard %+v", ev)
		}
		if d, err := b.svc.DecideCall(ctx, routing.Call{Called: "1001"}); err != nil || d.Verdict != routing.VerdictBridge {
			t.Errorf("node B after node A's switch: %+v, %v; want the call connected to the line", d, err)
		}
	})
}
