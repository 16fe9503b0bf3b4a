package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	devel := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, true
	}
	installed := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{
			Main:     debug.Module{Version: "v1.4.0"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "feedbeef"}},
		}, true
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	for _, tc := range []struct {
		name, version, commit string
		read                  func() (*debug.BuildInfo, bool)
		wantV, wantC          string
	}{
		{"stamped wins", "v0.3.0-2-gabc", "abc1234", installed, "v0.3.0-2-gabc", "abc1234"},
		{"go install @version", "", "", installed, "v1.4.0", "feedbeef"},
		{"stamped version, revision from build info", "v0.3.0", "", installed, "v0.3.0", "feedbeef"},
		{"checkout build never says (devel)", "", "", devel, Unknown, Unknown},
		{"no build info", "", "", none, Unknown, Unknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, c := resolve(tc.version, tc.commit, tc.read)
			if v != tc.wantV || c != tc.wantC {
				t.Errorf("resolve = %q, %q; want %q, %q", v, c, tc.wantV, tc.wantC)
			}
		})
	}
}

func TestString(t *testing.T) {
	Version, Commit = "v9.8.7", "0a1b2c3"
	t.Cleanup(func() { Version, Commit = "", "" })
	if got := String(); got != "v9.8.7 (commit 0a1b2c3)" {
		t.Errorf("String() = %q", got)
	}
	if strings.Contains(String(), "(devel)") {
		t.Error("String() says (devel)")
	}
}
