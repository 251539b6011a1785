package sdp

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/phonediversions/phonediversions/audio"
)

const cucmOffer = "v=0\r\no=CiscoSystemsCCM-SIP 2000 1 IN IP4 10.1.1.1\r\ns=SIP Call\r\nc=IN IP4 10.1.1.20\r\nt=0 0\r\n" +
	"m=audio 24580 RTP/AVP 8 0 18 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:18 G729/8000\r\n" +
	"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n"

const audioVideo = "v=0\r\no=- 7 3 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\n" +
	"m=audio 5004 RTP/AVP 0 13 96\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-16,32\r\na=ptime:30\r\na=rtcp:5010\r\n" +
	"m=video 5006 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\n"

func TestParse(t *testing.T) {
	cucm := Media{Origin: "CiscoSystemsCCM-SIP 2000 1", Streams: []Stream{{Media: "audio", Port: 24580, Proto: "RTP/AVP", Formats: []string{"8", "0", "18", "101"}}},
		Addr: netip.MustParseAddrPort("10.1.1.20:24580"), RTCP: netip.MustParseAddrPort("10.1.1.20:24581"),
		Codecs: []audio.Codec{audio.PCMA, audio.PCMU}, DTMF: 101, DTMFEvents: "0-15", Ptime: 20, Direction: SendRecv}
	tests := []struct {
		name string
		body string
		want func(Media) bool
		err  error
	}{
		{"CUCM offer", cucmOffer, func(m Media) bool { return reflect.DeepEqual(m, cucm) }, nil},
		{"media-level c=, hold", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 192.0.2.7\r\na=sendonly\r\n",
			func(m Media) bool {
				return m.Addr == netip.MustParseAddrPort("192.0.2.7:4000") && m.Direction == SendOnly && m.Held()
			}, nil},
		{"session-level inactive", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\na=inactive\r\nm=audio 4000 RTP/AVP 0\r\n",
			func(m Media) bool { return m.Direction == Inactive && m.Held() }, nil},
		{"hold by 0.0.0.0", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
			func(m Media) bool { return m.Direction == SendRecv && m.Held() }, nil},
		{"audio and video", audioVideo, func(m Media) bool {
			return m.Audio == 0 && len(m.Streams) == 2 && m.CN && m.DTMF == 96 && m.DTMFEvents == "0-16,32" && m.Ptime == 30 &&
				m.RTCP == netip.MustParseAddrPort("192.0.2.5:5010") && !m.Held()
		}, nil},
		{"refused audio, then audio", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\nm=audio 4002 RTP/AVP 8\r\n",
			func(m Media) bool { return m.Audio == 1 && m.Codecs[0] == audio.PCMA && m.Addr.Port() == 4002 }, nil},
		{"only a refused audio stream", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n", nil, ErrNoAudio},
		{"video only", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=video 4000 RTP/AVP 96\r\n", nil, ErrNoAudio},
		{"G.729 only", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\n", nil, ErrNoCodec},
		{"SRTP", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:abc\r\n", nil, ErrSecure},
		{"DTLS-SRTP", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 4000 UDP/TLS/RTP/SAVPF 0\r\n", nil, ErrSecure},
		{"maxptime 10", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=maxptime:10\r\n", nil, ErrPtime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.body))
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if err == nil && !tt.want(got) {
				t.Fatalf("got %+v", got)
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

func TestOfferAnswer(t *testing.T) {
	s := Session{ID: 42, Version: 1, Addr: netip.MustParseAddrPort("192.0.2.10:20000")}
	offer := Offer(s, Local{Codecs: audio.Codecs[:], DTMF: DefaultDTMF})
	m, err := Parse(offer)
	if err != nil {
		t.Fatal(err)
	}
	if m.Addr != s.Addr || !reflect.DeepEqual(m.Codecs, audio.Codecs[:]) || m.DTMF != 101 || m.RTCP.Port() != 20001 || m.Direction != SendRecv {
		t.Fatalf("offer parsed as %+v", m)
	}
	peer, _ := Parse([]byte(cucmOffer))
	codec, err := Choose(peer, audio.Codecs[:])
	if err != nil || codec != audio.PCMA {
		t.Fatalf("chose %v, %v: want the offerer's first, PCMA", codec, err)
	}
	ans, err := Parse(Answer(s, peer, AnswerLocal(peer, codec)))
	if err != nil || !reflect.DeepEqual(ans.Codecs, []audio.Codec{audio.PCMA}) || ans.DTMF != 101 || ans.DTMFEvents != "0-15" || ans.Direction != SendRecv {
		t.Fatalf("answer %+v %v", ans, err)
	}
	for offered, want := range map[Direction]Direction{SendOnly: RecvOnly, RecvOnly: SendOnly, Inactive: Inactive, SendRecv: SendRecv} {
		held := peer
		held.Direction = offered
		if !strings.Contains(string(Answer(s, held, AnswerLocal(held, codec))), "a="+string(want)+"\r\n") {
			t.Errorf("%s not answered %s", offered, want)
		}
	}
	// Every m-line is answered, the ones not taken with port 0.
	av, _ := Parse([]byte(audioVideo))
	body := string(Answer(s, av, AnswerLocal(av, audio.PCMU)))
	lines := strings.Count(body, "\r\nm=")
	if lines != 2 || !strings.Contains(body, "m=video 0 RTP/AVP 97\r\n") || !strings.Contains(body, "a=fmtp:96 0-16,32\r\n") ||
		!strings.Contains(body, "m=audio 20000 RTP/AVP 0 13 96\r\n") || !strings.Contains(body, "a=rtpmap:13 CN/8000\r\n") {
		t.Errorf("answer to audio and video:\n%s", body)
	}
	if _, err := Parse([]byte(body)); err != nil {
		t.Errorf("our answer does not parse: %v", err)
	}
	if _, err := Choose(Media{Codecs: nil}, audio.Codecs[:]); !errors.Is(err, ErrNoCodec) {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(cucmOffer))
	f.Add([]byte(audioVideo))
	f.Add(Offer(Session{Addr: netip.MustParseAddrPort("[::1]:9")}, Local{Codecs: []audio.Codec{audio.PCMU}, Dir: Inactive}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		if len(m.Codecs) == 0 || m.Audio < 0 || m.Audio >= len(m.Streams) {
			t.Fatalf("accepted %+v", m)
		}
		// Whatever was accepted is answered with as many m-lines.
		ans := Answer(Session{Addr: netip.MustParseAddrPort("192.0.2.1:4000")}, m, AnswerLocal(m, m.Codecs[0]))
		if got := strings.Count(string(ans), "\r\nm="); got != len(m.Streams) {
			t.Fatalf("%d m-lines answered, %d offered", got, len(m.Streams))
		}
	})
}
