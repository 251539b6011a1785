package sip

import (
	"reflect"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func invite(t *testing.T, headers ...[2]string) *sip.Request {
	t.Helper()
	req := sip.NewRequest(sip.INVITE, sip.Uri{User: "5000", Host: "pd.example"})
	for _, h := range headers {
		req.AppendHeader(sip.NewHeader(h[0], h[1]))
	}
	return req
}

func TestParseRedirection(t *testing.T) {
	tests := []struct {
		name    string
		headers [][2]string
		initial string
		entries int
	}{
		{"not redirected", nil, "", 0},
		{"one Diversion", [][2]string{{"Diversion", "<sip:1001@10.1.1.1>;reason=unconditional;privacy=off;screen=no"}}, "1001", 1},
		{"two Diversion headers: the lower is the original", [][2]string{
			{"Diversion", "<sip:1002@10.1.1.1>;reason=unconditional;counter=1"},
			{"Diversion", "<sip:1001@10.1.1.1>;reason=no-answer;counter=1"}}, "1001", 2},
		{"one comma-separated line", [][2]string{{"Diversion", `"Front, Desk" <sip:+41441002@cucm;user=phone>;reason=unconditional, <sip:+41 44 1001@cucm>;reason=user-busy`}}, "+41 44 1001", 2},
		{"tel URI", [][2]string{{"Diversion", "<tel:+41441001>;reason=unconditional"}}, "+41441001", 1},
		{"user with phone-context", [][2]string{{"Diversion", "<sip:1001;phone-context=cucm@10.1.1.1>;reason=unconditional"}}, "1001", 1},
		{"garbage entry skipped", [][2]string{{"Diversion", "<>, <sip:1001@h>;reason=unconditional"}}, "1001", 1},
		{"History-Info, out of order", [][2]string{{"History-Info", "<sip:5000@pbx>;index=1.1, <sip:1001@pbx?Reason=SIP%3Bcause%3D302>;index=1"}}, "1001", 0},
		{"History-Info in two headers, deep", [][2]string{
			{"History-Info", "<sip:1001@pbx>;index=1"},
			{"History-Info", "<sip:1002@pbx>;index=1.1"},
			{"History-Info", "<sip:5000@pbx>;index=1.1.1"}}, "1001", 0},
		{"History-Info with one entry is no redirection", [][2]string{{"History-Info", "<sip:5000@pbx>;index=1"}}, "", 0},
		{"Diversion wins over History-Info", [][2]string{
			{"History-Info", "<sip:7777@pbx>;index=1, <sip:5000@pbx>;index=1.1"},
			{"Diversion", "<sip:1001@pbx>;reason=unconditional"}}, "1001", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := parseRedirection(invite(t, tt.headers...))
			if r.Initial != tt.initial || len(r.Diversions) != tt.entries {
				t.Fatalf("got %+v; want initial %q with %d entries", r, tt.initial, tt.entries)
			}
		})
	}
}

func TestSplitEntries(t *testing.T) {
	got := splitEntries(`"a, b" <sip:1@h;x=1,2>;p=1 , <sip:2@h>,,`)
	want := []string{`"a, b" <sip:1@h;x=1,2>;p=1`, `<sip:2@h>`, ``}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q", got)
	}
}
