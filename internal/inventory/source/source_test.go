package source

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"rolegate.dev/rolegate/internal/inventory"
)

func objects() []client.Object {
	subject := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: "team-b", Name: "bot"}
	return []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "bot"}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "exec"}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "bot-exec"},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "exec"}, Subjects: []rbacv1.Subject{subject}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "bot-view"},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"}, Subjects: []rbacv1.Subject{subject}},
	}
}

func newClient(t *testing.T, funcs interceptor.Funcs) client.Client {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return interceptor.NewClient(fake.NewClientBuilder().WithScheme(s).WithObjects(objects()...).Build(), funcs)
}

func names(rbs []rbacv1.RoleBinding) string {
	var out []string
	for _, rb := range rbs {
		out = append(out, rb.Namespace+"/"+rb.Name)
	}
	return strings.Join(out, ",")
}

// For one namespace, RoleBindings are read in every namespace: one in
// another namespace may grant to its service accounts.
func TestReadNamespaceReadsBindingsEverywhere(t *testing.T) {
	in, err := Read(context.Background(), newClient(t, interceptor.Funcs{}), "team-b", Options{SkipSecrets: "not asked"})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(in.RoleBindings); got != "team-a/bot-exec,team-b/bot-view" {
		t.Errorf("RoleBindings read = %s, want both namespaces'", got)
	}
	if len(in.Roles) != 1 {
		t.Errorf("Roles read = %d, want team-a's", len(in.Roles))
	}
	if len(in.ServiceAccounts) != 1 || len(in.Unreadable) != 1 {
		t.Errorf("service accounts %d, unreadable %+v; want team-b's one and only the skipped Secrets", len(in.ServiceAccounts), in.Unreadable)
	}
}

// Whoever may read only the namespace gets its bindings and a line that
// says the other namespaces went unseen; never a silent pass.
func TestReadNamespaceSaysWhatOtherNamespacesHide(t *testing.T) {
	c := newClient(t, interceptor.Funcs{
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			lo := (&client.ListOptions{}).ApplyOptions(opts)
			if _, ok := list.(*rbacv1.RoleBindingList); ok && lo.Namespace == "" {
				return apierrors.NewForbidden(schema.GroupResource{Group: rbacv1.GroupName, Resource: "rolebindings"}, "", nil)
			}
			return c.List(ctx, list, opts...)
		},
	})
	in, err := Read(context.Background(), c, "team-b", Options{SkipSecrets: "not asked"})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(in.RoleBindings); got != "team-b/bot-view" {
		t.Errorf("RoleBindings read = %s, want team-b's", got)
	}
	var found bool
	for _, u := range in.Unreadable {
		if u.Resource == inventory.ResourceRoleBindings {
			found = true
			if u.Namespace != "" || !strings.Contains(u.Reason, "only namespace team-b was read") {
				t.Errorf("unreadable = %+v, want every namespace, saying only team-b was read", u)
			}
		}
	}
	if !found {
		t.Errorf("unreadable = %+v, want the RoleBindings of other namespaces", in.Unreadable)
	}
}
