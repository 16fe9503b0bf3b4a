package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"rolegate.dev/rolegate/internal/inventory"
	"rolegate.dev/rolegate/internal/policy"
)

// standingObjects: payments-api may read Secrets cluster-wide and a pod
// runs as it; a RoleBinding names payments/old-job, which is gone.
func standingObjects() []client.Object {
	return []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: "payments-api"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ledger", Name: "ledger-api"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: "api-1"},
			Spec: corev1.PodSpec{ServiceAccountName: "payments-api"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "secret-reader"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list"}}}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "payments-secrets", Labels: map[string]string{"app.kubernetes.io/managed-by": "Helm"}},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "secret-reader"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "payments", Name: "payments-api"}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: "old-job-edit"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "payments", Name: "old-job"}}},
	}
}

func TestInventoryJSON(t *testing.T) {
	out, _, err := runCLI(t, fakeCluster(append(cliObjects(), standingObjects()...)...).Build(), "inventory", "-o", "json", "--fail-on", "critical")
	if err != nil {
		t.Fatalf("inventory --fail-on critical: %v", err)
	}
	var rep inventory.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("output is not the inventory JSON: %v\n%s", err, out)
	}
	// -n payments limits the inventory to payments.
	if len(rep.ServiceAccounts) != 2 || rep.ServiceAccounts[0].Name != "payments-api" || rep.ServiceAccounts[0].Severity != "high" {
		t.Fatalf("serviceAccounts = %+v, want payments-api (high) then old-job", rep.ServiceAccounts)
	}
	if b := rep.ServiceAccounts[0].Bindings[0]; b.Name != "payments-secrets" || b.Provenance != inventory.ProvenanceHelm {
		t.Errorf("binding = %+v, want the Helm ClusterRoleBinding", b)
	}
	if len(rep.DanglingBindings) != 1 || rep.DanglingBindings[0].ServiceAccount != "payments/old-job" {
		t.Errorf("danglingBindings = %+v", rep.DanglingBindings)
	}
}

func TestInventoryTableAndFailOn(t *testing.T) {
	c := fakeCluster(append(cliObjects(), standingObjects()...)...).Build()
	out, _, err := runCLI(t, c, "inventory", "--fail-on", "high")
	if err == nil || !strings.Contains(err.Error(), "1 service account(s) hold standing access of severity high") {
		t.Errorf("--fail-on high: err = %v, want a failure naming one account", err)
	}
	for _, want := range []string{"high", "payments/payments-api", "secret-read", "ClusterRoleBinding payments-secrets", "helm",
		"DANGLING BINDINGS", "payments/old-job"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if len(line) > 120 {
			t.Errorf("line wider than 120 columns (%d): %q", len(line), line)
		}
	}
	if _, _, err := runCLI(t, c, "inventory", "--fail-on", "severe"); err == nil || !strings.Contains(err.Error(), "--fail-on") {
		t.Errorf("--fail-on severe: err = %v, want it to name the flag", err)
	}
}

func TestInventoryReportsWhatItCouldNotRead(t *testing.T) {
	c := fakeCluster(append(cliObjects(), standingObjects()...)...).WithInterceptorFuncs(interceptor.Funcs{
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if _, ok := list.(*rbacv1.ClusterRoleBindingList); ok {
				return apierrors.NewForbidden(schema.GroupResource{Group: rbacv1.GroupName, Resource: "clusterrolebindings"}, "", errForbidden)
			}
			return c.List(ctx, list, opts...)
		},
	}).Build()
	out, _, err := runCLI(t, c, "inventory", "--fail-on", "critical")
	if !strings.HasPrefix(out, "INCOMPLETE") || !strings.Contains(out, "clusterrolebindings cluster-wide") {
		t.Errorf("table does not say what it could not read:\n%s", out)
	}
	if err == nil || !strings.Contains(err.Error(), "incomplete") {
		t.Errorf("--fail-on with an unreadable list: err = %v, want a failure", err)
	}
}

func TestReportShowsStandingAccess(t *testing.T) {
	c := fakeCluster(append(cliObjects(), standingObjects()...)...).Build()
	out, _, err := runCLI(t, c, "report")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"STANDING SERVICE-ACCOUNT ACCESS", "high       1          1", "DANGLING: 1 binding(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestConvert(t *testing.T) {
	c := fakeCluster(append(cliObjects(), standingObjects()...)...).Build()
	out, _, err := runCLI(t, c, "convert", "--serviceaccount", "payments/payments-api", "--approver", "Group:platform-owners")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kind: ApprovalPolicy", "name: standing-payments-payments-api", "kind: AccessRequest",
		"name: secret-reader", "# NOTE: ClusterRoleBinding payments-secrets grants ClusterRole/secret-reader in every namespace"} {
		if !strings.Contains(out, want) {
			t.Errorf("convert output lacks %q:\n%s", want, out)
		}
	}
	out, _, err = runCLI(t, c, "convert", "--binding", "RoleBinding/payments/old-job-edit", "--approver", "User:alice")
	if err != nil || !strings.Contains(out, "serviceAccount:\n    name: old-job") {
		t.Errorf("convert --binding: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"convert", "--approver", "User:alice"}, "exactly one of --serviceaccount"},
		{[]string{"convert", "--serviceaccount", "payments-api", "--approver", "User:alice"}, "want NAMESPACE/NAME"},
		{[]string{"convert", "--serviceaccount", "payments/payments-api"}, "--approver"},
		{[]string{"convert", "--serviceaccount", "payments/payments-api", "--approver", "Team:x"}, "kind must be User, Group or ServiceAccount"},
		{[]string{"convert", "--binding", "RoleBinding/x", "--approver", "User:alice"}, "RoleBinding/NAMESPACE/NAME"},
		{[]string{"convert", "--serviceaccount", "payments/nobody", "--approver", "User:alice"}, "not found"},
	} {
		if _, _, err := runCLI(t, c, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
}

// The widest cells still fit 120 columns: long names are cut, the
// capabilities counted past the width.
func TestInventoryTableFits120Columns(t *testing.T) {
	long := strings.Repeat("n", 63)
	b := inventory.Binding{Kind: "ClusterRoleBinding", Name: long, RoleRef: inventory.RoleRef{Kind: "ClusterRole", Name: long},
		Provenance: inventory.ProvenanceBootstrap, Severity: policy.SeverityCritical, Caps: policy.AllCapabilities}
	rep := &inventory.Report{
		ServiceAccounts: []inventory.ServiceAccount{{Namespace: long, Name: long, Exists: new(bool), Exposure: inventory.ExposureBoth,
			Bindings: []inventory.Binding{b}, Capabilities: policy.AllCapabilities, Severity: policy.SeverityCritical}},
		DanglingBindings: []inventory.DanglingBinding{{Binding: b, ServiceAccount: long + "/" + long}},
		Unreadable:       []inventory.Unreadable{{Resource: "clusterrolebindings", Reason: strings.Repeat("forbidden ", 30)}},
	}
	var out bytes.Buffer
	if err := writeInventoryTable(&out, rep); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if len(line) > 120 {
			t.Errorf("line wider than 120 columns (%d): %q", len(line), line)
		}
	}
	if !strings.Contains(out.String(), "cluster-admin-equivalent,+13") {
		t.Errorf("capabilities cell does not count what it leaves out:\n%s", out.String())
	}
}
