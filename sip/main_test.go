package sip

import (
	"flag"
	"io"
	"log/slog"
	"os"
	"testing"
)

// TestMain silences sipgo's few log lines that go to the default slog
// logger rather than the one it is given, unless -v asks for them.
func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Verbose() {
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	os.Exit(m.Run())
}
