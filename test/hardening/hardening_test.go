package hardening_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/cel/openapi/resolver"
	"k8s.io/client-go/discovery"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/controller"
	"rolegate.dev/rolegate/test/utils"
)

const (
	// operatorUser is the identity the default install runs the operator as
	// (config/default: namespace rolegate-system, namePrefix rolegate-).
	operatorUser = "system:serviceaccount:rolegate-system:rolegate-controller-manager"
	gcUser       = "system:serviceaccount:kube-system:generic-garbage-collector"
	nsCtrlUser   = "system:serviceaccount:kube-system:namespace-controller"
	kcmUser      = "system:kube-controller-manager"
	ns           = "payments"
	roleName     = "db-migrator"

	managedPolicy  = "managed-rolebindings"
	operatorPolicy = "operator-rolebindings"

	enforceTimeout = 30 * time.Second
)

var (
	hardeningDir = filepath.Join("..", "..", "config", "hardening")

	cfg   *rest.Config
	admin client.Client // system:masters: RBAC allows it everything, admission does not
	// users, by username, authenticated with client certificates.
	users = map[string]client.Client{}
	// policies are the ValidatingAdmissionPolicies read from config/hardening.
	policies = map[string]*admissionregistrationv1.ValidatingAdmissionPolicy{}
	// policyBindings are their bindings as applied, for the test that removes them.
	policyBindings []*unstructured.Unstructured
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if !utils.UseControlPlane() {
		return m.Run() // every test here skips through RequireEnvtest
	}
	env := &envtest.Environment{}
	var err error
	if cfg, err = env.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "starting envtest:", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}()
	if err := setUp(env); err != nil {
		fmt.Fprintln(os.Stderr, "setting up:", err)
		return 1
	}
	return m.Run()
}

// setUp creates the users, gives them RBAC broad enough that only the
// policies can refuse them, and applies config/hardening.
func setUp(env *envtest.Environment) error {
	ctx := context.Background()
	var err error
	if admin, err = client.New(cfg, client.Options{Scheme: clientgoscheme.Scheme}); err != nil {
		return err
	}
	sa := func(ns string) []string {
		return []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
	}
	for name, groups := range map[string][]string{
		operatorUser: sa("rolegate-system"),
		"mallory":    {"payments-admins", "system:authenticated"},
		gcUser:       sa("kube-system"),
		nsCtrlUser:   sa("kube-system"),
		kcmUser:      {"system:authenticated"},
	} {
		u, err := env.AddUser(envtest.User{Name: name, Groups: groups}, nil)
		if err != nil {
			return fmt.Errorf("adding user %s: %w", name, err)
		}
		ucfg := u.Config()
		ucfg.QPS, ucfg.Burst = 1000, 1000 // client-go's default 5 QPS makes the retries crawl
		if users[name], err = client.New(ucfg, client.Options{Scheme: clientgoscheme.Scheme}); err != nil {
			return err
		}
	}

	writer := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "hardening-test-binding-writer"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"rolebindings", "clusterrolebindings"}, Verbs: []string{"*"}},
			{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"roles", "clusterroles"}, Verbs: []string{"get", "list", "bind", "escalate"}},
		},
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "hardening-test-binding-writer"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: writer.Name},
	}
	for name := range users {
		crb.Subjects = append(crb.Subjects, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name})
	}
	for _, obj := range []client.Object{
		writer, crb,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: roleName, Namespace: ns},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}}}},
	} {
		if err := admin.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		}
	}

	objs, err := readKustomization(hardeningDir)
	if err != nil {
		return err
	}
	for _, obj := range objs {
		if err := admin.Create(ctx, obj); err != nil {
			return fmt.Errorf("applying %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
		switch obj.GetKind() {
		case "ValidatingAdmissionPolicy":
			p := &admissionregistrationv1.ValidatingAdmissionPolicy{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, p); err != nil {
				return err
			}
			policies[p.Name] = p
		case "ValidatingAdmissionPolicyBinding":
			policyBindings = append(policyBindings, obj.DeepCopy())
		}
	}
	if policies[managedPolicy] == nil || policies[operatorPolicy] == nil || len(policyBindings) != 2 {
		return fmt.Errorf("config/hardening: want policies %s and %s with one binding each, got %d policies and %d bindings",
			managedPolicy, operatorPolicy, len(policies), len(policyBindings))
	}
	return nil
}

// readKustomization decodes every document of every resource that
// dir/kustomization.yaml lists.
func readKustomization(dir string) ([]*unstructured.Unstructured, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(raw, &k); err != nil {
		return nil, fmt.Errorf("%s/kustomization.yaml: %w", dir, err)
	}
	var objs []*unstructured.Unstructured
	for _, file := range k.Resources {
		data, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			return nil, err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			obj := &unstructured.Unstructured{}
			if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			if len(obj.Object) > 0 {
				objs = append(objs, obj)
			}
		}
	}
	return objs, nil
}

// --- fixtures -------------------------------------------------------------

// grant is the RoleBinding the controller itself builds for an AccessRequest
// (controller.DesiredBinding), so the tests follow what rolegate really writes.
func grant(mutate ...func(*rbacv1.RoleBinding)) *rbacv1.RoleBinding {
	req := &accessv1alpha1.AccessRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "ledger-migrate", Namespace: ns, UID: types.UID(fmt.Sprint(time.Now().UnixNano()))},
		Spec: accessv1alpha1.AccessRequestSpec{
			ServiceAccount: accessv1alpha1.ServiceAccountReference{Name: "ledger-migrator"},
			RoleRef:        accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: roleName},
		},
	}
	rb := controller.DesiredBinding(req, time.Now().Add(time.Hour))
	for _, m := range mutate {
		m(rb)
	}
	return rb
}

// plain is a RoleBinding rolegate has nothing to do with.
func plain(labels map[string]string) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "team-", Namespace: ns, Labels: labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: roleName},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "builder", Namespace: ns}},
	}
}

func withoutLabel(key string) func(*rbacv1.RoleBinding) {
	return func(rb *rbacv1.RoleBinding) { delete(rb.Labels, key) }
}

func withSubjects(s ...rbacv1.Subject) func(*rbacv1.RoleBinding) {
	return func(rb *rbacv1.RoleBinding) { rb.Subjects = s }
}

var (
	saSubject   = rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "ledger-migrator", Namespace: ns}
	userSubject = rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "mallory"}
)

// operatorGrant creates a correct managed binding as the operator.
func operatorGrant(t *testing.T) *rbacv1.RoleBinding {
	t.Helper()
	rb := grant()
	if err := users[operatorUser].Create(t.Context(), rb); err != nil {
		t.Fatalf("the operator could not create its own grant: %v", err)
	}
	return rb
}

// edit re-reads the binding as user, changes it and updates it.
func edit(t *testing.T, user string, rb *rbacv1.RoleBinding, change func(*rbacv1.RoleBinding)) error {
	t.Helper()
	c := users[user]
	fresh := &rbacv1.RoleBinding{}
	if err := c.Get(t.Context(), client.ObjectKeyFromObject(rb), fresh); err != nil {
		t.Fatalf("reading %s as %s: %v", rb.Name, user, err)
	}
	change(fresh)
	return c.Update(t.Context(), fresh)
}

// --- assertions -----------------------------------------------------------

// rbacDenial is how the RBAC authorizer words a refusal.
var rbacDenial = regexp.MustCompile(`User "[^"]*" cannot `)

// policyMessage returns the message of the policy's validation whose message
// contains fragment.
func policyMessage(t *testing.T, policy, fragment string) string {
	t.Helper()
	p := policies[policy]
	for _, v := range p.Spec.Validations {
		if strings.Contains(v.Message, fragment) {
			return v.Message
		}
	}
	t.Fatalf("policy %s has no validation whose message contains %q", policy, fragment)
	return ""
}

// refusedBy fails the test unless err is the policy's refusal with the
// message that contains fragment — not RBAC's, not another policy's.
func refusedBy(t *testing.T, err error, policy, fragment string) {
	t.Helper()
	msg := policyMessage(t, policy, fragment)
	switch {
	case err == nil:
		t.Fatalf("the write was allowed; want it refused by ValidatingAdmissionPolicy %s: %q", policy, msg)
	case !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err):
		t.Fatalf("want Forbidden or Invalid from ValidatingAdmissionPolicy %s, got %v (reason %s)", policy, err, apierrors.ReasonForError(err))
	case rbacDenial.MatchString(err.Error()):
		t.Fatalf("refused by RBAC, not by the policy: %v", err)
	case !strings.Contains(err.Error(), fmt.Sprintf("ValidatingAdmissionPolicy '%s'", policy)):
		t.Fatalf("want a refusal from ValidatingAdmissionPolicy %s, got %v", policy, err)
	case !strings.Contains(err.Error(), msg):
		t.Fatalf("refusal lacks the policy's message %q: %v", msg, err)
	}
}

func allowed(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: want allowed, got %v", what, err)
	}
}

// permanent is an error eventually does not retry.
type permanent struct{ error }

// eventually retries check every 100ms until it returns nil or a permanent
// error, or timeout passes, and returns its last error.
func eventually(timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if p := (permanent{}); err == nil || errors.As(err, &p) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitEnforced waits until both policies refuse writes: the API server
// loads policies and bindings asynchronously. The probes are dry runs.
func waitEnforced(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	probes := map[string]func() error{
		managedPolicy: func() error { return users["mallory"].Create(ctx, grant(), client.DryRunAll) },
		operatorPolicy: func() error {
			return users[operatorUser].Create(ctx, clusterBinding(), client.DryRunAll)
		},
	}
	for policy, probe := range probes {
		err := eventually(enforceTimeout, func() error {
			err := probe()
			if err != nil && strings.Contains(err.Error(), fmt.Sprintf("ValidatingAdmissionPolicy '%s'", policy)) {
				return nil
			}
			return fmt.Errorf("not refused yet (%w)", err)
		})
		if err != nil {
			t.Fatalf("ValidatingAdmissionPolicy %s not enforced within %s: %v", policy, enforceTimeout, err)
		}
	}
}

func clusterBinding() *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "rolegate-escape-"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects:   []rbacv1.Subject{saSubject},
	}
}

// --- the cases ------------------------------------------------------------

// refusal is a write a policy must refuse and RBAC alone would allow. write
// sets up what it needs, so it can run again once the policies are gone.
type refusal struct {
	name     string
	policy   string
	fragment string // part of the policy message the refusal must carry
	write    func(t *testing.T) error
}

const (
	onlyOperator  = "can only be created, changed, relabelled or deleted by the rolegate operator"
	needLabels    = "must carry the labels app.kubernetes.io/managed-by=rolegate and access.rolegate.dev/request"
	needOwner     = "must have a controller ownerReference to their AccessRequest"
	oneSA         = "must bind exactly one subject, of kind ServiceAccount"
	noClusterWide = "may not write ClusterRoleBindings"
)

var refusals = []refusal{
	{"mallory cannot create a RoleBinding with the managed label", managedPolicy, onlyOperator,
		func(t *testing.T) error { return users["mallory"].Create(t.Context(), grant()) }},
	{"a cluster admin cannot create a RoleBinding with the managed label either", managedPolicy, onlyOperator,
		func(t *testing.T) error { return admin.Create(t.Context(), grant()) }},
	{"mallory cannot edit a managed binding's subjects", managedPolicy, onlyOperator,
		func(t *testing.T) error {
			return edit(t, "mallory", operatorGrant(t), func(rb *rbacv1.RoleBinding) {
				rb.Subjects = append(rb.Subjects, userSubject)
			})
		}},
	{"mallory cannot remove the managed label", managedPolicy, onlyOperator,
		func(t *testing.T) error {
			return edit(t, "mallory", operatorGrant(t), func(rb *rbacv1.RoleBinding) {
				delete(rb.Labels, accessv1alpha1.ManagedByLabel)
			})
		}},
	{"mallory cannot add the managed label to her own RoleBinding", managedPolicy, onlyOperator,
		func(t *testing.T) error {
			rb := plain(nil)
			allowed(t, users["mallory"].Create(t.Context(), rb), "mallory creating an unlabelled RoleBinding")
			return edit(t, "mallory", rb, func(rb *rbacv1.RoleBinding) {
				rb.Labels = grant().Labels
			})
		}},
	{"mallory cannot delete a managed binding", managedPolicy, onlyOperator,
		func(t *testing.T) error { return users["mallory"].Delete(t.Context(), operatorGrant(t)) }},
	{"the garbage collector cannot edit a managed binding", managedPolicy, onlyOperator,
		func(t *testing.T) error {
			return edit(t, gcUser, operatorGrant(t), func(rb *rbacv1.RoleBinding) { rb.OwnerReferences = nil })
		}},
	{"the operator cannot create a managed binding with two subjects", operatorPolicy, oneSA,
		func(t *testing.T) error {
			return users[operatorUser].Create(t.Context(), grant(withSubjects(saSubject,
				rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "other", Namespace: ns})))
		}},
	{"the operator cannot create a managed binding for a User", operatorPolicy, oneSA,
		func(t *testing.T) error {
			return users[operatorUser].Create(t.Context(), grant(withSubjects(userSubject)))
		}},
	{"the operator cannot create a managed binding without the request label", operatorPolicy, needLabels,
		func(t *testing.T) error {
			return users[operatorUser].Create(t.Context(), grant(withoutLabel(accessv1alpha1.RequestLabel)))
		}},
	{"the operator cannot create a managed binding without a controller reference to its AccessRequest", operatorPolicy, needOwner,
		func(t *testing.T) error {
			return users[operatorUser].Create(t.Context(), grant(func(rb *rbacv1.RoleBinding) { rb.OwnerReferences = nil }))
		}},
	{"the operator cannot create an unlabelled RoleBinding", operatorPolicy, needLabels,
		func(t *testing.T) error { return users[operatorUser].Create(t.Context(), plain(nil)) }},
	{"the operator cannot strip the labels from a managed binding", operatorPolicy, needLabels,
		func(t *testing.T) error {
			return edit(t, operatorUser, operatorGrant(t), func(rb *rbacv1.RoleBinding) { rb.Labels = nil })
		}},
	{"the operator cannot create a ClusterRoleBinding", operatorPolicy, noClusterWide,
		func(t *testing.T) error { return users[operatorUser].Create(t.Context(), clusterBinding()) }},
}

func TestHardeningPolicies(t *testing.T) {
	utils.RequireEnvtest(t)
	t.Run("each policy names the operator once, in its first variable", func(t *testing.T) {
		for name, p := range policies {
			if len(p.Spec.Variables) == 0 || p.Spec.Variables[0].Name != "operator" ||
				p.Spec.Variables[0].Expression != "'"+operatorUser+"'" {
				t.Errorf("policy %s: first variable = %+v, want operator = '%s' (README's patch replaces /spec/variables/0)",
					name, p.Spec.Variables[:min(1, len(p.Spec.Variables))], operatorUser)
			}
			raw, _ := json.Marshal(p.Spec)
			if n := strings.Count(string(raw), "rolegate-controller-manager"); n != 1 {
				t.Errorf("policy %s names the operator %d times, want once", name, n)
			}
		}
	})

	t.Run("the policies' CEL type-checks against the RoleBinding schema", func(t *testing.T) {
		dc, err := discovery.NewDiscoveryClientForConfig(cfg)
		must(t, err)
		tc := &validating.TypeChecker{
			SchemaResolver: &resolver.ClientDiscoveryResolver{Discovery: dc},
			RestMapper:     admin.RESTMapper(),
		}
		// A type checker that could not resolve the schema finds nothing:
		// make sure it catches a misspelt field first.
		broken := policies[operatorPolicy].DeepCopy()
		broken.Spec.Validations = []admissionregistrationv1.Validation{{Expression: "has(object.subjectz)"}}
		if len(tc.Check(broken)) == 0 {
			t.Fatal("the type checker did not flag object.subjectz: it could not resolve the RoleBinding schema " +
				"(matchConstraints with wildcard groups or versions are not type-checked)")
		}
		for name, p := range policies {
			for _, w := range tc.Check(p) {
				t.Errorf("policy %s, %s: %s", name, w.FieldRef, w.Warning)
			}
		}
	})

	waitEnforced(t)

	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			refusedBy(t, r.write(t), r.policy, r.fragment)
		})
	}

	for _, c := range []struct {
		what   string
		labels map[string]string
	}{
		{"an unlabelled RoleBinding", nil},
		{"a RoleBinding managed by Helm", map[string]string{accessv1alpha1.ManagedByLabel: "Helm"}},
	} {
		t.Run("mallory can create, edit and delete "+c.what, func(t *testing.T) {
			ctx := t.Context()
			rb := plain(c.labels)
			allowed(t, users["mallory"].Create(ctx, rb), "create")
			allowed(t, edit(t, "mallory", rb, func(rb *rbacv1.RoleBinding) {
				rb.Subjects = append(rb.Subjects, userSubject)
			}), "edit subjects")
			allowed(t, users["mallory"].Delete(ctx, rb), "delete")
		})
	}

	t.Run("the operator can create, update and delete the binding it builds", func(t *testing.T) {
		ctx := t.Context()
		op := users[operatorUser]
		rb := grant()
		allowed(t, op.Create(ctx, rb), "create")
		allowed(t, edit(t, operatorUser, rb, func(rb *rbacv1.RoleBinding) {
			rb.Subjects = []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "ledger-migrator", Namespace: "ledger"}}
			rb.Annotations[accessv1alpha1.ExpiresAtAnnotation] = time.Now().Add(time.Minute).UTC().Format(time.RFC3339)
		}), "update")
		allowed(t, op.Delete(ctx, rb, client.Preconditions{UID: &rb.UID}), "delete")
	})

	for _, user := range []string{gcUser, nsCtrlUser, kcmUser} {
		t.Run(user+" can delete a managed binding", func(t *testing.T) {
			allowed(t, users[user].Delete(t.Context(), operatorGrant(t)), "delete")
		})
	}

	t.Run("without the policy these writes are allowed", func(t *testing.T) {
		ctx := t.Context()
		for _, b := range policyBindings {
			must(t, admin.Delete(ctx, b.DeepCopy()))
		}
		t.Cleanup(func() {
			for _, b := range policyBindings {
				b := b.DeepCopy()
				b.SetResourceVersion("")
				_ = admin.Create(context.Background(), b)
			}
		})
		for _, r := range refusals {
			// The API server forgets the bindings asynchronously: retry
			// while the refusal is still the policy's.
			err := eventually(enforceTimeout, func() error {
				err := r.write(t)
				if err != nil && !strings.Contains(err.Error(), "ValidatingAdmissionPolicy") {
					return permanent{err}
				}
				return err
			})
			if err != nil {
				t.Errorf("%s: without the policy the write is still refused, so the test proves nothing: %v", r.name, err)
			}
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
