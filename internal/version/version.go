// Package version tells which release and commit a rolegate binary was built
// from. `make build` and `make image` stamp both with
//
//	-ldflags "-X rolegate.dev/rolegate/internal/version.Version=v0.3.0 -X rolegate.dev/rolegate/internal/version.Commit=0123abc"
//
// A binary built without them (go build, go install @version) falls back to
// the module version and VCS revision that the Go toolchain records.
package version

import (
	"fmt"
	"runtime/debug"
)

// Version and Commit are set at link time (see the package comment).
var (
	Version string
	Commit  string
)

// Unknown stands for a version or commit that neither the linker flags nor
// the build information provide.
const Unknown = "unknown"

// Get returns the release version and the commit of the running binary.
func Get() (version, commit string) {
	return resolve(Version, Commit, debug.ReadBuildInfo)
}

// String is "<version> (commit <commit>)", the line both binaries print.
func String() string {
	v, c := Get()
	return fmt.Sprintf("%s (commit %s)", v, c)
}

func resolve(version, commit string, read func() (*debug.BuildInfo, bool)) (string, string) {
	if version != "" && commit != "" {
		return version, commit
	}
	bi, ok := read()
	if version == "" && ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		version = bi.Main.Version
	}
	if commit == "" && ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				commit = s.Value
			}
		}
	}
	if version == "" {
		version = Unknown
	}
	if commit == "" {
		commit = Unknown
	}
	return version, commit
}
