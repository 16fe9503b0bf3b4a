package snapshot_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/scheme"
	"rolegate.dev/rolegate/internal/snapshot"
)

func rule(resource, verb string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{resource}, Verbs: []string{verb}}
}

func clusterRole(name string, labels map[string]string, agg []map[string]string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
	cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Rules: rules}
	if agg != nil {
		cr.AggregationRule = &rbacv1.AggregationRule{}
		for _, l := range agg {
			cr.AggregationRule.ClusterRoleSelectors = append(cr.AggregationRule.ClusterRoleSelectors, metav1.LabelSelector{MatchLabels: l})
		}
	}
	return cr
}

func reader(objs ...client.Object) client.Client {
	b := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(objs...)
	for _, ix := range snapshot.Indexes() {
		b = b.WithIndex(ix.Object, ix.Field, ix.Extract)
	}
	return b.Build()
}

func TestRoleRules(t *testing.T) {
	toView := map[string]string{"rbac.example.com/aggregate-to-view": "true"}
	toEdit := map[string]string{"rbac.example.com/aggregate-to-edit": "true"}
	c := reader(
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "db-migrator", Namespace: "payments"}, Rules: []rbacv1.PolicyRule{rule("configmaps", "create")}},
		clusterRole("plain", nil, nil, rule("pods", "get")),
		// view aggregates two children; edit aggregates view (recursively) and
		// a child of its own; a real cluster has already copied one rule in.
		clusterRole("view", nil, []map[string]string{toView}),
		clusterRole("view-pods", toView, nil, rule("pods", "list")),
		clusterRole("view-configmaps", toView, nil, rule("configmaps", "list")),
		clusterRole("edit", nil, []map[string]string{toEdit}, rule("secrets", "create")),
		clusterRole("edit-secrets", toEdit, nil, rule("secrets", "create")),
		clusterRole("edit-view", toEdit, []map[string]string{toView}),
		// A selector that matches the role itself does not loop.
		clusterRole("self", toEdit, []map[string]string{toEdit}, rule("nodes", "get")),
	)
	cases := []struct {
		name      string
		ref       accessv1alpha1.RoleRef
		namespace string
		found     bool
		want      []rbacv1.PolicyRule
	}{
		{"a Role in its namespace", accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "db-migrator"}, "payments",
			true, []rbacv1.PolicyRule{rule("configmaps", "create")}},
		{"a Role in another namespace does not exist", accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "db-migrator"}, "ledger",
			false, nil},
		{"a ClusterRole", accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: "plain"}, "payments",
			true, []rbacv1.PolicyRule{rule("pods", "get")}},
		{"a missing ClusterRole", accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: "nope"}, "",
			false, nil},
		{"an aggregated ClusterRole has its children's rules", accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: "view"}, "",
			true, []rbacv1.PolicyRule{rule("configmaps", "list"), rule("pods", "list")}},
		{"aggregation is followed through aggregated children, each rule once",
			accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: "edit"}, "",
			true, []rbacv1.PolicyRule{rule("secrets", "create"), rule("nodes", "get"), rule("configmaps", "list"), rule("pods", "list")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rules, found, err := snapshot.RoleRules(t.Context(), c, tc.ref, tc.namespace)
			if err != nil {
				t.Fatal(err)
			}
			if found != tc.found {
				t.Errorf("found = %v, want %v", found, tc.found)
			}
			if !slices.EqualFunc(rules, tc.want, func(a, b rbacv1.PolicyRule) bool {
				return slices.Equal(a.Resources, b.Resources) && slices.Equal(a.Verbs, b.Verbs)
			}) {
				t.Errorf("rules = %v, want %v", rules, tc.want)
			}
			exists, err := snapshot.RoleRefExists(t.Context(), c, tc.ref, tc.namespace)
			if err != nil || exists != tc.found {
				t.Errorf("RoleRefExists = %v, %v; want %v", exists, err, tc.found)
			}
		})
	}
}

func TestRoleRulesReportsReadErrors(t *testing.T) {
	boom := errors.New("boom")
	c := fake.NewClientBuilder().WithScheme(scheme.Scheme).
		WithObjects(clusterRole("view", nil, []map[string]string{{"a": "b"}})).
		WithInterceptorFuncs(interceptor.Funcs{
			List: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) error { return boom },
		}).Build()
	_, _, err := snapshot.RoleRules(t.Context(), c, accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: "view"}, "")
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want the list error", err)
	}
}

func TestReadSetsRoleRisks(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "payments", Labels: map[string]string{"team": "payments"}}}
	toAdmin := map[string]string{"aggregate-to-admin": "true"}
	c := reader(ns,
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "safe", Namespace: "payments"}, Rules: []rbacv1.PolicyRule{rule("secrets", "get")}},
		clusterRole("admin", nil, []map[string]string{toAdmin}),
		clusterRole("admin-secrets", toAdmin, nil, rule("secrets", "create")),
	)
	read := func(kind accessv1alpha1.RoleKind, name string) *snapshot.Snapshot {
		t.Helper()
		ar := &accessv1alpha1.AccessRequest{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "payments"},
			Spec: accessv1alpha1.AccessRequestSpec{RoleRef: accessv1alpha1.RoleRef{Kind: kind, Name: name}}}
		s, err := snapshot.Read(t.Context(), c, ar)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := read(accessv1alpha1.RoleKindRole, "safe"); !s.RoleExists || len(s.RoleRisks) != 0 {
		t.Errorf("safe Role: exists %v, risks %v; want it to exist without risks", s.RoleExists, s.RoleRisks)
	}
	s := read(accessv1alpha1.RoleKindClusterRole, "admin")
	if !s.RoleExists || len(s.RoleRisks) != 1 || !slices.Equal(s.RoleRisks[0].Rule.Resources, []string{"secrets"}) {
		t.Errorf("aggregated ClusterRole: exists %v, risks %v; want the child's Secret rule", s.RoleExists, s.RoleRisks)
	}
	if in := s.Input(&accessv1alpha1.AccessRequest{}, metav1.Now().Time, metav1.Now().Time); len(in.RoleRisks) != 1 || !in.RoleExists {
		t.Errorf("Input = %+v, want the risks passed on", in)
	}
	if s := read(accessv1alpha1.RoleKindRole, "missing"); s.RoleExists || len(s.RoleRisks) != 0 {
		t.Errorf("missing Role: exists %v, risks %v", s.RoleExists, s.RoleRisks)
	}
}
