package v1alpha1_test

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

func TestSensitivityRank(t *testing.T) {
	cases := []struct {
		name string
		in   accessv1alpha1.Sensitivity
		want int
	}{
		{"ranks low lowest", accessv1alpha1.SensitivityLow, 0},
		{"ranks medium above low", accessv1alpha1.SensitivityMedium, 1},
		{"ranks high above medium", accessv1alpha1.SensitivityHigh, 2},
		{"ranks critical highest", accessv1alpha1.SensitivityCritical, 3},
		{"returns -1 for an empty sensitivity", "", -1},
		{"returns -1 for a capitalised level", "High", -1},
		{"returns -1 for an unknown level", "extreme", -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.Rank(); got != tc.want {
				t.Errorf("Sensitivity(%q).Rank() = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}

func TestSensitivitiesAreAscending(t *testing.T) {
	want := []accessv1alpha1.Sensitivity{"low", "medium", "high", "critical"}
	if !slices.Equal(accessv1alpha1.Sensitivities, want) {
		t.Fatalf("Sensitivities = %v, want %v", accessv1alpha1.Sensitivities, want)
	}
	for i, s := range accessv1alpha1.Sensitivities {
		if s.Rank() != i {
			t.Errorf("Sensitivity(%q).Rank() = %d, want its position %d", s, s.Rank(), i)
		}
	}
}

func TestRoleRefString(t *testing.T) {
	cases := []struct {
		name string
		in   accessv1alpha1.RoleRef
		want string
	}{
		{"renders a Role as Role/name", accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "db-migrator"}, "Role/db-migrator"},
		{"renders a ClusterRole as ClusterRole/name", accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: "view"}, "ClusterRole/view"},
		{"renders an empty reference as a lone slash", accessv1alpha1.RoleRef{}, "/"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.String(); got != tc.want {
				t.Errorf("%#v.String() = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestAccessRequestConditionsListsEverySpecCondition(t *testing.T) {
	// SPEC's six, Stalled for kstatus, and the break-glass pair.
	want := []string{"Validated", "Approved", "Escalated", "Granted", "Expired", "Ready", "Stalled", "BreakGlass", "Reviewed"}
	if !slices.Equal(accessv1alpha1.AccessRequestConditions, want) {
		t.Errorf("AccessRequestConditions = %v, want %v", accessv1alpha1.AccessRequestConditions, want)
	}
}

func TestWellKnownNamesMatchTheSpec(t *testing.T) {
	cases := []struct{ name, got, want string }{
		{"managed-by label", accessv1alpha1.ManagedByLabel, "app.kubernetes.io/managed-by"},
		{"managed-by value", accessv1alpha1.ManagedByValue, "rolegate"},
		{"request label", accessv1alpha1.RequestLabel, "access.rolegate.dev/request"},
		{"requested-by annotation", accessv1alpha1.RequestedByAnnotation, "access.rolegate.dev/requested-by"},
		{"revoke finalizer", accessv1alpha1.RevokeFinalizer, "access.rolegate.dev/revoke"},
		{"API group", accessv1alpha1.GroupVersion.String(), "access.rolegate.dev/v1alpha1"},
	}
	for _, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

func TestRequestLabelValue(t *testing.T) {
	long := func(prefix string, n int) string { return prefix + strings.Repeat("x", n-len(prefix)) }
	cases := []struct {
		name string
		in   string
		hash bool
	}{
		{"keeps a short name as it is", "ledger-migrate-4711", false},
		{"keeps a 63-character name as it is", long("a-", 63), false},
		{"hashes a 64-character name", long("a-", 64), true},
		{"hashes a 253-character name", long("b.", 253), true},
		{"drops a '-' or '.' the cut would end with", strings.Repeat("a", 45) + ".-" + strings.Repeat("z", 30), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := accessv1alpha1.RequestLabelValue(tc.in)
			if errs := validation.IsValidLabelValue(got); len(errs) > 0 {
				t.Fatalf("RequestLabelValue(%q) = %q, not a valid label value: %v", tc.in, got, errs)
			}
			if (got != tc.in) != tc.hash {
				t.Errorf("RequestLabelValue(%q) = %q, hashed = %v, want %v", tc.in, got, got != tc.in, tc.hash)
			}
			if got != accessv1alpha1.RequestLabelValue(tc.in) {
				t.Errorf("RequestLabelValue is not deterministic")
			}
		})
	}
	if a, b := accessv1alpha1.RequestLabelValue(long("a-", 200)+"1"), accessv1alpha1.RequestLabelValue(long("a-", 200)+"2"); a == b {
		t.Errorf("two long names sharing a prefix get the same label value %q", a)
	}
}

func TestRequestNameOf(t *testing.T) {
	full := strings.Repeat("n", 100)
	cases := []struct {
		name        string
		labels      map[string]string
		annotations map[string]string
		want        string
	}{
		{"reads the full name from the annotation",
			map[string]string{accessv1alpha1.RequestLabel: accessv1alpha1.RequestLabelValue(full)},
			map[string]string{accessv1alpha1.RequestNameAnnotation: full}, full},
		{"falls back to the label of a binding written before the annotation",
			map[string]string{accessv1alpha1.RequestLabel: "short"}, nil, "short"},
		{"is empty for an object that names no request", nil, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := accessv1alpha1.RequestNameOf(tc.labels, tc.annotations); got != tc.want {
				t.Errorf("RequestNameOf = %q, want %q", got, tc.want)
			}
		})
	}
}
