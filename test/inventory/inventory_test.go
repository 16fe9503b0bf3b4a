// Package inventory_test runs the standing-access inventory and its
// conversion against a live API server (envtest): what an admin sees, what
// the shipped viewer persona may not see, and that convert's YAML is
// accepted by the API server (server-side apply, dry run).
//
//	KUBEBUILDER_ASSETS=$(hack/setup-envtest.sh) go test ./test/inventory/ -count=1 -v
package inventory_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/app"
	"rolegate.dev/rolegate/internal/inventory"
	"rolegate.dev/rolegate/internal/inventory/source"
	"rolegate.dev/rolegate/internal/policy"
	"rolegate.dev/rolegate/test/utils"
)

var (
	cfg  *rest.Config
	k8s  client.Client
	root string
)

func TestMain(m *testing.M) {
	os.Exit(utils.RunWithControlPlane(m, func(c *rest.Config, k client.Client) (func(), error) {
		cfg, k8s = c, k
		var err error
		root, err = utils.RepoRoot()
		return nil, err
	}))
}

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := k8s.Create(t.Context(), o); err != nil {
			t.Fatal(err)
		}
	}
}

// standing creates namespace ns with service account builder, a pod that
// runs as it and a RoleBinding of a risky ClusterRole.
func standing(t *testing.T, ns string) {
	t.Helper()
	create(t,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "builder"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "build"}, Spec: corev1.PodSpec{
			ServiceAccountName: "builder", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ns + "-ops"}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "create"}},
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"*"}},
		}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "builder-ops",
			Annotations: map[string]string{"meta.helm.sh/release-name": "ci"}},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: ns + "-ops"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "builder"}}},
	)
}

func TestInventoryOfALiveCluster(t *testing.T) {
	utils.RequireEnvtest(t)
	standing(t, "live")
	in, err := source.Read(t.Context(), k8s, "", source.Options{PageSize: 50})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := inventory.Build(in, inventory.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Unreadable) != 0 {
		t.Errorf("an admin could not read %v", rep.Unreadable)
	}
	i := slices.IndexFunc(rep.ServiceAccounts, func(a inventory.ServiceAccount) bool { return a.Namespace == "live" && a.Name == "builder" })
	if i < 0 {
		t.Fatal("live/builder is not in the inventory")
	}
	a := rep.ServiceAccounts[i]
	want := []policy.Capability{policy.CapWildcard, policy.CapTokenMint, policy.CapSecretRead}
	if !slices.Equal(a.Capabilities, want) || a.Severity != policy.SeverityHigh {
		t.Errorf("live/builder: capabilities %v severity %s; want %v, high (namespace scope, mounted by a pod)",
			a.Capabilities, a.Severity, want)
	}
	j := slices.IndexFunc(a.Bindings, func(b inventory.Binding) bool { return b.Name == "builder-ops" })
	if j < 0 || a.Bindings[j].Provenance != inventory.ProvenanceHelm {
		t.Errorf("bindings of live/builder = %+v, want builder-ops from Helm", a.Bindings)
	}
	// The API server's own bindings name controller service accounts of
	// kube-system that no controller manager created here: dangling, and
	// bootstrap.
	k := slices.IndexFunc(rep.DanglingBindings, func(d inventory.DanglingBinding) bool {
		return strings.HasPrefix(d.ServiceAccount, "kube-system/") && d.Provenance == inventory.ProvenanceBootstrap
	})
	if k < 0 {
		t.Errorf("no dangling bootstrap binding to a kube-system service account in %d dangling bindings", len(rep.DanglingBindings))
	}
}

// The shipped viewer persona reads rolegate's objects only: the inventory
// says it could read none of what it needs, and reports nothing as safe.
func TestInventoryAsTheViewerPersona(t *testing.T) {
	utils.RequireEnvtest(t)
	raw, err := os.ReadFile(filepath.Join(root, "config", "rbac", "viewer_role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var viewer rbacv1.ClusterRole
	if err := yaml.Unmarshal(raw, &viewer); err != nil {
		t.Fatal(err)
	}
	viewer.Name = "inventory-viewer"
	create(t, &viewer, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "inventory-viewer"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: viewer.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "auditor"}}})
	standing(t, "seen-by-viewer")

	as := rest.CopyConfig(cfg)
	as.Impersonate = rest.ImpersonationConfig{UserName: "auditor", Groups: []string{"system:authenticated"}}
	c, err := client.New(as, client.Options{Scheme: app.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	in, err := source.Read(t.Context(), c, "", source.Options{})
	if err != nil {
		t.Fatalf("a forbidden list must be reported, not fail the inventory: %v", err)
	}
	rep, err := inventory.Build(in, inventory.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var unreadable []string
	for _, u := range rep.Unreadable {
		unreadable = append(unreadable, u.Resource)
	}
	slices.Sort(unreadable)
	want := []string{"clusterrolebindings", "clusterroles", "pods", "rolebindings", "roles", "secrets", "serviceaccounts"}
	if !slices.Equal(unreadable, want) {
		t.Errorf("unreadable = %v, want %v", unreadable, want)
	}
	if len(rep.ServiceAccounts) != 0 || len(rep.DanglingBindings) != 0 {
		t.Errorf("the viewer saw %d service accounts and %d dangling bindings it may not read",
			len(rep.ServiceAccounts), len(rep.DanglingBindings))
	}
}

// convert's YAML is accepted by the API server: the ApprovalPolicy, the
// narrowed Role and the AccessRequest pass schema and CEL validation with a
// server-side apply in dry-run mode.
func TestConvertOutputApplies(t *testing.T) {
	utils.RequireEnvtest(t)
	standing(t, "convert")
	in, err := source.Read(t.Context(), k8s, "", source.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := inventory.Build(in, inventory.Options{})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(rep.ServiceAccounts, func(a inventory.ServiceAccount) bool { return a.Namespace == "convert" && a.Name == "builder" })
	if i < 0 {
		t.Fatal("convert/builder is not in the inventory")
	}
	a := rep.ServiceAccounts[i]
	var direct []inventory.Binding
	for _, b := range a.Bindings {
		if b.Via == rbacv1.ServiceAccountKind {
			direct = append(direct, b)
		}
	}
	conv, err := inventory.Convert(&a, direct, inventory.ConvertOptions{
		Approvers: []accessv1alpha1.Subject{{Kind: accessv1alpha1.SubjectGroup, Name: "platform-owners"}},
		Duration:  time.Hour, MaxDuration: 8 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := conv.WriteYAML(&out); err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(&out, 4096)
	var kinds []string
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
		if len(u.Object) == 0 {
			continue
		}
		kinds = append(kinds, u.GetKind())
		if err := k8s.Apply(t.Context(), client.ApplyConfigurationFromUnstructured(u), client.DryRunAll,
			client.FieldOwner("rolegate-convert-test"), client.ForceOwnership); err != nil {
			t.Errorf("server-side dry-run apply of %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
	if strings.Join(kinds, ",") != "ApprovalPolicy,Role,AccessRequest" {
		t.Errorf("convert emitted %v, want the policy, the narrowed Role and the request", kinds)
	}
}
