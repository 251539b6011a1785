package sip

import (
	"flag"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"
)

// TestMain silences sipgo's few log lines that go to the default slog
// logger rather than the one it is given, unless -v asks for them, and
// shortens SIP's timers (T1 100 ms: 64·T1 is 6.4 s) so that the tests of
// what happens when a response or an ACK never comes take seconds, not
// half a minute. It runs before any SIP stack starts.
func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Verbose() {
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	sipgosip.SetTimers(100*time.Millisecond, 800*time.Millisecond, time.Second)
	os.Exit(m.Run())
}
