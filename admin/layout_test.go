package admin

import (
	"testing"

	"github.com/phonediversions/phonediversions/internal/layout"
)

// TestFilesFormNoCycle keeps the package's layout readable from the top:
// routes.go, then the surfaces, then the shared helpers, then the
// envelope and escaping. No file may rely on a name of a file that relies,
// directly or through others, on it in turn. The Server type and its
// fields, which every handler hangs on, do not count.
func TestFilesFormNoCycle(t *testing.T) { layout.FilesFormNoCycle(t, "Server") }
