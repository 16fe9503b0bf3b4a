// Package manifests_test renders the kustomize trees under config/ with the
// kustomize Go API (the library behind `kustomize build`) and checks that
// what would be installed is consistent with itself, with the manager's Go
// code (webhook paths, flag defaults) and with the API server, which
// dry-run applies every rendered object.
//
// Run: KUBEBUILDER_ASSETS=$(hack/setup-envtest.sh) go test ./test/manifests/ -count=1 -v
// Without KUBEBUILDER_ASSETS the rendering checks run and the dry runs skip.
package manifests_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	webhookv1alpha1 "rolegate.dev/rolegate/internal/webhook/v1alpha1"
	"rolegate.dev/rolegate/test/utils"
)

const (
	installNamespace = "rolegate-system"
	fieldOwner       = client.FieldOwner("rolegate-test")
	rbacGroup        = rbacv1.GroupName
	crdKind          = "CustomResourceDefinition"
	applyTimeout     = 20 * time.Second
)

var (
	repoRoot string
	k8s      client.Client
	mapper   meta.RESTMapper
)

func TestMain(m *testing.M) {
	if !utils.UseControlPlane() {
		// The rendering checks run; the dry runs skip through RequireEnvtest.
		var err error
		if repoRoot, err = utils.RepoRoot(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(m.Run())
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if repoRoot, err = utils.RepoRoot(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// No CRDs: the tests install them from the rendered config/default.
	env := &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting envtest:", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}()
	cfg.QPS, cfg.Burst = 1000, 1000
	if err := newClient(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "creating the client:", err)
		return 1
	}
	return m.Run()
}

func newClient(cfg *rest.Config) error {
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	if mapper, err = apiutil.NewDynamicRESTMapper(cfg, httpClient); err != nil {
		return err
	}
	k8s, err = client.New(cfg, client.Options{Scheme: clientgoscheme.Scheme, Mapper: mapper, HTTPClient: httpClient})
	return err
}

// ---------------------------------------------------------------------------
// Rendering

type objects = utils.Objects

type rendered struct {
	objs objects
	err  error
}

var (
	renderMu    sync.Mutex
	renderCache = map[string]rendered{}
)

// build runs `kustomize build` on dir (relative to the repository root)
// in-process, once per test binary.
func build(dir string) (objects, error) {
	renderMu.Lock()
	defer renderMu.Unlock()
	if r, ok := renderCache[dir]; ok {
		return r.objs, r.err
	}
	objs, err := func() (objects, error) {
		k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
		rm, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(repoRoot, dir))
		if err != nil {
			return nil, err
		}
		var objs objects
		for _, r := range rm.Resources() {
			// Through JSON, so numbers are int64/float64 as elsewhere in
			// apimachinery (r.Map() yields int, which DeepCopy rejects).
			b, err := r.MarshalJSON()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", r.CurId(), err)
			}
			u := &unstructured.Unstructured{}
			if err := u.UnmarshalJSON(b); err != nil {
				return nil, fmt.Errorf("%s: %w", r.CurId(), err)
			}
			objs = append(objs, u)
		}
		return objs, nil
	}()
	renderCache[dir] = rendered{objs, err}
	return objs, err
}

func render(t testing.TB, dir string) objects {
	t.Helper()
	objs, err := build(dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	return objs
}

func id(u *unstructured.Unstructured) string {
	if u.GetNamespace() == "" {
		return u.GetKind() + " " + u.GetName()
	}
	return u.GetKind() + " " + u.GetNamespace() + "/" + u.GetName()
}

// typed converts every object of the kind to T.
func typed[T any](t testing.TB, o objects, kind string) []*T {
	t.Helper()
	var out []*T
	for _, u := range o.OfKind(kind) {
		v := new(T)
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, v); err != nil {
			t.Fatalf("%s: %v", id(u), err)
		}
		out = append(out, v)
	}
	return out
}

func only[T any](t testing.TB, o objects, kind string) *T {
	t.Helper()
	all := typed[T](t, o, kind)
	if len(all) != 1 {
		t.Fatalf("want exactly one %s in the output, got %d", kind, len(all))
	}
	return all[0]
}

// ---------------------------------------------------------------------------
// The manager as the Go code and the Deployment define it

// servedPaths are the paths internal/webhook/v1alpha1.Register serves, as
// its exported constants name them. (Calling Register with a recording
// server would tie this test to Register's changing signature.)
func servedPaths() []string {
	return []string{
		webhookv1alpha1.MutateRequestPath,
		webhookv1alpha1.ValidateRequestPath,
		webhookv1alpha1.MutateDecisionPath,
		webhookv1alpha1.ValidateDecisionPath,
		webhookv1alpha1.ValidatePolicyPath,
	}
}

// flagValue is the value of the manager flag: from the container's args if
// given there, otherwise the default in cmd/main.go.
func flagValue(t testing.TB, c corev1.Container, name string) string {
	t.Helper()
	args := append(slices.Clone(c.Command), c.Args...)
	for i, a := range args {
		for _, p := range []string{"--" + name, "-" + name} {
			if v, ok := strings.CutPrefix(a, p+"="); ok {
				return v
			}
			if a == p {
				if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
					return args[i+1]
				}
				return "true"
			}
		}
	}
	defaults, err := utils.ManagerFlagDefaults(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := defaults[name]
	if !ok || v == utils.NotALiteral {
		t.Fatalf("cannot find the default of flag --%s in cmd/main.go", name)
	}
	return v
}

// manager is the Deployment in the output and its manager container.
func manager(t testing.TB, o objects) (*appsv1.Deployment, corev1.Container) {
	t.Helper()
	d := only[appsv1.Deployment](t, o, "Deployment")
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "manager" {
			return d, c
		}
	}
	t.Fatalf("Deployment %s has no container named manager", d.Name)
	return nil, corev1.Container{}
}

// certVolume is the Secret volume the manager container mounts at its
// --webhook-cert-dir.
func certVolume(t testing.TB, d *appsv1.Deployment, c corev1.Container) (*corev1.SecretVolumeSource, corev1.VolumeMount) {
	t.Helper()
	dir := flagValue(t, c, "webhook-cert-dir")
	for _, m := range c.VolumeMounts {
		if m.MountPath != dir {
			continue
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == m.Name {
				if v.Secret == nil {
					t.Fatalf("volume %s mounted at %s is not a Secret volume", v.Name, dir)
				}
				return v.Secret, m
			}
		}
		t.Fatalf("volume %s mounted at %s is not declared", m.Name, dir)
	}
	t.Fatalf("the manager container mounts nothing at its --webhook-cert-dir %s", dir)
	return nil, corev1.VolumeMount{}
}

// webhooks are all webhooks of both configurations, with their
// configuration's name.
type anyWebhook struct {
	config, name string
	cc           admissionregistrationv1.WebhookClientConfig
	failure      *admissionregistrationv1.FailurePolicyType
	sideEffects  *admissionregistrationv1.SideEffectClass
}

func webhooks(t testing.TB, o objects) []anyWebhook {
	t.Helper()
	var out []anyWebhook
	for _, m := range typed[admissionregistrationv1.MutatingWebhookConfiguration](t, o, "MutatingWebhookConfiguration") {
		for _, w := range m.Webhooks {
			out = append(out, anyWebhook{m.Name, w.Name, w.ClientConfig, w.FailurePolicy, w.SideEffects})
		}
	}
	for _, v := range typed[admissionregistrationv1.ValidatingWebhookConfiguration](t, o, "ValidatingWebhookConfiguration") {
		for _, w := range v.Webhooks {
			out = append(out, anyWebhook{v.Name, w.Name, w.ClientConfig, w.FailurePolicy, w.SideEffects})
		}
	}
	return out
}

// managerRules are all the rules the manager's ServiceAccount is granted by
// the (Cluster)RoleBindings in the output.
func managerRules(t testing.TB, o objects) []rbacv1.PolicyRule {
	t.Helper()
	d, _ := manager(t, o)
	sa := rbacv1.Subject{Kind: "ServiceAccount", Name: d.Spec.Template.Spec.ServiceAccountName, Namespace: d.Namespace}
	bindsManager := func(subjects []rbacv1.Subject) bool {
		return slices.ContainsFunc(subjects, func(s rbacv1.Subject) bool {
			return s.Kind == sa.Kind && s.Name == sa.Name && s.Namespace == sa.Namespace
		})
	}
	var rules []rbacv1.PolicyRule
	roleRules := func(kind, ns, name string) []rbacv1.PolicyRule {
		if kind == "ClusterRole" {
			ns = ""
		}
		u := o.Find(kind, ns, name)
		if u == nil {
			// Reported here and by the roleRef check; the other checks go on.
			t.Errorf("the manager is bound to %s %s, which is not in the output", kind, name)
			return nil
		}
		var r rbacv1.ClusterRole // Role and ClusterRole share the rules field
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &r); err != nil {
			t.Fatal(err)
		}
		if r.AggregationRule != nil {
			t.Fatalf("%s is aggregated; its rules are not known from the output", id(u))
		}
		return r.Rules
	}
	n := 0
	for _, b := range typed[rbacv1.ClusterRoleBinding](t, o, "ClusterRoleBinding") {
		if bindsManager(b.Subjects) {
			rules = append(rules, roleRules(b.RoleRef.Kind, "", b.RoleRef.Name)...)
			n++
		}
	}
	for _, b := range typed[rbacv1.RoleBinding](t, o, "RoleBinding") {
		if bindsManager(b.Subjects) {
			rules = append(rules, roleRules(b.RoleRef.Kind, b.Namespace, b.RoleRef.Name)...)
			n++
		}
	}
	if n == 0 {
		t.Fatalf("no binding in the output grants anything to ServiceAccount %s/%s", sa.Namespace, sa.Name)
	}
	return rules
}

// allows reports whether a rule without resourceNames grants verb on
// group/resource.
func allows(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	for _, r := range rules {
		if len(r.ResourceNames) == 0 && matches(r.APIGroups, group) && matches(r.Resources, resource) && matches(r.Verbs, verb) {
			return true
		}
	}
	return false
}

func matches(list []string, v string) bool {
	return slices.Contains(list, v) || slices.Contains(list, rbacv1.ResourceAll)
}

// ---------------------------------------------------------------------------
// 1. Rendering

func TestRender(t *testing.T) {
	for _, dir := range []string{"config/default", "config/certmanager", "config/restricted-bind", "config/samples"} {
		t.Run(dir+" renders without error", func(t *testing.T) {
			if objs := render(t, dir); len(objs) == 0 {
				t.Fatalf("%s renders no objects", dir)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// 2. config/default

// install is a rendered install with the parts most checks look at.
type install struct {
	o        objects
	d        *appsv1.Deployment
	c        corev1.Container // the manager container
	webhooks []anyWebhook
	rules    []rbacv1.PolicyRule // everything bound to the manager's ServiceAccount
}

func newInstall(t *testing.T, dir string) *install {
	t.Helper()
	f := &install{o: render(t, dir)}
	f.d, f.c = manager(t, f.o)
	f.webhooks = webhooks(t, f.o)
	f.rules = managerRules(t, f.o)
	return f
}

func TestDefault(t *testing.T) {
	f := newInstall(t, "config/default")
	for _, tc := range []struct {
		name  string
		check func(*testing.T, *install)
	}{
		{"every namespaced object is placed in rolegate-system and no cluster-scoped one has a namespace", checkNamespaces},
		{"the manager Deployment runs in rolegate-system", checkDeploymentNamespace},
		{"there are five webhooks, each calling Service rolegate-webhook-service in rolegate-system", checkWebhookServices},
		{"every webhook path is one the manager serves, and every served path has a webhook", checkWebhookPaths},
		{"every webhook that admits requests and decisions fails closed, the policy webhook (warnings only) fails open, none has side effects", checkWebhookPolicies},
		{"the webhook configurations are named as the manager's flags expect", checkWebhookConfigNames},
		{"the webhook Service sends port 443 to the manager's webhook port 9443", checkWebhookPort},
		{"the manager copies Secret rolegate-webhook-server-cert into a writable --webhook-cert-dir", checkCertMount},
		{"the manager runs as non-root with a read-only root filesystem and drops all capabilities", checkSecurityContext},
		{"the manager is highly available: 2 replicas, leader election, a PodDisruptionBudget, spread, resources, probes", checkHighAvailability},
		{"the manager learns its namespace from the pod", checkPodNamespace},
		{"every Service selects the manager's pods", checkServiceSelectors},
		{"the manager runs as a ServiceAccount in the output", checkServiceAccount},
		{"the hardening policies name the Deployment's ServiceAccount as the operator", checkOperatorVariable},
		{"every ValidatingAdmissionPolicyBinding names a policy in the output", checkPolicyBindings},
		{"every RoleBinding and ClusterRoleBinding refers to a role in the output or a built-in one", checkRoleRefs},
		{"every ServiceAccount subject of a binding names a ServiceAccount in the output", checkSubjects},
		{"the manager is granted no wildcard verb, resource or API group", checkNoWildcards},
		{"the manager is granted neither escalate nor impersonate", checkNoEscalate},
		{"the manager may bind only Roles and ClusterRoles", checkBindScope},
		{"the manager may not create, change or delete ClusterRoleBindings", checkNoClusterRoleBindingWrites},
		{"the manager can still do its job: write RoleBindings and bind roles", checkManagerCanWork},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, f) })
	}
}

// checkNamespaces checks that every namespaced object is placed in rolegate-system and no cluster-scoped one has a namespace.
func checkNamespaces(t *testing.T, f *install) {
	utils.RequireEnvtest(t) // the API server's RESTMapper says which kinds are namespaced
	o := f.o
	for _, u := range o {
		gvk := u.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Errorf("%s: %v", id(u), err)
			continue
		}
		namespaced := m.Scope.Name() == meta.RESTScopeNameNamespace
		if namespaced && u.GetNamespace() != installNamespace {
			t.Errorf("%s is namespaced but is in %q, want %q", id(u), u.GetNamespace(), installNamespace)
		}
		if !namespaced && u.GetNamespace() != "" {
			t.Errorf("%s is cluster-scoped but has namespace %q", id(u), u.GetNamespace())
		}
	}
}

// checkDeploymentNamespace checks that the manager Deployment runs in rolegate-system.
func checkDeploymentNamespace(t *testing.T, f *install) {
	d := f.d
	if d.Namespace != installNamespace {
		t.Errorf("Deployment %s is in %q, want %q", d.Name, d.Namespace, installNamespace)
	}
}

// checkWebhookServices checks that there are five webhooks, each calling Service rolegate-webhook-service in rolegate-system.
func checkWebhookServices(t *testing.T, f *install) {
	o := f.o
	c := f.c
	whs := f.webhooks
	if len(whs) != 5 {
		t.Errorf("want 5 webhooks, got %d", len(whs))
	}
	svcName := flagValue(t, c, "webhook-service-name")
	if svcName != "rolegate-webhook-service" {
		t.Errorf("the manager's --webhook-service-name is %q, want rolegate-webhook-service", svcName)
	}
	for _, w := range whs {
		s := w.cc.Service
		switch {
		case w.cc.URL != nil:
			t.Errorf("%s/%s calls URL %s, want a Service", w.config, w.name, *w.cc.URL)
		case s == nil:
			t.Errorf("%s/%s names no Service", w.config, w.name)
		case s.Name != svcName || s.Namespace != installNamespace:
			t.Errorf("%s/%s calls Service %s/%s, want %s/%s", w.config, w.name, s.Namespace, s.Name, installNamespace, svcName)
		case o.Find("Service", s.Namespace, s.Name) == nil:
			t.Errorf("%s/%s calls Service %s/%s, which is not in the output", w.config, w.name, s.Namespace, s.Name)
		}
	}
}

// checkWebhookPaths checks that every webhook path is one the manager serves, and every served path has a webhook.
func checkWebhookPaths(t *testing.T, f *install) {
	whs := f.webhooks
	served := servedPaths()
	var configured []string
	for _, w := range whs {
		if w.cc.Service == nil || w.cc.Service.Path == nil {
			t.Errorf("%s/%s has no path", w.config, w.name)
			continue
		}
		p := *w.cc.Service.Path
		configured = append(configured, p)
		if !slices.Contains(served, p) {
			t.Errorf("%s/%s calls %s, which the manager does not serve (it serves %v)", w.config, w.name, p, served)
		}
	}
	for _, p := range served {
		if !slices.Contains(configured, p) {
			t.Errorf("the manager serves %s but no webhook calls it", p)
		}
	}
}

// checkWebhookPolicies checks that every webhook on requests and decisions
// fails closed, the ApprovalPolicy webhook, which only warns, fails open, and
// none declares side effects.
func checkWebhookPolicies(t *testing.T, f *install) {
	whs := f.webhooks
	for _, w := range whs {
		want := admissionregistrationv1.Fail
		if w.cc.Service != nil && w.cc.Service.Path != nil && *w.cc.Service.Path == webhookv1alpha1.ValidatePolicyPath {
			want = admissionregistrationv1.Ignore
		}
		if w.failure == nil || *w.failure != want {
			t.Errorf("%s/%s: failurePolicy %v, want %s", w.config, w.name, w.failure, want)
		}
		if w.sideEffects == nil || *w.sideEffects != admissionregistrationv1.SideEffectClassNone {
			t.Errorf("%s/%s: sideEffects %v, want None", w.config, w.name, w.sideEffects)
		}
	}
}

// checkWebhookConfigNames checks that the webhook configurations are named as the manager's flags expect.
func checkWebhookConfigNames(t *testing.T, f *install) {
	o := f.o
	c := f.c
	for kind, flagName := range map[string]string{
		"MutatingWebhookConfiguration":   "mutating-webhook-configuration",
		"ValidatingWebhookConfiguration": "validating-webhook-configuration",
	} {
		want := flagValue(t, c, flagName)
		if want != "rolegate-"+flagName {
			t.Errorf("the manager's --%s is %q, want %q", flagName, want, "rolegate-"+flagName)
		}
		var names []string
		for _, u := range o.OfKind(kind) {
			names = append(names, u.GetName())
		}
		if !slices.Equal(names, []string{want}) {
			t.Errorf("%s names in the output: %v, want [%s] (--%s)", kind, names, want, flagName)
		}
	}
}

// checkWebhookPort checks that the webhook Service sends port 443 to the manager's webhook port 9443.
func checkWebhookPort(t *testing.T, f *install) {
	o := f.o
	c := f.c
	whs := f.webhooks
	port, err := strconv.Atoi(flagValue(t, c, "webhook-port"))
	if err != nil || port != 9443 {
		t.Fatalf("the manager's --webhook-port is %d (%v), want 9443", port, err)
	}
	var cp *corev1.ContainerPort
	for i := range c.Ports {
		if c.Ports[i].ContainerPort == int32(port) {
			cp = &c.Ports[i]
		}
	}
	if cp == nil {
		t.Fatalf("the manager container does not expose %d", port)
	}
	for _, w := range whs {
		s := w.cc.Service
		if s == nil {
			continue
		}
		svc := o.Find("Service", s.Namespace, s.Name)
		if svc == nil {
			continue // reported above
		}
		var service corev1.Service
		utils.Must(t, runtime.DefaultUnstructuredConverter.FromUnstructured(svc.Object, &service))
		want := int32(443)
		if s.Port != nil {
			want = *s.Port
		}
		found := false
		for _, sp := range service.Spec.Ports {
			if sp.Port != want {
				continue
			}
			found = true
			tp := sp.TargetPort
			ok := (tp.Type == intstr.String && tp.StrVal == cp.Name) || (tp.Type == intstr.Int && tp.IntVal == cp.ContainerPort)
			if !ok {
				t.Errorf("Service %s port %d targets %s, want the manager's webhook port %d (%s)",
					s.Name, want, tp.String(), cp.ContainerPort, cp.Name)
			}
		}
		if !found {
			t.Errorf("Service %s has no port %d, which %s/%s calls", s.Name, want, w.config, w.name)
		}
	}
}

// checkCertMount checks that, with the manager rotating its own certificate,
// its --webhook-cert-dir is writable scratch space (the /tmp emptyDir) and
// no Secret volume is mounted there: the manager copies the certificate from
// Secret rolegate-webhook-server-cert through the API, so a replica does not
// wait for the kubelet to refresh a Secret volume.
func checkCertMount(t *testing.T, f *install) {
	o := f.o
	d := f.d
	c := f.c
	dir := flagValue(t, c, "webhook-cert-dir")
	if dir != "/tmp/k8s-webhook-server/serving-certs" {
		t.Errorf("the manager's --webhook-cert-dir is %q", dir)
	}
	secret := flagValue(t, c, "webhook-secret-name")
	if secret != "rolegate-webhook-server-cert" {
		t.Errorf("the manager's --webhook-secret-name is %q", secret)
	}
	var writable bool
	for _, m := range c.VolumeMounts {
		if m.MountPath == dir {
			t.Errorf("volume %s is mounted at --webhook-cert-dir %s; the manager writes the certificate there itself", m.Name, dir)
		}
		if strings.HasPrefix(dir, strings.TrimSuffix(m.MountPath, "/")+"/") && !m.ReadOnly {
			for _, v := range d.Spec.Template.Spec.Volumes {
				writable = writable || (v.Name == m.Name && v.EmptyDir != nil)
			}
		}
	}
	if !writable {
		t.Errorf("--webhook-cert-dir %s is not under a writable emptyDir mount (the root filesystem is read-only)", dir)
	}
	if o.Find("Secret", d.Namespace, secret) == nil {
		t.Errorf("Secret %s/%s is not in the output (the certificate rotator only updates an existing Secret)", d.Namespace, secret)
	}
}

// checkHighAvailability checks that the default install keeps a replica
// serving the webhooks (failurePolicy Fail) through a pod's loss, a drain
// and a rolling update.
func checkHighAvailability(t *testing.T, f *install) {
	d, c := f.d, f.c
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Errorf("replicas = %v, want at least 2", d.Spec.Replicas)
	}
	if flagValue(t, c, "leader-elect") != "true" {
		t.Error("several replicas without --leader-elect")
	}
	if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("rolling update %+v may take a serving replica away before its successor is ready; want maxUnavailable 0", ru)
	}
	podLabels := labels.Set(d.Spec.Template.Labels)
	var pdbs int
	for _, u := range f.o.OfKind("PodDisruptionBudget") {
		var pdb policyv1.PodDisruptionBudget
		utils.Must(t, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &pdb))
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		utils.Must(t, err)
		if pdb.Namespace != d.Namespace || !sel.Matches(podLabels) {
			continue
		}
		pdbs++
		if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() < 1 {
			t.Errorf("PodDisruptionBudget %s lets every replica go: minAvailable %v", pdb.Name, pdb.Spec.MinAvailable)
		}
	}
	if pdbs != 1 {
		t.Errorf("%d PodDisruptionBudgets select the manager's pods, want 1", pdbs)
	}
	spread := d.Spec.Template.Spec.TopologySpreadConstraints
	if len(spread) == 0 || spread[0].LabelSelector == nil ||
		!labels.SelectorFromSet(spread[0].LabelSelector.MatchLabels).Matches(podLabels) {
		t.Errorf("no topology spread constraint selecting the manager's pods: %+v", spread)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("the manager sets no cpu/memory requests or memory limit: %+v", c.Resources)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("the readiness probe is not /readyz (ready only once the webhooks serve): %+v", c.ReadinessProbe)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("the liveness probe is not /healthz: %+v", c.LivenessProbe)
	}
}

// checkSecurityContext checks that the manager runs as non-root with a read-only root filesystem and drops all capabilities.
func checkSecurityContext(t *testing.T, f *install) {
	c := f.c
	pod := f.d.Spec.Template.Spec
	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("the manager container has no securityContext")
	}
	nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) ||
		(sc.RunAsNonRoot == nil && pod.SecurityContext != nil && pod.SecurityContext.RunAsNonRoot != nil && *pod.SecurityContext.RunAsNonRoot)
	if !nonRoot {
		t.Error("runAsNonRoot is not true")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) != 0 {
		t.Errorf("capabilities %+v, want drop [ALL] and nothing added", sc.Capabilities)
	}
}

// checkPodNamespace checks that the manager learns its namespace from the pod.
func checkPodNamespace(t *testing.T, f *install) {
	c := f.c
	for _, a := range append(slices.Clone(c.Command), c.Args...) {
		if strings.HasPrefix(a, "--namespace") {
			t.Skipf("--namespace is set explicitly: %s", a)
		}
	}
	for _, e := range c.Env {
		if e.Name == "POD_NAMESPACE" {
			if e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.namespace" {
				t.Errorf("POD_NAMESPACE is not taken from metadata.namespace: %+v", e)
			}
			return
		}
	}
	t.Error("POD_NAMESPACE is not set, so --namespace falls back to its default")
}

// checkServiceSelectors checks that every Service selects the manager's pods.
func checkServiceSelectors(t *testing.T, f *install) {
	o := f.o
	d := f.d
	for _, svc := range typed[corev1.Service](t, o, "Service") {
		if len(svc.Spec.Selector) == 0 {
			t.Errorf("Service %s has no selector", svc.Name)
		}
		for k, v := range svc.Spec.Selector {
			if got, ok := d.Spec.Template.Labels[k]; !ok || got != v {
				t.Errorf("Service %s selects %s=%s; the manager's pods have %v", svc.Name, k, v, d.Spec.Template.Labels)
			}
		}
		if svc.Namespace != d.Namespace {
			t.Errorf("Service %s is in %s, the Deployment in %s", svc.Name, svc.Namespace, d.Namespace)
		}
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	utils.Must(t, err)
	if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("the Deployment's selector %v does not match its pod labels %v", sel, d.Spec.Template.Labels)
	}
}

// checkServiceAccount checks that the manager runs as a ServiceAccount in the output.
func checkServiceAccount(t *testing.T, f *install) {
	o := f.o
	d := f.d
	pod := f.d.Spec.Template.Spec
	if o.Find("ServiceAccount", d.Namespace, pod.ServiceAccountName) == nil {
		t.Errorf("ServiceAccount %s/%s is not in the output", d.Namespace, pod.ServiceAccountName)
	}
}

// checkOperatorVariable checks that the hardening policies name the Deployment's ServiceAccount as the operator.
func checkOperatorVariable(t *testing.T, f *install) {
	o := f.o
	d := f.d
	pod := f.d.Spec.Template.Spec
	want := fmt.Sprintf("'system:serviceaccount:%s:%s'", d.Namespace, pod.ServiceAccountName)
	policies := typed[admissionregistrationv1.ValidatingAdmissionPolicy](t, o, "ValidatingAdmissionPolicy")
	if len(policies) == 0 {
		t.Fatal("no ValidatingAdmissionPolicy in the output")
	}
	for _, p := range policies {
		i := slices.IndexFunc(p.Spec.Variables, func(v admissionregistrationv1.Variable) bool { return v.Name == "operator" })
		switch {
		case i < 0:
			t.Errorf("policy %s has no variable operator", p.Name)
		case i != 0:
			t.Errorf("policy %s: operator is variable %d; the documented patch replaces /spec/variables/0", p.Name, i)
		case strings.TrimSpace(p.Spec.Variables[i].Expression) != want:
			t.Errorf("policy %s: operator is %s, want %s", p.Name, p.Spec.Variables[i].Expression, want)
		}
	}
}

// checkPolicyBindings checks that every ValidatingAdmissionPolicyBinding names a policy in the output.
func checkPolicyBindings(t *testing.T, f *install) {
	o := f.o
	bindings := typed[admissionregistrationv1.ValidatingAdmissionPolicyBinding](t, o, "ValidatingAdmissionPolicyBinding")
	bound := map[string]bool{}
	for _, b := range bindings {
		bound[b.Spec.PolicyName] = true
		if o.Find("ValidatingAdmissionPolicy", "", b.Spec.PolicyName) == nil {
			t.Errorf("binding %s names policy %q, which is not in the output", b.Name, b.Spec.PolicyName)
		}
		if !slices.Contains(b.Spec.ValidationActions, admissionregistrationv1.Deny) {
			t.Errorf("binding %s does not deny: %v", b.Name, b.Spec.ValidationActions)
		}
	}
	for _, p := range o.OfKind("ValidatingAdmissionPolicy") {
		if !bound[p.GetName()] {
			t.Errorf("policy %s has no binding, so it is never enforced", p.GetName())
		}
	}
}

// checkRoleRefs checks that every RoleBinding and ClusterRoleBinding refers to a role in the output or a built-in one.
func checkRoleRefs(t *testing.T, f *install) {
	o := f.o
	ctx := context.Background()
	check := func(binding string, ref rbacv1.RoleRef, ns string) {
		if ref.APIGroup != rbacGroup || (ref.Kind != "Role" && ref.Kind != "ClusterRole") {
			t.Errorf("%s: roleRef %+v is not a Role or ClusterRole", binding, ref)
			return
		}
		if ref.Kind == "ClusterRole" {
			ns = ""
		}
		if o.Find(ref.Kind, ns, ref.Name) != nil {
			return
		}
		// Built-in: bootstrapped by every API server (envtest included).
		obj := &unstructured.Unstructured{}
		obj.SetGroupVersionKind(rbacv1.SchemeGroupVersion.WithKind(ref.Kind))
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, obj); err != nil {
			t.Errorf("%s refers to %s %q, which is neither in the output nor built in: %v", binding, ref.Kind, ref.Name, err)
		}
	}
	for _, b := range typed[rbacv1.ClusterRoleBinding](t, o, "ClusterRoleBinding") {
		check("ClusterRoleBinding "+b.Name, b.RoleRef, "")
	}
	for _, b := range typed[rbacv1.RoleBinding](t, o, "RoleBinding") {
		check("RoleBinding "+b.Namespace+"/"+b.Name, b.RoleRef, b.Namespace)
	}
}

// checkSubjects checks that every ServiceAccount subject of a binding names a ServiceAccount in the output.
func checkSubjects(t *testing.T, f *install) {
	o := f.o
	check := func(binding string, subjects []rbacv1.Subject) {
		for _, s := range subjects {
			if s.Kind == "ServiceAccount" && o.Find("ServiceAccount", s.Namespace, s.Name) == nil {
				t.Errorf("%s binds ServiceAccount %s/%s, which is not in the output", binding, s.Namespace, s.Name)
			}
		}
	}
	for _, b := range typed[rbacv1.ClusterRoleBinding](t, o, "ClusterRoleBinding") {
		check("ClusterRoleBinding "+b.Name, b.Subjects)
	}
	for _, b := range typed[rbacv1.RoleBinding](t, o, "RoleBinding") {
		check("RoleBinding "+b.Namespace+"/"+b.Name, b.Subjects)
	}
}

// checkNoWildcards checks that the manager is granted no wildcard verb, resource or API group.
func checkNoWildcards(t *testing.T, f *install) {
	rules := f.rules
	for i, r := range rules {
		for field, list := range map[string][]string{"verbs": r.Verbs, "resources": r.Resources, "apiGroups": r.APIGroups} {
			for _, v := range list {
				if strings.Contains(v, "*") {
					t.Errorf("rule %d (%v %v %v) has %q in %s", i, r.APIGroups, r.Resources, r.Verbs, v, field)
				}
			}
		}
	}
}

// checkNoEscalate checks that the manager is granted neither escalate nor impersonate.
func checkNoEscalate(t *testing.T, f *install) {
	rules := f.rules
	for i, r := range rules {
		for _, v := range []string{"escalate", "impersonate"} {
			if slices.Contains(r.Verbs, v) {
				t.Errorf("rule %d (%v %v) grants %s", i, r.APIGroups, r.Resources, v)
			}
		}
	}
}

// checkBindScope checks that the manager may bind only Roles and ClusterRoles.
func checkBindScope(t *testing.T, f *install) {
	rules := f.rules
	for i, r := range rules {
		if !matches(r.Verbs, "bind") {
			continue
		}
		if !slices.Equal(r.APIGroups, []string{rbacGroup}) {
			t.Errorf("rule %d grants bind in API groups %v", i, r.APIGroups)
		}
		for _, res := range r.Resources {
			if res != "roles" && res != "clusterroles" {
				t.Errorf("rule %d grants bind on %s", i, res)
			}
		}
	}
}

// checkNoClusterRoleBindingWrites checks that the manager may not create, change or delete ClusterRoleBindings.
func checkNoClusterRoleBindingWrites(t *testing.T, f *install) {
	rules := f.rules
	for _, verb := range []string{"create", "update", "patch", "delete", "deletecollection"} {
		if allows(rules, rbacGroup, "clusterrolebindings", verb) {
			t.Errorf("the manager may %s clusterrolebindings", verb)
		}
	}
	for i, r := range rules {
		if len(r.ResourceNames) > 0 && matches(r.Resources, "clusterrolebindings") &&
			slices.ContainsFunc(r.Verbs, func(v string) bool { return v != "get" && v != "list" && v != "watch" }) {
			t.Errorf("rule %d grants %v on named clusterrolebindings %v", i, r.Verbs, r.ResourceNames)
		}
	}
}

// checkManagerCanWork checks that the manager can still do its job: write RoleBindings and bind roles.
func checkManagerCanWork(t *testing.T, f *install) {
	rules := f.rules
	for _, verb := range []string{"create", "update", "delete", "get", "list", "watch"} {
		if !allows(rules, rbacGroup, "rolebindings", verb) {
			t.Errorf("the manager may not %s rolebindings", verb)
		}
	}
	for _, res := range []string{"roles", "clusterroles"} {
		if !allows(rules, rbacGroup, res, "bind") {
			t.Errorf("the manager may not bind %s", res)
		}
	}
}

// ---------------------------------------------------------------------------
// 3. config/restricted-bind

func TestRestrictedBind(t *testing.T) {
	o := render(t, "config/restricted-bind")
	rules := managerRules(t, o)

	t.Run("the manager may bind only roles named in resourceNames", func(t *testing.T) {
		n := 0
		for i, r := range rules {
			if !matches(r.Verbs, "bind") {
				continue
			}
			n++
			if len(r.ResourceNames) == 0 {
				t.Errorf("rule %d grants bind on %v without resourceNames", i, r.Resources)
			}
		}
		if n == 0 {
			t.Error("no rule grants bind: the manager could grant no catalog role it does not hold")
		}
	})

	t.Run("the manager can still get, list and watch Roles and ClusterRoles", func(t *testing.T) {
		for _, res := range []string{"roles", "clusterroles"} {
			for _, verb := range []string{"get", "list", "watch"} {
				if !allows(rules, rbacGroup, res, verb) {
					t.Errorf("the manager may not %s %s", verb, res)
				}
			}
		}
	})

	t.Run("everything else is as in config/default", func(t *testing.T) {
		def := render(t, "config/default")
		if len(o) != len(def) {
			t.Errorf("config/restricted-bind renders %d objects, config/default %d", len(o), len(def))
		}
		for _, u := range def {
			if o.Find(u.GetKind(), u.GetNamespace(), u.GetName()) == nil {
				t.Errorf("%s from config/default is missing", id(u))
			}
		}
	})
}

// ---------------------------------------------------------------------------
// 4. config/certmanager

func TestCertManager(t *testing.T) {
	o := render(t, "config/certmanager")
	d, c := manager(t, o)

	t.Run("both webhook configurations ask cert-manager to inject the CA of the Certificate in the output", func(t *testing.T) {
		configs := append(o.OfKind("MutatingWebhookConfiguration"), o.OfKind("ValidatingWebhookConfiguration")...)
		if len(configs) != 2 {
			t.Fatalf("want 2 webhook configurations, got %d", len(configs))
		}
		for _, u := range configs {
			ref, ok := u.GetAnnotations()["cert-manager.io/inject-ca-from"]
			if !ok {
				t.Errorf("%s has no cert-manager.io/inject-ca-from annotation", id(u))
				continue
			}
			ns, name, ok := strings.Cut(ref, "/")
			if !ok {
				t.Errorf("%s: inject-ca-from %q is not namespace/name", id(u), ref)
				continue
			}
			if cert := o.Find("Certificate", ns, name); cert == nil || cert.GroupVersionKind().Group != "cert-manager.io" {
				t.Errorf("%s: inject-ca-from %q names no cert-manager Certificate in the output", id(u), ref)
			}
		}
	})

	t.Run("the manager leaves the certificate to cert-manager (--webhook-cert-rotation=false)", func(t *testing.T) {
		if !slices.Contains(c.Args, "--webhook-cert-rotation=false") {
			t.Errorf("manager args %v lack --webhook-cert-rotation=false", c.Args)
		}
		if v := flagValue(t, c, "webhook-cert-rotation"); v != "false" {
			t.Errorf("--webhook-cert-rotation is effectively %q", v)
		}
	})

	certs := o.OfKind("Certificate")
	if len(certs) != 1 {
		t.Fatalf("want exactly one Certificate, got %d", len(certs))
	}
	cert := certs[0]

	t.Run("the Certificate writes the Secret the manager mounts", func(t *testing.T) {
		secretName, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
		vol, _ := certVolume(t, d, c)
		if secretName == "" || secretName != vol.SecretName {
			t.Errorf("Certificate secretName %q, the manager mounts Secret %q", secretName, vol.SecretName)
		}
		if cert.GetNamespace() != d.Namespace {
			t.Errorf("Certificate is in %s, the manager in %s", cert.GetNamespace(), d.Namespace)
		}
	})

	t.Run("the Certificate covers the webhook Service's in-cluster DNS name", func(t *testing.T) {
		dnsNames, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
		for _, w := range webhooks(t, o) {
			if w.cc.Service == nil {
				t.Errorf("%s/%s names no Service", w.config, w.name)
				continue
			}
			host := w.cc.Service.Name + "." + w.cc.Service.Namespace + ".svc"
			if !slices.Contains(dnsNames, host) {
				t.Errorf("Certificate dnsNames %v lack %s, which %s/%s calls", dnsNames, host, w.config, w.name)
			}
		}
	})

	t.Run("the Certificate's issuer is in the output", func(t *testing.T) {
		kind, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "kind")
		name, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "name")
		if kind == "" {
			kind = "Issuer"
		}
		ns := cert.GetNamespace()
		if kind == "ClusterIssuer" {
			ns = ""
		}
		if o.Find(kind, ns, name) == nil {
			t.Errorf("Certificate issuer %s %q is not in the output", kind, name)
		}
	})

	t.Run("the certificate Secret is left for cert-manager to create", func(t *testing.T) {
		vol, _ := certVolume(t, d, c)
		if o.Find("Secret", d.Namespace, vol.SecretName) != nil {
			t.Errorf("Secret %s is in the output; cert-manager creates it as kubernetes.io/tls", vol.SecretName)
		}
	})
}

// ---------------------------------------------------------------------------
// 5. Server-side dry-run

// apply server-side applies u as field owner rolegate-test.
func apply(ctx context.Context, u *unstructured.Unstructured, opts ...client.ApplyOption) error {
	u = u.DeepCopy()
	opts = append(opts, fieldOwner, client.ForceOwnership)
	return k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), opts...)
}

var (
	crdsOnce sync.Once
	crdsErr  error
)

// installCRDs creates, for real, the CRDs and the Namespace of the
// config/default render and waits until the API server serves the CRDs.
func installCRDs(t *testing.T) {
	t.Helper()
	crdsOnce.Do(func() {
		crdsErr = func() error {
			objs, err := build("config/default")
			if err != nil {
				return err
			}
			ctx := context.Background()
			var kinds []schema.GroupVersionKind
			for _, u := range objs {
				if u.GetKind() != crdKind && u.GetKind() != "Namespace" {
					continue
				}
				if err := apply(ctx, u); err != nil {
					return fmt.Errorf("%s: %w", id(u), err)
				}
				if u.GetKind() == crdKind {
					group, _, _ := unstructured.NestedString(u.Object, "spec", "group")
					kind, _, _ := unstructured.NestedString(u.Object, "spec", "names", "kind")
					versions, _, _ := unstructured.NestedSlice(u.Object, "spec", "versions")
					for _, v := range versions {
						name, _, _ := unstructured.NestedString(v.(map[string]any), "name")
						kinds = append(kinds, schema.GroupVersionKind{Group: group, Version: name, Kind: kind})
					}
					if err := waitEstablished(ctx, u.GetName()); err != nil {
						return err
					}
				}
			}
			if len(kinds) == 0 {
				return errors.New("config/default renders no CRDs")
			}
			deadline := time.Now().Add(applyTimeout)
			for _, gvk := range kinds {
				for {
					_, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
					if err == nil {
						break
					}
					if time.Now().After(deadline) {
						return fmt.Errorf("%s is not served: %w", gvk, err)
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
			return nil
		}()
	})
	if crdsErr != nil {
		t.Fatalf("installing the CRDs and Namespace of config/default: %v", crdsErr)
	}
}

func waitEstablished(ctx context.Context, name string) error {
	deadline := time.Now().Add(applyTimeout)
	for {
		crd := &unstructured.Unstructured{}
		crd.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: crdKind})
		err := k8s.Get(ctx, client.ObjectKey{Name: name}, crd)
		if err == nil {
			conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return nil
				}
			}
			err = errors.New("not Established")
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("CRD %s: %w", name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := k8s.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func TestServerSideDryRun(t *testing.T) {
	utils.RequireEnvtest(t)
	ctx := context.Background()
	installCRDs(t)

	t.Run("every object of config/default is accepted by the API server", func(t *testing.T) {
		o := render(t, "config/default")
		for _, u := range o {
			if u.GetKind() == crdKind || u.GetKind() == "Namespace" {
				continue // installed for real by installCRDs
			}
			// Dry run only: the webhook configurations would otherwise call a
			// webhook nobody serves here.
			if err := apply(ctx, u, client.DryRunAll); err != nil {
				t.Errorf("%s: %v", id(u), err)
			}
		}
		// Nothing but the CRDs and the Namespace was persisted.
		for _, u := range o.OfKind("ValidatingWebhookConfiguration") {
			got := u.NewEmptyInstance().(*unstructured.Unstructured)
			if err := utils.NotFound(k8s.Get(ctx, client.ObjectKeyFromObject(u), got)); err != nil {
				t.Errorf("%s after a dry run: %v", id(u), err)
			}
		}
	})

	t.Run("every sample is accepted by the CRD schemas", func(t *testing.T) {
		o := render(t, "config/samples")
		for _, u := range o {
			if ns := u.GetNamespace(); ns != "" {
				ensureNamespace(t, ns)
			}
		}
		for _, kind := range []string{"ApprovalPolicy", "AccessRequest", "AccessDecision"} {
			if len(o.OfKind(kind)) == 0 {
				t.Errorf("config/samples has no %s", kind)
			}
		}
		for _, u := range o {
			if err := apply(ctx, u, client.DryRunAll); err != nil {
				t.Errorf("%s: %v", id(u), err)
			}
		}
	})

	t.Run("an unknown field is refused, so acceptance above means the schemas matched", func(t *testing.T) {
		for _, dir := range []string{"config/default", "config/samples"} {
			for _, kind := range []string{"Deployment", "ApprovalPolicy"} {
				objs := render(t, dir).OfKind(kind)
				if len(objs) == 0 {
					continue
				}
				u := objs[0].DeepCopy()
				utils.Must(t, unstructured.SetNestedField(u.Object, "x", "spec", "notAField"))
				err := apply(ctx, u, client.DryRunAll)
				if err == nil || !strings.Contains(err.Error(), "notAField") {
					t.Errorf("%s with spec.notAField: got %v, want an error naming the field", id(u), err)
				}
			}
		}
	})
}
