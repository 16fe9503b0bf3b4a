package utils

import "testing"

// recorder stands in for a test to see whether RequireEnvtest skipped or
// failed it.
type recorder struct {
	testing.TB
	skipped, failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Skip(...any)           { r.skipped = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }

func TestRequireEnvtest(t *testing.T) {
	for _, tc := range []struct {
		name, assets, require string
		skipped, failed       bool
	}{
		{name: "with the binaries the test runs", assets: "/bin/envtest", require: "1"},
		{name: "without them the test skips", skipped: true},
		{name: "without them the test fails when make test requires them", require: "1", failed: true},
		{name: "a require of 0 still skips", require: "0", skipped: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KUBEBUILDER_ASSETS", tc.assets)
			t.Setenv(RequireEnvtestVar, tc.require)
			r := &recorder{TB: t}
			RequireEnvtest(r)
			if r.skipped != tc.skipped || r.failed != tc.failed {
				t.Errorf("skipped=%v failed=%v, want skipped=%v failed=%v", r.skipped, r.failed, tc.skipped, tc.failed)
			}
		})
	}
}
