// Package layering_test keeps rolegate's pure core pure: internal/policy
// (the decisions) and api/ (the types) import no client, no controller
// runtime and no network package, so that they are table-tested without a
// cluster and the webhook, controller, CLI and notifiers share one copy of
// every decision. .golangci.yml's depguard rule "pure-core" says the same
// for `make lint`; this test says it in `make test-unit` with go list.
package layering_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"rolegate.dev/rolegate/test/utils"
)

// pure are the package patterns that must stay pure.
var pure = []string{"./api/...", "./internal/policy/..."}

// forbiddenDirect reports why a pure package may not import path itself:
// network and TLS packages, besides everything forbiddenAnywhere names.
func forbiddenDirect(path string) string {
	switch {
	case path == "net" || strings.HasPrefix(path, "net/"), path == "crypto/tls":
		return "network I/O belongs to the caller"
	}
	return forbiddenAnywhere(path)
}

// forbiddenAnywhere reports why a pure package may not depend on path, even
// through another package.
func forbiddenAnywhere(path string) string {
	for _, prefix := range []string{"k8s.io/client-go", "sigs.k8s.io/controller-runtime", "google.golang.org/grpc"} {
		if path == prefix || strings.HasPrefix(path, prefix+"/") {
			return "cluster clients belong to the caller (read in internal/snapshot, pass values in)"
		}
	}
	return ""
}

func TestForbiddenImports(t *testing.T) {
	for path, forbidden := range map[string]bool{
		"k8s.io/client-go/rest":                        true,
		"sigs.k8s.io/controller-runtime/pkg/client":    true,
		"sigs.k8s.io/controller-runtime":               true,
		"net/http":                                     true,
		"net":                                          true,
		"crypto/tls":                                   true,
		"google.golang.org/grpc":                       true,
		"k8s.io/apimachinery/pkg/apis/meta/v1":         false,
		"k8s.io/api/rbac/v1":                           false,
		"k8s.io/client-go-like/x":                      false,
		"rolegate.dev/rolegate/api/v1alpha1":           false,
		"sigs.k8s.io/controller-runtime-tools/whatnot": false,
	} {
		if got := forbiddenDirect(path) != ""; got != forbidden {
			t.Errorf("forbiddenDirect(%q) = %v, want %v", path, got, forbidden)
		}
	}
}

type pkg struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	CgoFiles   []string
	Imports    []string
	DepOnly    bool
	Standard   bool
}

// list runs go list -deps -json on the pure packages from the repository root.
func list(t *testing.T, root string) map[string]*pkg {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-deps", "-json"}, pure...)...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	pkgs := map[string]*pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := &pkg{}
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

// TestPureCoreImportsNoClientOrNetwork fails naming the file that imports a
// forbidden package, or the chain of imports through which a pure package
// depends on a cluster client.
func TestPureCoreImportsNoClientOrNetwork(t *testing.T) {
	root, err := utils.RepoRoot()
	utils.Must(t, err)
	pkgs := list(t, root)
	checked := 0
	for _, p := range pkgs {
		if p.DepOnly {
			continue
		}
		checked++
		rel, _ := filepath.Rel(root, p.Dir)
		for _, f := range append(slices.Clone(p.GoFiles), p.CgoFiles...) {
			for _, imp := range fileImports(t, filepath.Join(p.Dir, f)) {
				if why := forbiddenDirect(imp); why != "" {
					t.Errorf("%s imports %s: %s is pure; %s", filepath.Join(rel, f), imp, p.ImportPath, why)
				}
			}
		}
		if chain := pathTo(pkgs, p.ImportPath); chain != nil {
			t.Errorf("%s depends on %s through %s: %s", p.ImportPath, chain[len(chain)-1],
				strings.Join(chain, " -> "), forbiddenAnywhere(chain[len(chain)-1]))
		}
	}
	if checked < 2 {
		t.Fatalf("go list found %d of the pure packages %v; the check would pass vacuously", checked, pure)
	}
}

// fileImports parses the import block of one Go file.
func fileImports(t *testing.T, path string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
	if err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
	var out []string
	for _, s := range f.Imports {
		p, err := strconv.Unquote(s.Path.Value)
		if err != nil {
			t.Fatalf("%s: import %s: %v", path, s.Path.Value, err)
		}
		out = append(out, p)
	}
	return out
}

// pathTo finds a chain of imports from start to a package forbiddenAnywhere
// names, breadth first so the chain is the shortest; nil when there is none.
func pathTo(pkgs map[string]*pkg, start string) []string {
	prev := map[string]string{start: ""}
	queue := []string{start}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if forbiddenAnywhere(cur) != "" {
			var chain []string
			for n := cur; n != ""; n = prev[n] {
				chain = append([]string{n}, chain...)
			}
			return chain
		}
		p := pkgs[cur]
		if p == nil {
			continue
		}
		for _, imp := range p.Imports {
			if _, seen := prev[imp]; !seen {
				prev[imp] = cur
				queue = append(queue, imp)
			}
		}
	}
	return nil
}

func TestPathToNamesTheChain(t *testing.T) {
	pkgs := map[string]*pkg{
		"a": {ImportPath: "a", Imports: []string{"b", "fmt"}},
		"b": {ImportPath: "b", Imports: []string{"k8s.io/client-go/rest"}},
	}
	if got, want := fmt.Sprint(pathTo(pkgs, "a")), "[a b k8s.io/client-go/rest]"; got != want {
		t.Errorf("pathTo = %s, want %s", got, want)
	}
	delete(pkgs, "b")
	if got := pathTo(pkgs, "a"); got != nil {
		t.Errorf("pathTo without the dependency = %v, want nil", got)
	}
}
