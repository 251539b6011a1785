package sdp

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

const cucmOffer = "v=0\r\no=CiscoSystemsCCM-SIP 2000 1 IN IP4 10.1.1.1\r\ns=SIP Call\r\nc=IN IP4 10.1.1.20\r\nt=0 0\r\n" +
	"m=audio 24580 RTP/AVP 8 0 18 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:18 G729/8000\r\n" +
	"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n"

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Media
		err  error
	}{
		{"CUCM offer", cucmOffer, Media{Addr: netip.MustParseAddrPort("10.1.1.20:24580"), Payloads: []uint8{8, 0}, DTMF: 101, Direction: "sendrecv"}, nil},
		{"media-level c=, hold", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 192.0.2.7\r\na=sendonly\r\n",
			Media{Addr: netip.MustParseAddrPort("192.0.2.7:4000"), Payloads: []uint8{0}, Direction: "sendonly"}, nil},
		{"video only", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=video 4000 RTP/AVP 96\r\n", Media{}, ErrNoAudio},
		{"G.729 only", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\n", Media{}, ErrNoCodec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.body))
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if err == nil && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "garbage", "v=0\r\nm=audio x RTP/AVP 0\r\n",
		"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
		"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 host.example\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestOfferAnswerRoundTrip(t *testing.T) {
	s := Session{ID: 42, Version: 1, Addr: netip.MustParseAddrPort("192.0.2.10:20000")}
	offer := Offer(s, []uint8{PCMU, PCMA}, DefaultDTMF)
	m, err := Parse(offer)
	if err != nil {
		t.Fatal(err)
	}
	if m.Addr != s.Addr || !reflect.DeepEqual(m.Payloads, []uint8{0, 8}) || m.DTMF != 101 {
		t.Fatalf("offer parsed as %+v", m)
	}
	peer, _ := Parse([]byte(cucmOffer))
	codec, err := Choose(peer, []uint8{PCMU, PCMA})
	if err != nil || codec != PCMA {
		t.Fatalf("chose %d, %v: want the offerer's first, PCMA", codec, err)
	}
	ans, err := Parse(Answer(s, peer, codec))
	if err != nil || !reflect.DeepEqual(ans.Payloads, []uint8{8}) || ans.DTMF != 101 || ans.Direction != "sendrecv" {
		t.Fatalf("answer %+v %v", ans, err)
	}
	hold := peer
	hold.Direction = "sendonly"
	if !strings.Contains(string(Answer(s, hold, codec)), "a=recvonly") {
		t.Fatal("hold not answered recvonly")
	}
	if _, err := Choose(Media{Payloads: []uint8{18}}, []uint8{0, 8}); !errors.Is(err, ErrNoCodec) {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(cucmOffer))
	f.Add(Offer(Session{Addr: netip.MustParseAddrPort("[::1]:9")}, []uint8{0}, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err == nil && len(m.Payloads) == 0 {
			t.Fatal("accepted an offer without a codec")
		}
	})
}
