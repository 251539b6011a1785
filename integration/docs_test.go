package integration

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/phonediversions/phonediversions/routing"
)

// timestamps are replaced before answers are compared: they differ at
// every run.
var timestamps = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)

// docExample is a fenced block of a document whose first line is a shell
// command ("$ curl …") and whose other lines are what it prints.
type docExample struct {
	start, end int // line numbers of the block's content
	command    string
	output     string
}

func docExamples(lines []string) []docExample {
	var out []docExample
	for i := 0; i < len(lines); i++ {
		if lines[i] != "```" || i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "$ ") {
			continue
		}
		ex := docExample{start: i + 1, command: strings.TrimPrefix(lines[i+1], "$ ")}
		j := i + 2
		for j < len(lines) && lines[j] != "```" {
			j++
		}
		ex.end = j
		ex.output = strings.Join(lines[i+2:j], "\n")
		out = append(out, ex)
		i = j
	}
	return out
}

// TestRESTDocExamples runs every curl example of docs/rest.md, in order,
// against a fresh start of the product and compares what it prints with
// what the document shows (timestamps aside): the document's examples are
// the expectations. PD_UPDATE_DOCS=1 writes the answers into the document
// too, and still fails for every example whose answer changed, so that
// a changed answer is read in the diff before the test passes again.
func TestRESTDocExamples(t *testing.T) {
	needTool(t, "curl")
	const path = "../docs/rest.md"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	examples := docExamples(lines)
	if len(examples) < 10 {
		t.Fatalf("only %d examples in %s", len(examples), path)
	}
	fresh := func(context.Context, *routing.Service, string) error { return nil }
	p := startProduct(t, fresh, "")
	update := os.Getenv("PD_UPDATE_DOCS") != ""
	outputs := make([]string, len(examples))
	for i, ex := range examples {
		cmd := strings.ReplaceAll(ex.command, "http://localhost:8080", p.httpBase)
		out, err := exec.Command("sh", "-c", cmd).Output()
		if err != nil {
			t.Errorf("example %d (%s): %v", i+1, ex.command, err)
		}
		outputs[i] = strings.TrimRight(string(out), "\n")
		if timestamps.ReplaceAllString(outputs[i], "TIME") != timestamps.ReplaceAllString(ex.output, "TIME") {
			t.Errorf("example %d: %s\nprints:\n%s\nthe document shows:\n%s", i+1, ex.command, outputs[i], ex.output)
		}
	}
	if update {
		// Backwards, so that each splice leaves the blocks before it where
		// they are.
		for i := len(examples) - 1; i >= 0; i-- {
			ex := examples[i]
			lines = slices.Concat(lines[:ex.start+1], strings.Split(outputs[i], "\n"), lines[ex.end:])
		}
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		if t.Failed() {
			t.Log(path + " is rewritten with the answers above: read the diff, then run the test again")
		}
	}
}
