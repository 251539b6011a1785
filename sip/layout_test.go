package sip

import (
	"testing"

	"github.com/phonediversions/phonediversions/internal/layout"
)

// TestFilesFormNoCycle keeps the package's layout readable from the top
// (the package comment gives the order): no file may rely on a name of a
// file that relies, directly or through others, on it in turn. The
// Server type and its fields, which every part of a call reaches, do not
// count.
func TestFilesFormNoCycle(t *testing.T) { layout.FilesFormNoCycle(t, "Server") }
