package layering_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"rolegate.dev/rolegate/test/utils"
)

// layoutPaths reads the paths in the first column of the table under
// "## Layout" in docs/development.md.
func layoutPaths(doc string) []string {
	_, section, found := strings.Cut(doc, "\n## Layout\n")
	if !found {
		return nil
	}
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	code := regexp.MustCompile("`([^`]+)`")
	var out []string
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(line, "|") || len(cells) < 3 {
			continue
		}
		for _, m := range code.FindAllStringSubmatch(cells[1], -1) {
			out = append(out, strings.TrimSuffix(m[1], "/"))
		}
	}
	return out
}

func TestLayoutPathsReadsTheFirstColumn(t *testing.T) {
	doc := "# D\n\n## Layout\n\n| path | contents |\n|---|---|\n| `a/b`, `c` | uses `not/this` |\n\n## Next\n| `d` | x |\n"
	if got := strings.Join(layoutPaths(doc), " "); got != "a/b c" {
		t.Errorf("layoutPaths = %q, want %q", got, "a/b c")
	}
}

// TestDevelopmentLayoutMatchesTheTree keeps docs/development.md's layout
// table true: every listed path exists and every directory directly under
// internal/, cmd/ and test/ is listed, itself or through a subdirectory.
func TestDevelopmentLayoutMatchesTheTree(t *testing.T) {
	root, err := utils.RepoRoot()
	utils.Must(t, err)
	doc, err := os.ReadFile(filepath.Join(root, "docs", "development.md"))
	utils.Must(t, err)
	listed := layoutPaths(string(doc))
	if len(listed) == 0 {
		t.Fatal(`docs/development.md has no "## Layout" table with paths in its first column`)
	}
	for _, p := range listed {
		if fi, err := os.Stat(filepath.Join(root, p)); err != nil || !fi.IsDir() {
			t.Errorf("docs/development.md's layout lists %s, which is not a directory of the repository; remove or fix the row", p)
		}
	}
	for _, parent := range []string{"internal", "cmd", "test"} {
		entries, err := os.ReadDir(filepath.Join(root, parent))
		utils.Must(t, err)
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			dir := parent + "/" + e.Name()
			covered := false
			for _, p := range listed {
				if p == dir || strings.HasPrefix(p, dir+"/") {
					covered = true
				}
			}
			if !covered {
				t.Errorf("%s is missing from the layout table of docs/development.md; add a row saying what it holds", dir)
			}
		}
	}
}
