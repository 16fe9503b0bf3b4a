package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"rolegate.dev/rolegate/test/utils"
)

// TestDemo runs the whole walk-through in-process against envtest with a
// short access duration.
func TestDemo(t *testing.T) {
	utils.RequireEnvtest(t)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	began := time.Now()
	err := runDemo(ctx, &out, demoOptions{Duration: 4 * time.Second, Timeout: 60 * time.Second, LogOutput: os.Stderr})
	t.Logf("demo output (%.1fs):\n%s", time.Since(began).Seconds(), out.String())
	if err != nil {
		t.Fatalf("demo failed: %v", err)
	}
	s := out.String()
	for _, want := range []string{
		"1. Control plane up",
		"2. Sample world created",
		"ApprovalPolicy payments applied",
		"3. AccessRequest payments/ledger-migrate-4711 applied",
		"reason PendingApproval",
		"status.tier=security, status.effectiveSensitivity=high",
		"4. AccessDecision payments/ledger-migrate-4711-carol applied",
		"Counted=True",
		"5. Granted",
		"labels app.kubernetes.io/managed-by=rolegate, access.rolegate.dev/request=ledger-migrate-4711",
		"-> allowed",
		"6. Expired",
		"access revoked: status.revokedAt=",
		"-> denied",
		"7. Break-glass: AccessRequest payments/ledger-outage-88 tagged type=break-glass granted",
		"Reviewed=False, reason ReviewPending",
		"carol acknowledged it (decision Acknowledge): Reviewed=True, reason Acknowledged",
		"8. Audit trail",
		`"audit":"rolegate"`,
		`"event":"Granted"`,
		`"event":"Expired"`,
		"demo succeeded",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output does not mention %q", want)
		}
	}
	if i, j := strings.Index(s, "5. Granted"), strings.Index(s, "6. Expired"); i < 0 || j < i {
		t.Errorf("Granted (at %d) should come before Expired (at %d)", i, j)
	}
}

func TestMissingAssets(t *testing.T) {
	t.Setenv("KUBEBUILDER_ASSETS", "")
	for _, cmd := range []string{"demo", "dev"} {
		err := run(context.Background(), []string{cmd}, &bytes.Buffer{}, &bytes.Buffer{})
		if !errors.Is(err, errNoAssets) {
			t.Errorf("%s without KUBEBUILDER_ASSETS: got %v, want the KUBEBUILDER_ASSETS error", cmd, err)
		}
		for _, hint := range []string{"make dev", "hack/setup-envtest.sh"} {
			if err != nil && !strings.Contains(err.Error(), hint) {
				t.Errorf("%s: error %q does not mention %q", cmd, err, hint)
			}
		}
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"demo", "-h"}, {"dev", "-h"}} {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), args, &stdout, &stderr); err != nil {
			t.Errorf("%v: %v", args, err)
		}
		if !strings.Contains(stdout.String()+stderr.String(), "Usage: go run ./hack/devenv") {
			t.Errorf("%v printed no usage:\n%s%s", args, stdout.String(), stderr.String())
		}
	}
	for _, args := range [][]string{nil, {"nope"}, {"demo", "-bogus"}} {
		if err := run(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{}); !errors.Is(err, errUsage) {
			t.Errorf("%v: got %v, want a usage error", args, err)
		}
	}
}

func TestRepoRoot(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root + "/config/crd/bases"); err != nil {
		t.Errorf("repoRoot() = %s, which has no config/crd/bases: %v", root, err)
	}
}
