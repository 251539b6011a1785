// Package layout checks how a package's files rely on one another, for
// the packages' own tests.
package layout

import (
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// FilesFormNoCycle fails t when a non-test file of the package in the
// current directory relies on a name of a file that relies, directly or
// through others, on it in turn, and names the uses that close each
// circle. The hub type (the one every handler hangs on: its name) and
// its fields do not count. Imported packages are left unresolved: only
// the package's own names matter, and type-checking the imports would
// take seconds.
func FilesFormNoCycle(t *testing.T, hub string) {
	t.Helper()
	fset := token.NewFileSet()
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	conf := types.Config{Importer: emptyImporter{}, Error: func(error) {}}
	info := &types.Info{Uses: map[*ast.Ident]types.Object{}}
	pkg, _ := conf.Check("checked", fset, files, info)
	server := pkg.Scope().Lookup(hub)
	uses := map[string]map[string]string{} // file → file it relies on → a name
	for id, obj := range info.Uses {
		if obj.Pkg() != pkg || obj == server || !obj.Pos().IsValid() {
			continue
		}
		if v, ok := obj.(*types.Var); ok && v.IsField() {
			continue
		}
		if _, isFunc := obj.(*types.Func); !isFunc && obj.Parent() != pkg.Scope() {
			continue // locals
		}
		from := filepath.Base(fset.Position(id.Pos()).Filename)
		to := filepath.Base(fset.Position(obj.Pos()).Filename)
		if from != to {
			if uses[from] == nil {
				uses[from] = map[string]string{}
			}
			uses[from][to] = obj.Name()
		}
	}
	if len(uses) < len(files)/2 {
		t.Fatalf("only %d files rely on others: the check does not see the package", len(uses))
	}
	// A depth-first search for a file reached again on its own path.
	state := map[string]int{}
	var path []string
	var visit func(string)
	visit = func(f string) {
		state[f] = 1
		path = append(path, f)
		deps := make([]string, 0, len(uses[f]))
		for g := range uses[f] {
			deps = append(deps, g)
		}
		sort.Strings(deps)
		for _, g := range deps {
			switch state[g] {
			case 1:
				i := len(path) - 1
				for path[i] != g {
					i--
				}
				cycle := append(append([]string{}, path[i:]...), g)
				var steps []string
				for k := 0; k+1 < len(cycle); k++ {
					steps = append(steps, cycle[k]+" uses "+uses[cycle[k]][cycle[k+1]]+" of "+cycle[k+1])
				}
				t.Errorf("files rely on each other in a circle: %s", strings.Join(steps, "; "))
			case 0:
				visit(g)
			}
		}
		path = path[:len(path)-1]
		state[f] = 2
	}
	names := make([]string, 0, len(uses))
	for f := range uses {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		if state[f] == 0 {
			visit(f)
		}
	}
}

// emptyImporter gives every import as an empty package.
type emptyImporter struct{}

func (emptyImporter) Import(path string) (*types.Package, error) {
	return types.NewPackage(path, filepath.Base(path)), nil
}
