package app

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"rolegate.dev/rolegate/internal/metrics"
	rgscheme "rolegate.dev/rolegate/internal/scheme"
)

// One run of the standing-access inventory sets the gauge for every
// severity, and never lists Secrets.
func TestStandingInventorySetsTheGauge(t *testing.T) {
	objs := []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ci", Name: "deployer"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "app"}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "binder"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles"}, Verbs: []string{"bind"}}}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "viewer"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}}}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "deployer-binds"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "binder"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "ci", Name: "deployer"}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "app-view"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "viewer"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "team-a", Name: "app"}}},
	}
	c := fake.NewClientBuilder().WithScheme(rgscheme.Scheme).WithObjects(objs...).WithInterceptorFuncs(interceptor.Funcs{
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if m, ok := list.(*metav1.PartialObjectMetadataList); ok && strings.HasPrefix(m.GroupVersionKind().Kind, "Secret") {
				return errors.New("the manager must not list Secrets")
			}
			if _, ok := list.(*corev1.SecretList); ok {
				return errors.New("the manager must not list Secrets")
			}
			return c.List(ctx, list, opts...)
		},
	}).Build()
	reg := prometheus.NewRegistry()
	gauge, err := metrics.NewStandingBindings(reg)
	if err != nil {
		t.Fatal(err)
	}
	s := &standingInventory{reader: c, interval: DefaultStandingInventoryInterval, gauge: gauge}
	if err := s.run(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Secrets unread: exposure is unknown, judged exposed, so a cluster-wide
	// bind is critical, not high.
	want := `
# HELP rolegate_standing_serviceaccount_bindings RoleBindings and ClusterRoleBindings that give service accounts standing access, by severity (critical, high, medium, low, none).
# TYPE rolegate_standing_serviceaccount_bindings gauge
rolegate_standing_serviceaccount_bindings{severity="critical"} 1
rolegate_standing_serviceaccount_bindings{severity="high"} 0
rolegate_standing_serviceaccount_bindings{severity="low"} 0
rolegate_standing_serviceaccount_bindings{severity="medium"} 0
rolegate_standing_serviceaccount_bindings{severity="none"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), metrics.StandingServiceAccountBindings); err != nil {
		t.Error(err)
	}
}
