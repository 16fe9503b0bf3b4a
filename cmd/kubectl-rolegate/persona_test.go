package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/scheme"
	"rolegate.dev/rolegate/test/utils"
)

// The persona tests run the CLI against a real API server (envtest, with
// RBAC) as impersonated users bound only to the ClusterRoles rolegate ships
// in config/rbac: a requester and an approver hold rolegate-requester in
// their namespace, a viewer rolegate-viewer; all three hold
// rolegate-policy-reader cluster-wide, as docs/cli.md tells admins to bind it.

var controlPlane struct {
	once  sync.Once
	env   *envtest.Environment
	cfg   *rest.Config
	admin client.Client
	err   error
}

// personaCluster starts one control plane for the package's persona tests,
// with the shipped user roles and the CLI fixture's objects.
func personaCluster(t *testing.T) (*rest.Config, client.Client) {
	t.Helper()
	utils.RequireEnvtest(t)
	cp := &controlPlane
	cp.once.Do(func() {
		if os.Getenv("KUBEBUILDER_ASSETS") == "" {
			cp.err = errAssets
			return
		}
		cp.env, cp.cfg, cp.admin, cp.err = utils.StartControlPlane(nil)
		if cp.err == nil {
			cp.err = seedPersonas(t, cp.admin)
		}
	})
	if cp.err != nil {
		t.Fatalf("persona control plane: %v", cp.err)
	}
	return cp.cfg, cp.admin
}

var errAssets = errorString("KUBEBUILDER_ASSETS is not set; run `make test` (it builds kube-apiserver and etcd once)")

type errorString string

func (e errorString) Error() string { return string(e) }

func TestMain(m *testing.M) {
	code := m.Run()
	if controlPlane.env != nil {
		_ = controlPlane.env.Stop()
	}
	os.Exit(code)
}

// shippedRole reads a ClusterRole from config/rbac and names it as the
// default kustomize install does (namePrefix rolegate-).
func shippedRole(file string) (*rbacv1.ClusterRole, error) {
	root, err := utils.RepoRoot()
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(root, "config", "rbac", file))
	if err != nil {
		return nil, err
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.UnmarshalStrict(data, role); err != nil {
		return nil, err
	}
	role.Name = "rolegate-" + role.Name
	return role, nil
}

// Personas: who they are and the groups the fixture's policy knows.
var (
	requesterPersona = &user{name: "carol", groups: []string{"payments-devs"}}
	approverPersona  = &user{name: "bob", groups: []string{"payments-owners"}}
	viewerPersona    = &user{name: "vera", groups: []string{"auditors"}}
)

func seedPersonas(t *testing.T, admin client.Client) error {
	ctx := t.Context()
	roles := map[string]*rbacv1.ClusterRole{}
	for _, file := range []string{"requester_role.yaml", "viewer_role.yaml", "policy_reader_role.yaml"} {
		r, err := shippedRole(file)
		if err != nil {
			return err
		}
		if err := admin.Create(ctx, r); err != nil {
			return err
		}
		roles[file] = r
	}
	bind := func(u *user, role string, namespace string) error {
		subject := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: u.name}}
		ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}
		if namespace == "" {
			return admin.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: u.name + "-" + role},
				Subjects: subject, RoleRef: ref})
		}
		return admin.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: u.name + "-" + role},
			Subjects: subject, RoleRef: ref})
	}
	for _, o := range cliObjects() {
		o.SetResourceVersion("")
		o.SetCreationTimestamp(metav1.Time{})
		status := statusOf(o)
		if err := admin.Create(ctx, o); err != nil {
			if _, builtin := o.(*rbacv1.ClusterRole); builtin && apierrors.IsAlreadyExists(err) {
				continue // view and edit come with the API server
			}
			return err
		}
		if status != nil {
			ar := o.(*accessv1alpha1.AccessRequest)
			ar.Status = *status
			if err := admin.Status().Update(ctx, ar); err != nil {
				return err
			}
		}
	}
	// A break-glass grant awaiting acknowledgement, for ack.
	bg := cliRequest("bg-dave", "dave", "view", accessv1alpha1.RoleKindClusterRole, 0)
	bg.CreationTimestamp = metav1.Time{}
	if err := admin.Create(ctx, bg); err != nil {
		return err
	}
	for _, b := range []struct {
		u        *user
		role, ns string
	}{
		{requesterPersona, roles["requester_role.yaml"].Name, "payments"},
		{approverPersona, roles["requester_role.yaml"].Name, "payments"},
		{viewerPersona, roles["viewer_role.yaml"].Name, "payments"},
		{requesterPersona, roles["policy_reader_role.yaml"].Name, ""},
		{approverPersona, roles["policy_reader_role.yaml"].Name, ""},
		{viewerPersona, roles["policy_reader_role.yaml"].Name, ""},
	} {
		if err := bind(b.u, b.role, b.ns); err != nil {
			return err
		}
	}
	return nil
}

// statusOf is a request's status, written after create (the status
// subresource ignores it on create); nil for other objects.
func statusOf(o client.Object) *accessv1alpha1.AccessRequestStatus {
	if ar, ok := o.(*accessv1alpha1.AccessRequest); ok {
		st := ar.Status.DeepCopy()
		for i := range st.Conditions {
			st.Conditions[i].LastTransitionTime = metav1.NewTime(time.Now().Truncate(time.Second))
		}
		return st
	}
	return nil
}

// runAs runs the CLI with -n payments as the user, through impersonation.
func runAs(t *testing.T, cfg *rest.Config, u *user, args ...string) (string, string, error) {
	t.Helper()
	imp := rest.CopyConfig(cfg)
	imp.Impersonate = rest.ImpersonationConfig{UserName: u.name, Groups: u.groups}
	var out, errOut bytes.Buffer
	root := newRootCmd(genericiooptions.IOStreams{Out: &out, ErrOut: &errOut}, rootOptions{
		newClient: func(*rest.Config) (client.Client, error) {
			return client.NewWithWatch(imp, client.Options{Scheme: scheme.Scheme})
		},
	})
	root.SetArgs(append([]string{"--kubeconfig", kubeconfig(t), "-n", "payments"}, args...))
	err := root.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

func TestPersonasUseTheShippedRoles(t *testing.T) {
	cfg, _ := personaCluster(t)
	tests := []struct {
		persona string
		u       *user
		args    []string
		// want is something the command prints when it did its job.
		want string
	}{
		{"requester", requesterPersona, []string{"catalog"}, "Role/db-migrator"},
		{"requester", requesterPersona, []string{"request", "payments-api", "--role", "ClusterRole/edit", "--for", "1h",
			"--reason", "CHG-7", "--tag", "ticket=CHG-7", "--tag", "type=temporary", "--name", "persona-edit"},
			"accessrequest.access.rolegate.dev/persona-edit created"},
		{"requester", requesterPersona, []string{"explain", "edit-carol"}, "Policy:          payments"},
		{"requester", requesterPersona, []string{"status", "view-erin"}, "view-erin"},
		{"approver", approverPersona, []string{"pending"}, "edit-carol"},
		{"approver", approverPersona, []string{"approve", "edit-carol", "-m", "ok"}, "(Approve edit-carol)"},
		{"approver", approverPersona, []string{"deny", "migrate-dave", "-m", "no"}, "(Deny migrate-dave)"},
		{"approver", approverPersona, []string{"ack", "bg-dave", "-m", "seen"}, "(Acknowledge bg-dave)"},
		{"viewer", viewerPersona, []string{"report"}, "payments"},
	}
	for _, tt := range tests {
		t.Run(tt.persona+" "+tt.args[0], func(t *testing.T) {
			out, errOut, err := runAs(t, cfg, tt.u, tt.args...)
			if err != nil {
				t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
			}
			t.Logf("stdout:\n%s\nstderr:\n%s", out, errOut)
			all := out + errOut
			if strings.Contains(strings.ToLower(all), "forbidden") {
				t.Errorf("output mentions forbidden:\n%s", all)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("stdout lacks %q:\n%s\nstderr:\n%s", tt.want, out, errOut)
			}
			// Every check that could not run says so in one line.
			for _, line := range strings.Split(strings.TrimSpace(errOut), "\n") {
				if line != "" && !strings.HasPrefix(line, "Note: ") && !strings.HasPrefix(line, "Warning: ") {
					t.Errorf("stderr line is not a one-line note: %q", line)
				}
			}
		})
	}
}

// TestPersonaWithoutPolicyReader: a namespace editor without the
// policy-reader binding is told what is missing, in one line, not skipped.
func TestPersonaWithoutPolicyReader(t *testing.T) {
	cfg, admin := personaCluster(t)
	editor := &user{name: "ed", groups: []string{"payments-devs"}}
	utils.Must(t, admin.Create(t.Context(), &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: "ed-requester"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: editor.name}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "rolegate-requester"},
	}))
	_, _, err := runAs(t, cfg, editor, "catalog")
	if err == nil || !strings.Contains(err.Error(), "you may not list ApprovalPolicies") ||
		!strings.Contains(err.Error(), policyReaderRole) {
		t.Errorf("catalog: err = %v", err)
	}
	_, errOut, err := runAs(t, cfg, editor, "request", "payments-api", "--role", "ClusterRole/edit", "--for", "1h",
		"--reason", "CHG-8", "--tag", "ticket=CHG-8", "--tag", "type=temporary", "--dry-run")
	if err != nil {
		t.Fatalf("request --dry-run: %v\n%s", err, errOut)
	}
	if !strings.Contains(errOut, "Note: you may not read ApprovalPolicies") {
		t.Errorf("request: stderr %q, want a note that the policy check was skipped", errOut)
	}
	out, _, err := runAs(t, cfg, editor, "explain", "edit-carol")
	if err != nil || !strings.Contains(out, "Cannot re-run the policy checks: you may not read ApprovalPolicies") ||
		!strings.Contains(out, policyReaderRole) {
		t.Errorf("explain: err %v\n%s", err, out)
	}
	_, _, err = runAs(t, cfg, editor, "pending")
	if err == nil || !strings.Contains(err.Error(), "you may not read ApprovalPolicy payments") ||
		!strings.Contains(err.Error(), policyReaderRole) {
		t.Errorf("pending: err = %v", err)
	}
}
