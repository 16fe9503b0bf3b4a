package v1alpha1_test

import (
	"slices"
	"testing"

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
