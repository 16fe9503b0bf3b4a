// Package helm_test renders the Helm chart in dist/chart with Helm's own Go
// packages (the loader, the values coalescing and schema validation, and the
// template engine behind `helm template`), with its default values and with
// variations, and checks that
//
//   - every rendered document parses (strictly: no duplicate keys, no
//     unknown fields in the built-in kinds) and names an apiVersion, kind and
//     name, in the release namespace when namespaced;
//   - the names line up: the manager's flags name the rendered webhook
//     Service, Secret and configurations, the webhooks call that Service,
//     the pod mounts that Secret (or cert-manager's Certificate writes it),
//     bindings name the rendered ServiceAccount and roles;
//   - the chart stays equivalent to the kustomize install, the reference:
//     crds/ is byte-identical to config/crd/bases, the manager's rules are
//     config/rbac/role.yaml's, and the default render has the objects and
//     contents of config/default (config/certmanager, config/restricted-bind
//     for the matching values);
//   - the hardening policies name the release's ServiceAccount, the manager
//     holds no '*' and no escalate, and the optional objects appear only when
//     their values ask for them.
//
// TestServerSideDryRun also dry-run applies the renders to a real API server
// (envtest); without KUBEBUILDER_ASSETS it skips, or fails when
// ROLEGATE_REQUIRE_ENVTEST=1 (as `make test` sets it):
//
//	KUBEBUILDER_ASSETS=$(hack/setup-envtest.sh) go test ./test/helm/ -count=1 -v
package helm_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"rolegate.dev/rolegate/test/utils"
)

const (
	// The default release: its names and namespace are config/default's.
	defaultRelease   = "rolegate"
	defaultNamespace = "rolegate-system"
	kubeVersion      = "v1.37.2"

	certDir      = "/tmp/k8s-webhook-server/serving-certs" // the default of --webhook-cert-dir
	injectCAFrom = "cert-manager.io/inject-ca-from"
	rbacGroup    = rbacv1.GroupName
)

// ---------------------------------------------------------------------------
// Loading and rendering

var (
	repoRoot = sync.OnceValues(utils.RepoRoot)
	loadOnce = sync.OnceValues(func() (*chart.Chart, error) {
		root, err := repoRoot()
		if err != nil {
			return nil, err
		}
		return loader.Load(filepath.Join(root, "dist", "chart"))
	})
)

func root(t testing.TB) string {
	t.Helper()
	dir, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func loadChart(t testing.TB) *chart.Chart {
	t.Helper()
	ch, err := loadOnce()
	if err != nil {
		t.Fatalf("loading dist/chart: %v", err)
	}
	return ch
}

type objects = utils.Objects

// rendering is one `helm template`: the objects, the raw output per
// template, and the values the templates saw (defaults coalesced).
type rendering struct {
	name, namespace string
	objs            objects
	files           map[string]string
	values          common.Values
}

func capabilities(t testing.TB) *common.Capabilities {
	t.Helper()
	kv, err := common.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	caps := common.DefaultCapabilities.Copy()
	caps.KubeVersion = *kv
	return caps
}

// renderChart does what `helm template <name> dist/chart -n <namespace>`
// does: coalesce the values with the chart's (validating them against
// values.schema.json) and execute the templates, strictly, so that a
// reference to a missing value fails.
func renderChart(t testing.TB, name, namespace string, values map[string]any) (*rendering, error) {
	t.Helper()
	ch := loadChart(t)
	top, err := chartutil.ToRenderValues(ch, values,
		common.ReleaseOptions{Name: name, Namespace: namespace, Revision: 1, IsInstall: true}, capabilities(t))
	if err != nil {
		return nil, err
	}
	out, err := engine.Engine{Strict: true}.RenderWithContext(context.Background(), ch, top)
	if err != nil {
		return nil, err
	}
	vals, err := top.Table("Values")
	if err != nil {
		return nil, err
	}
	r := &rendering{name: name, namespace: namespace, files: out, values: vals}
	for _, file := range slices.Sorted(maps.Keys(out)) {
		if strings.HasSuffix(file, "NOTES.txt") {
			continue
		}
		objs, err := parseDocuments(out[file])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		r.objs = append(r.objs, objs...)
	}
	return r, nil
}

func mustRender(t testing.TB, name, namespace string, values map[string]any) *rendering {
	t.Helper()
	r, err := renderChart(t, name, namespace, values)
	if err != nil {
		t.Fatalf("rendering %s in %s with %v: %v", name, namespace, values, err)
	}
	return r
}

func renderDefault(t testing.TB, values map[string]any) *rendering {
	t.Helper()
	return mustRender(t, defaultRelease, defaultNamespace, values)
}

// parseDocuments splits a YAML stream and parses each non-empty document
// strictly (duplicate keys fail) into an object that must have an
// apiVersion, a kind and a name.
func parseDocuments(text string) (objects, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(text)))
	var objs objects
	for i := 0; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		// Through JSON, so that numbers are int64 as in the API machinery.
		j, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w\n%s", i, err, doc)
		}
		if bytes.Equal(bytes.TrimSpace(j), []byte("null")) {
			continue // only comments or blank
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(j); err != nil {
			return nil, fmt.Errorf("document %d: %w\n%s", i, err, doc)
		}
		if u.GetAPIVersion() == "" || u.GetKind() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("document %d lacks apiVersion, kind or metadata.name:\n%s", i, doc)
		}
		objs = append(objs, u)
	}
}

// convert turns u into T, failing on fields T does not have.
func convert[T any](t testing.TB, u *unstructured.Unstructured) *T {
	t.Helper()
	v := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, v, true); err != nil {
		t.Fatalf("%s: %v", utils.ObjectID(u), err)
	}
	return v
}

func (r *rendering) deployment(t testing.TB) *appsv1.Deployment {
	t.Helper()
	return convert[appsv1.Deployment](t, r.objs.One(t, "Deployment"))
}

func (r *rendering) boolValue(t testing.TB, path string) bool {
	t.Helper()
	v, err := r.values.PathValue(path)
	if err != nil {
		t.Fatalf("value %s: %v", path, err)
	}
	b, ok := v.(bool)
	if !ok {
		t.Fatalf("value %s is %T, not bool", path, v)
	}
	return b
}

func (r *rendering) stringValue(t testing.TB, path string) string {
	t.Helper()
	v, err := r.values.PathValue(path)
	if err != nil {
		t.Fatalf("value %s: %v", path, err)
	}
	return fmt.Sprint(v)
}

// args is the manager's command line: flag name to value ("" for a bare
// boolean flag), failing on a flag given twice.
type args map[string]string

func managerArgs(t testing.TB, d *appsv1.Deployment) args {
	t.Helper()
	c := managerContainer(t, d)
	out := args{}
	for _, a := range c.Args {
		if !strings.HasPrefix(a, "--") {
			t.Fatalf("argument %q is not a --flag", a)
		}
		k, v, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if _, dup := out[k]; dup {
			t.Fatalf("flag --%s given twice in %v", k, c.Args)
		}
		out[k] = v
	}
	return out
}

func managerContainer(t testing.TB, d *appsv1.Deployment) *corev1.Container {
	t.Helper()
	for i := range d.Spec.Template.Spec.Containers {
		if c := &d.Spec.Template.Spec.Containers[i]; c.Name == "manager" {
			return c
		}
	}
	t.Fatalf("Deployment %s has no container named manager", d.Name)
	return nil
}

// ---------------------------------------------------------------------------
// Variants: every test of the rendered output runs on all of them.

type variant struct {
	name            string
	release, ns     string
	values          map[string]any
	check           func(t *testing.T, r *rendering)
	skipInDryRunFor []string // API groups whose CRDs envtest lacks
}

func variants() []variant {
	return []variant{
		{name: "default", release: defaultRelease, ns: defaultNamespace},
		{
			name: "cert-manager", release: defaultRelease, ns: defaultNamespace,
			values:          map[string]any{"webhook": map[string]any{"certificate": map[string]any{"mode": "cert-manager"}}},
			skipInDryRunFor: []string{"cert-manager.io"},
		},
		{
			name: "replicas-3", release: defaultRelease, ns: defaultNamespace,
			values: map[string]any{"replicaCount": 3, "leaderElection": map[string]any{"enabled": false}},
			check: func(t *testing.T, r *rendering) {
				d := r.deployment(t)
				if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
					t.Errorf("replicas = %v, want 3", d.Spec.Replicas)
				}
				if _, ok := managerArgs(t, d)["leader-elect"]; !ok {
					t.Errorf("3 replicas without --leader-elect (leaderElection.enabled=false must be overridden)")
				}
			},
		},
		{
			name: "single-replica-no-leader-election", release: defaultRelease, ns: defaultNamespace,
			values: map[string]any{"replicaCount": 1, "leaderElection": map[string]any{"enabled": false}},
			check: func(t *testing.T, r *rendering) {
				if _, ok := managerArgs(t, r.deployment(t))["leader-elect"]; ok {
					t.Errorf("--leader-elect with leaderElection.enabled=false and 1 replica")
				}
				if roles := r.objs.OfKind("Role"); slices.ContainsFunc(roles, grantsLeases) {
					t.Errorf("a Role grants leases without leader election: %v", roles.IDs())
				}
			},
		},
		{
			name: "restrict-bind", release: defaultRelease, ns: defaultNamespace,
			values: map[string]any{"restrictBind": map[string]any{
				"clusterRoles": []any{"view", "edit"}, "roles": []any{"db-migrator"},
			}},
			check: func(t *testing.T, r *rendering) {
				checkBindOnlyOn(t, r, []string{"view", "edit"}, []string{"db-migrator"})
			},
		},
		{
			name: "restrict-bind-cluster-roles-only", release: defaultRelease, ns: defaultNamespace,
			values: map[string]any{"restrictBind": map[string]any{"clusterRoles": []any{"view"}}},
			check: func(t *testing.T, r *rendering) {
				checkBindOnlyOn(t, r, []string{"view"}, nil)
			},
		},
		{
			name: "monitoring", release: defaultRelease, ns: defaultNamespace,
			values: map[string]any{"monitoring": map[string]any{
				"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "kube-prometheus-stack"}, "interval": "30s"},
				"prometheusRule": map[string]any{"enabled": true},
			}},
			skipInDryRunFor: []string{"monitoring.coreos.com"},
			check: func(t *testing.T, r *rendering) {
				sm := r.objs.One(t, "ServiceMonitor")
				if sm.GetLabels()["release"] != "kube-prometheus-stack" {
					t.Errorf("ServiceMonitor labels %v lack monitoring.serviceMonitor.labels", sm.GetLabels())
				}
			},
		},
		{
			name: "monitoring-insecure-metrics", release: defaultRelease, ns: defaultNamespace,
			values: map[string]any{
				"metrics":    map[string]any{"secure": false, "port": 8080},
				"monitoring": map[string]any{"serviceMonitor": map[string]any{"enabled": true}},
			},
			skipInDryRunFor: []string{"monitoring.coreos.com"},
			check: func(t *testing.T, r *rendering) {
				if r.objs.Find("ClusterRole", "", "rolegate-metrics-auth-role") != nil {
					t.Errorf("the metrics auth role is rendered though metrics are served over plain HTTP")
				}
			},
		},
		{
			name: "metrics-off", release: defaultRelease, ns: defaultNamespace,
			values: map[string]any{"metrics": map[string]any{"enabled": false}},
			check: func(t *testing.T, r *rendering) {
				if got := managerArgs(t, r.deployment(t))["metrics-bind-address"]; got != "0" {
					t.Errorf("--metrics-bind-address=%s with metrics off, want 0", got)
				}
				if r.objs.Find("Service", r.namespace, "rolegate-controller-manager-metrics-service") != nil {
					t.Errorf("the metrics Service is rendered with metrics off")
				}
			},
		},
		{name: "hardening-off", release: defaultRelease, ns: defaultNamespace,
			values: map[string]any{"hardening": map[string]any{"enabled": false}}},
		{
			name: "webhook-off", release: defaultRelease, ns: defaultNamespace,
			values: map[string]any{"webhook": map[string]any{"enabled": false}},
			check: func(t *testing.T, r *rendering) {
				if got, ok := managerArgs(t, r.deployment(t))["enable-webhooks"]; !ok || got != "false" {
					t.Errorf("webhook.enabled=false without --enable-webhooks=false")
				}
			},
		},
		{
			name: "other-release-and-namespace", release: "access", ns: "security",
			values: map[string]any{
				"image":        map[string]any{"repository": "registry.example.com/rolegate", "tag": "v0.1.0"},
				"extraArgs":    []any{"--zap-log-level=debug", "--max-concurrent-reconciles=8"},
				"nodeSelector": map[string]any{"kubernetes.io/os": "linux"},
				"tolerations":  []any{map[string]any{"key": "dedicated", "operator": "Exists"}},
			},
			check: func(t *testing.T, r *rendering) {
				d := r.deployment(t)
				if d.Name != "access-rolegate-controller-manager" {
					t.Errorf("Deployment %s, want access-rolegate-controller-manager", d.Name)
				}
				c := managerContainer(t, d)
				if c.Image != "registry.example.com/rolegate:v0.1.0" {
					t.Errorf("image %s", c.Image)
				}
				a := managerArgs(t, d)
				if a["zap-log-level"] != "debug" || a["max-concurrent-reconciles"] != "8" {
					t.Errorf("extraArgs missing from %v", c.Args)
				}
				if d.Spec.Template.Spec.NodeSelector["kubernetes.io/os"] != "linux" || len(d.Spec.Template.Spec.Tolerations) != 1 {
					t.Errorf("nodeSelector/tolerations not passed: %v %v", d.Spec.Template.Spec.NodeSelector, d.Spec.Template.Spec.Tolerations)
				}
			},
		},
		{
			name: "cert-manager-other-namespace", release: "rolegate", ns: "platform",
			values:          map[string]any{"webhook": map[string]any{"certificate": map[string]any{"mode": "cert-manager"}}},
			skipInDryRunFor: []string{"cert-manager.io"},
		},
		{
			name: "long-fullname", release: "a-very-long-release-name-for-rolegate-in-production", ns: defaultNamespace,
		},
	}
}

func grantsLeases(u *unstructured.Unstructured) bool {
	rules, _, _ := unstructured.NestedSlice(u.Object, "rules")
	for _, r := range rules {
		res, _, _ := unstructured.NestedStringSlice(r.(map[string]any), "resources")
		if slices.Contains(res, "leases") {
			return true
		}
	}
	return false
}

// TestRender runs the checks that hold for every set of values on every
// variant, and each variant's own checks.
func TestRender(t *testing.T) {
	for _, v := range variants() {
		t.Run(v.name, func(t *testing.T) {
			r := mustRender(t, v.release, v.ns, v.values)
			t.Run("Objects", func(t *testing.T) { checkObjects(t, r) })
			t.Run("Workload", func(t *testing.T) { checkWorkload(t, r) })
			t.Run("Webhooks", func(t *testing.T) { checkWebhooks(t, r) })
			t.Run("RBAC", func(t *testing.T) { checkRBAC(t, r) })
			t.Run("Hardening", func(t *testing.T) { checkHardening(t, r) })
			t.Run("Monitoring", func(t *testing.T) { checkMonitoring(t, r) })
			t.Run("Notes", func(t *testing.T) { checkNotes(t, r) })
			if v.check != nil {
				t.Run("Variant", func(t *testing.T) { v.check(t, r) })
			}
		})
	}
}

// kinds the chart may render, and whether they are namespaced; a new kind
// must be added here (and to the dry-run) on purpose.
var namespacedKinds = map[string]bool{
	"ServiceAccount": true, "Role": true, "RoleBinding": true, "Deployment": true,
	"Service": true, "Secret": true, "Issuer": true, "Certificate": true,
	"ServiceMonitor": true, "PrometheusRule": true, "PodDisruptionBudget": true,
	"ClusterRole": false, "ClusterRoleBinding": false,
	"MutatingWebhookConfiguration": false, "ValidatingWebhookConfiguration": false,
	"ValidatingAdmissionPolicy": false, "ValidatingAdmissionPolicyBinding": false,
}

// builtin converts the built-in kinds to their Go types, which rejects
// unknown fields (a mis-indented template usually produces one).
var builtin = map[string]func(testing.TB, *unstructured.Unstructured){
	"ServiceAccount":     func(t testing.TB, u *unstructured.Unstructured) { convert[corev1.ServiceAccount](t, u) },
	"Secret":             func(t testing.TB, u *unstructured.Unstructured) { convert[corev1.Secret](t, u) },
	"Service":            func(t testing.TB, u *unstructured.Unstructured) { convert[corev1.Service](t, u) },
	"Deployment":         func(t testing.TB, u *unstructured.Unstructured) { convert[appsv1.Deployment](t, u) },
	"Role":               func(t testing.TB, u *unstructured.Unstructured) { convert[rbacv1.Role](t, u) },
	"RoleBinding":        func(t testing.TB, u *unstructured.Unstructured) { convert[rbacv1.RoleBinding](t, u) },
	"ClusterRole":        func(t testing.TB, u *unstructured.Unstructured) { convert[rbacv1.ClusterRole](t, u) },
	"ClusterRoleBinding": func(t testing.TB, u *unstructured.Unstructured) { convert[rbacv1.ClusterRoleBinding](t, u) },
	"MutatingWebhookConfiguration": func(t testing.TB, u *unstructured.Unstructured) {
		convert[admissionregistrationv1.MutatingWebhookConfiguration](t, u)
	},
	"ValidatingWebhookConfiguration": func(t testing.TB, u *unstructured.Unstructured) {
		convert[admissionregistrationv1.ValidatingWebhookConfiguration](t, u)
	},
	"ValidatingAdmissionPolicy": func(t testing.TB, u *unstructured.Unstructured) {
		convert[admissionregistrationv1.ValidatingAdmissionPolicy](t, u)
	},
	"ValidatingAdmissionPolicyBinding": func(t testing.TB, u *unstructured.Unstructured) {
		convert[admissionregistrationv1.ValidatingAdmissionPolicyBinding](t, u)
	},
}

// checkObjects: known kinds, unique names, valid names, the right
// namespace, the chart's labels, and strict conversion of built-in kinds.
func checkObjects(t *testing.T, r *rendering) {
	if len(r.objs) == 0 {
		t.Fatal("nothing rendered")
	}
	seen := map[string]bool{}
	for _, u := range r.objs {
		namespaced, known := namespacedKinds[u.GetKind()]
		if !known {
			t.Errorf("%s: kind not expected from this chart", utils.ObjectID(u))
			continue
		}
		if seen[utils.ObjectID(u)] {
			t.Errorf("%s rendered twice", utils.ObjectID(u))
		}
		seen[utils.ObjectID(u)] = true
		switch {
		case namespaced && u.GetNamespace() != r.namespace:
			t.Errorf("%s: namespace %q, want the release namespace %q", utils.ObjectID(u), u.GetNamespace(), r.namespace)
		case !namespaced && u.GetNamespace() != "":
			t.Errorf("%s: cluster-scoped but has namespace %q", utils.ObjectID(u), u.GetNamespace())
		}
		if errs := validation.IsDNS1123Subdomain(u.GetName()); len(errs) > 0 {
			t.Errorf("%s: invalid name: %v", utils.ObjectID(u), errs)
		}
		if u.GetKind() == "Service" {
			if errs := validation.IsDNS1035Label(u.GetName()); len(errs) > 0 {
				t.Errorf("%s: invalid Service name: %v", utils.ObjectID(u), errs)
			}
		}
		l := u.GetLabels()
		want := map[string]string{
			"app.kubernetes.io/name":       "rolegate",
			"app.kubernetes.io/instance":   r.name,
			"app.kubernetes.io/managed-by": "Helm",
			"app.kubernetes.io/version":    "0.1.0",
			"helm.sh/chart":                "rolegate-0.1.0",
		}
		for k, v := range want {
			if l[k] != v {
				t.Errorf("%s: label %s=%q, want %q", utils.ObjectID(u), k, l[k], v)
			}
		}
		if conv := builtin[u.GetKind()]; conv != nil {
			conv(t, u)
		}
	}
}

// checkWorkload: the Deployment runs the rendered ServiceAccount, selects
// its own pods, and its metrics Service and probes point at real ports.
func checkWorkload(t *testing.T, r *rendering) {
	d := r.deployment(t)
	spec := d.Spec.Template.Spec
	a := managerArgs(t, d)
	c := managerContainer(t, d)

	if r.objs.Find("ServiceAccount", r.namespace, spec.ServiceAccountName) == nil {
		t.Errorf("serviceAccountName %q is not a rendered ServiceAccount (%v)", spec.ServiceAccountName, r.objs.OfKind("ServiceAccount").IDs())
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	podLabels := labels.Set(d.Spec.Template.Labels)
	if !sel.Matches(podLabels) {
		t.Errorf("the Deployment's selector %v does not match its pod labels %v", sel, podLabels)
	}
	replicas := int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	_, leader := a["leader-elect"]
	if replicas > 1 && !leader {
		t.Errorf("%d replicas without --leader-elect", replicas)
	}
	if leader {
		if !slices.ContainsFunc(boundRoles(t, r, "Role"), grantsLeasesTyped) {
			t.Errorf("--leader-elect but no Role bound to the ServiceAccount grants leases")
		}
	}

	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["health"] != 8081 || a["health-probe-bind-address"] != ":8081" {
		t.Errorf("health port %d, --health-probe-bind-address=%s", ports["health"], a["health-probe-bind-address"])
	}
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Port.IntValue() != 8081 {
			t.Errorf("probe %+v does not use the health port 8081", p)
		}
	}
	if env := envValueFrom(c, "POD_NAMESPACE"); env != "metadata.namespace" {
		t.Errorf("POD_NAMESPACE from %q, want metadata.namespace", env)
	}
	if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
		t.Errorf("the manager's root filesystem is not read-only")
	}

	metricsOn := r.boolValue(t, "metrics.enabled")
	metricsSvc := r.objs.Find("Service", r.namespace, fullname(r)+"-controller-manager-metrics-service")
	if !metricsOn {
		if a["metrics-bind-address"] != "0" || metricsSvc != nil {
			t.Errorf("metrics off but --metrics-bind-address=%s, Service %v", a["metrics-bind-address"], metricsSvc != nil)
		}
		return
	}
	if metricsSvc == nil {
		t.Fatalf("no metrics Service %s-controller-manager-metrics-service among %v", fullname(r), r.objs.OfKind("Service").IDs())
	}
	if want := ":" + strconv.Itoa(int(ports["metrics"])); ports["metrics"] == 0 || a["metrics-bind-address"] != want {
		t.Errorf("--metrics-bind-address=%s, container port metrics=%d", a["metrics-bind-address"], ports["metrics"])
	}
	if want := strconv.FormatBool(r.boolValue(t, "metrics.secure")); a["metrics-secure"] != want {
		t.Errorf("--metrics-secure=%s, want %s", a["metrics-secure"], want)
	}
	svc := convert[corev1.Service](t, metricsSvc)
	checkServiceTargets(t, svc, d, "metrics")
}

func grantsLeasesTyped(rules []rbacv1.PolicyRule) bool {
	for _, r := range rules {
		if slices.Contains(r.Resources, "leases") && slices.Contains(r.Verbs, "update") {
			return true
		}
	}
	return false
}

func envValueFrom(c *corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			return e.ValueFrom.FieldRef.FieldPath
		}
	}
	return ""
}

// checkServiceTargets: the Service selects the manager's pods and its
// single port targets the named container port.
func checkServiceTargets(t *testing.T, svc *corev1.Service, d *appsv1.Deployment, portName string) {
	t.Helper()
	if len(svc.Spec.Selector) == 0 {
		t.Errorf("Service %s selects nothing", svc.Name)
	}
	for k, v := range svc.Spec.Selector {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("Service %s selects %s=%s, the manager's pods have %q", svc.Name, k, v, d.Spec.Template.Labels[k])
		}
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != portName {
		t.Errorf("Service %s ports %+v, want one targeting %s", svc.Name, svc.Spec.Ports, portName)
	}
	found := false
	for _, p := range managerContainer(t, d).Ports {
		found = found || p.Name == portName
	}
	if !found {
		t.Errorf("Service %s targets port %s, which the manager does not declare", svc.Name, portName)
	}
}

// fullname is the prefix of the release's names: its Deployment is
// <fullname>-controller-manager.
func fullname(r *rendering) string {
	if d := r.objs.OfKind("Deployment"); len(d) > 0 {
		return strings.TrimSuffix(d[0].GetName(), "-controller-manager")
	}
	return ""
}

// checkWebhooks: the names in the manager's --webhook-* flags are the
// rendered objects', the webhooks call the rendered Service, and the
// certificate Secret is the one the pod mounts, created empty (rotate) or
// written by a Certificate for the Service's DNS names (cert-manager).
func checkWebhooks(t *testing.T, r *rendering) {
	d := r.deployment(t)
	a := managerArgs(t, d)
	if !r.boolValue(t, "webhook.enabled") {
		checkWebhooksOff(t, r, d, a)
		return
	}
	if v, ok := a["enable-webhooks"]; ok && v != "true" {
		t.Errorf("--enable-webhooks=%s with webhooks on", v)
	}
	if a["namespace"] != r.namespace {
		t.Errorf("--namespace=%s, want the release namespace %s", a["namespace"], r.namespace)
	}
	svc := checkWebhookService(t, r, d, a)
	checkWebhookConfigurations(t, r, a, svc)
	checkCertificateMount(t, r, d, a)
	switch mode := r.stringValue(t, "webhook.certificate.mode"); mode {
	case "rotate":
		checkRotation(t, r, a)
	case "cert-manager":
		checkCertManager(t, r, a, svc)
	default:
		t.Fatalf("unexpected mode %q", mode)
	}
}

func checkWebhooksOff(t *testing.T, r *rendering, d *appsv1.Deployment, a args) {
	if a["enable-webhooks"] != "false" {
		t.Errorf("webhooks off but no --enable-webhooks=false")
	}
	for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "Secret", "Certificate", "Issuer"} {
		if objs := r.objs.OfKind(kind); len(objs) > 0 {
			t.Errorf("webhooks off but rendered %v", objs.IDs())
		}
	}
	if r.objs.Find("Service", r.namespace, fullname(r)+"-webhook-service") != nil {
		t.Errorf("webhooks off but the webhook Service is rendered")
	}
	if slices.ContainsFunc(d.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Secret != nil }) {
		t.Errorf("webhooks off but the pod mounts a Secret: %+v", d.Spec.Template.Spec.Volumes)
	}
}

// checkWebhookService: --webhook-service-name is a rendered Service in
// --namespace that reaches the manager's --webhook-port.
func checkWebhookService(t *testing.T, r *rendering, d *appsv1.Deployment, a args) *corev1.Service {
	t.Helper()
	svcObj := r.objs.Find("Service", a["namespace"], a["webhook-service-name"])
	if svcObj == nil {
		t.Fatalf("--webhook-service-name=%s is not a rendered Service in %s (%v)", a["webhook-service-name"], a["namespace"], r.objs.OfKind("Service").IDs())
	}
	svc := convert[corev1.Service](t, svcObj)
	checkServiceTargets(t, svc, d, "webhook-server")
	webhookPort := r.stringValue(t, "webhook.port")
	if a["webhook-port"] != webhookPort {
		t.Errorf("--webhook-port=%s, want %s", a["webhook-port"], webhookPort)
	}
	for _, p := range managerContainer(t, d).Ports {
		if p.Name == "webhook-server" && strconv.Itoa(int(p.ContainerPort)) != webhookPort {
			t.Errorf("container port webhook-server=%d, --webhook-port=%s", p.ContainerPort, webhookPort)
		}
	}
	return svc
}

// checkWebhookConfigurations: the configurations are the ones the manager
// keeps the caBundle of, and every webhook calls the rendered Service.
func checkWebhookConfigurations(t *testing.T, r *rendering, a args, svc *corev1.Service) {
	mutating := r.objs.OfKind("MutatingWebhookConfiguration")
	validating := r.objs.OfKind("ValidatingWebhookConfiguration")
	if len(mutating) != 1 || mutating[0].GetName() != a["mutating-webhook-configuration"] {
		t.Errorf("--mutating-webhook-configuration=%s, rendered %v", a["mutating-webhook-configuration"], mutating.IDs())
	}
	if len(validating) != 1 || validating[0].GetName() != a["validating-webhook-configuration"] {
		t.Errorf("--validating-webhook-configuration=%s, rendered %v", a["validating-webhook-configuration"], validating.IDs())
	}
	var refs []admissionregistrationv1.WebhookClientConfig
	for _, u := range mutating {
		for _, w := range convert[admissionregistrationv1.MutatingWebhookConfiguration](t, u).Webhooks {
			refs = append(refs, w.ClientConfig)
		}
	}
	for _, u := range validating {
		for _, w := range convert[admissionregistrationv1.ValidatingWebhookConfiguration](t, u).Webhooks {
			refs = append(refs, w.ClientConfig)
		}
	}
	if len(refs) != 5 {
		t.Errorf("%d webhooks, want 5", len(refs))
	}
	for _, cc := range refs {
		s := cc.Service
		if s == nil || s.Name != svc.Name || s.Namespace != svc.Namespace {
			t.Errorf("webhook clientConfig %+v does not call Service %s/%s", s, svc.Namespace, svc.Name)
			continue
		}
		port := int32(443)
		if s.Port != nil {
			port = *s.Port
		}
		if svc.Spec.Ports[0].Port != port {
			t.Errorf("webhook calls port %d, the Service serves %d", port, svc.Spec.Ports[0].Port)
		}
	}
}

// checkCertificateMount: with cert-manager, --webhook-secret-name is the
// Secret mounted read-only where the manager reads its certificate; when the
// manager rotates its own, no Secret is mounted there (it copies the
// certificate from the Secret through the API) and the directory is in the
// writable /tmp emptyDir.
func checkCertificateMount(t *testing.T, r *rendering, d *appsv1.Deployment, a args) {
	secretName := a["webhook-secret-name"]
	var certVolume string
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Secret != nil {
			if v.Secret.SecretName != secretName {
				t.Errorf("volume %s mounts Secret %s, --webhook-secret-name=%s", v.Name, v.Secret.SecretName, secretName)
			}
			certVolume = v.Name
		}
	}
	c := managerContainer(t, d)
	mounted := slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.Name == certVolume && m.MountPath == certDir && m.ReadOnly
	})
	if r.stringValue(t, "webhook.certificate.mode") == "cert-manager" {
		if certVolume == "" || !mounted {
			t.Errorf("Secret %s is not mounted read-only at %s", secretName, certDir)
		}
	} else {
		if certVolume != "" {
			t.Errorf("Secret volume %s is mounted though the manager copies its certificate through the API", certVolume)
		}
		if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
			return m.MountPath == "/tmp" && !m.ReadOnly
		}) {
			t.Errorf("no writable /tmp mount for --webhook-cert-dir %s", certDir)
		}
	}
	if _, ok := a["webhook-cert-dir"]; ok {
		t.Errorf("--webhook-cert-dir is set; the mount assumes the default %s", certDir)
	}
}

func webhookConfigurations(r *rendering) objects {
	return slices.Concat(r.objs.OfKind("MutatingWebhookConfiguration"), r.objs.OfKind("ValidatingWebhookConfiguration"))
}

// checkRotation: the manager rotates the certificate into an empty Secret
// it may update, and nothing of cert-manager's is rendered.
func checkRotation(t *testing.T, r *rendering, a args) {
	if a["webhook-cert-rotation"] != "true" {
		t.Errorf("rotate mode with --webhook-cert-rotation=%s", a["webhook-cert-rotation"])
	}
	sec := r.objs.Find("Secret", a["namespace"], a["webhook-secret-name"])
	if sec == nil {
		t.Fatalf("rotate mode but no Secret %s/%s: cert-controller only updates an existing Secret", a["namespace"], a["webhook-secret-name"])
	}
	if data, _, _ := unstructured.NestedMap(sec.Object, "data"); len(data) > 0 || sec.Object["stringData"] != nil {
		t.Errorf("the webhook Secret has data; an upgrade would overwrite the rotated certificate")
	}
	if cm := slices.Concat(r.objs.OfKind("Issuer"), r.objs.OfKind("Certificate")); len(cm) > 0 {
		t.Errorf("rotate mode renders cert-manager objects %v", cm.IDs())
	}
	for _, u := range webhookConfigurations(r) {
		if u.GetAnnotations()[injectCAFrom] != "" {
			t.Errorf("%s has %s in rotate mode", utils.ObjectID(u), injectCAFrom)
		}
	}
	if !slices.ContainsFunc(boundRoles(t, r, "Role"), func(rules []rbacv1.PolicyRule) bool {
		return slices.ContainsFunc(rules, func(p rbacv1.PolicyRule) bool {
			return slices.Contains(p.Resources, "secrets") && slices.Contains(p.Verbs, "update")
		})
	}) {
		t.Errorf("rotate mode but no Role bound to the manager may update Secrets")
	}
}

// checkCertManager: a Certificate from the rendered Issuer, for the
// webhook Service's names, writes the mounted Secret, and cainjector is
// told to inject its CA into both configurations.
func checkCertManager(t *testing.T, r *rendering, a args, svc *corev1.Service) {
	secretName, ns := a["webhook-secret-name"], a["namespace"]
	if a["webhook-cert-rotation"] != "false" {
		t.Errorf("cert-manager mode with --webhook-cert-rotation=%s", a["webhook-cert-rotation"])
	}
	if r.objs.Find("Secret", ns, secretName) != nil {
		t.Errorf("cert-manager mode renders the Secret %s, which cert-manager creates", secretName)
	}
	cert, issuer := r.objs.One(t, "Certificate"), r.objs.One(t, "Issuer")
	if got, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName"); got != secretName {
		t.Errorf("Certificate writes Secret %s, the pod mounts %s", got, secretName)
	}
	dns, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
	for _, want := range []string{svc.Name + "." + ns + ".svc", svc.Name + "." + ns + ".svc.cluster.local"} {
		if !slices.Contains(dns, want) {
			t.Errorf("Certificate dnsNames %v lack %s", dns, want)
		}
	}
	kind, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "kind")
	name, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "name")
	if kind != "Issuer" || name != issuer.GetName() {
		t.Errorf("Certificate issuerRef %s/%s, rendered Issuer %s", kind, name, issuer.GetName())
	}
	for _, u := range webhookConfigurations(r) {
		if got, want := u.GetAnnotations()[injectCAFrom], cert.GetNamespace()+"/"+cert.GetName(); got != want {
			t.Errorf("%s: %s=%q, want %q", utils.ObjectID(u), injectCAFrom, got, want)
		}
	}
}

// boundRoles returns the rules of every Role or ClusterRole (kind) that a
// rendered binding grants the manager's ServiceAccount, failing on a
// binding that names a role or ServiceAccount the chart did not render.
func boundRoles(t testing.TB, r *rendering, kind string) [][]rbacv1.PolicyRule {
	t.Helper()
	sa := r.deployment(t).Spec.Template.Spec.ServiceAccountName
	var out [][]rbacv1.PolicyRule
	check := func(where string, ref rbacv1.RoleRef, subjects []rbacv1.Subject, ns string) {
		if ref.Kind != kind {
			return
		}
		toManager := slices.ContainsFunc(subjects, func(s rbacv1.Subject) bool {
			return s.Kind == rbacv1.ServiceAccountKind && s.Name == sa && s.Namespace == r.namespace
		})
		if !toManager {
			return
		}
		var role *unstructured.Unstructured
		if kind == "Role" {
			role = r.objs.Find("Role", ns, ref.Name)
		} else {
			role = r.objs.Find("ClusterRole", "", ref.Name)
		}
		if role == nil {
			t.Errorf("%s refers to %s %s, which the chart does not render", where, kind, ref.Name)
			return
		}
		if kind == "Role" {
			out = append(out, convert[rbacv1.Role](t, role).Rules)
		} else {
			out = append(out, convert[rbacv1.ClusterRole](t, role).Rules)
		}
	}
	for _, u := range r.objs.OfKind("RoleBinding") {
		b := convert[rbacv1.RoleBinding](t, u)
		check(utils.ObjectID(u), b.RoleRef, b.Subjects, b.Namespace)
	}
	for _, u := range r.objs.OfKind("ClusterRoleBinding") {
		b := convert[rbacv1.ClusterRoleBinding](t, u)
		check(utils.ObjectID(u), b.RoleRef, b.Subjects, "")
	}
	return out
}

// checkRBAC: bindings name rendered roles and the rendered ServiceAccount;
// no role holds '*' or escalate; the manager's ClusterRole is bound.
func checkRBAC(t *testing.T, r *rendering) {
	sa := r.deployment(t).Spec.Template.Spec.ServiceAccountName
	checkSubjects := func(where string, subjects []rbacv1.Subject) {
		for _, s := range subjects {
			if s.Kind != rbacv1.ServiceAccountKind || s.Name != sa || s.Namespace != r.namespace {
				t.Errorf("%s binds %+v, want ServiceAccount %s/%s", where, s, r.namespace, sa)
			}
		}
	}
	for _, u := range r.objs.OfKind("RoleBinding") {
		b := convert[rbacv1.RoleBinding](t, u)
		checkSubjects(utils.ObjectID(u), b.Subjects)
		if b.RoleRef.Kind != "Role" || r.objs.Find("Role", b.Namespace, b.RoleRef.Name) == nil {
			t.Errorf("%s refers to %s %s, not a rendered Role", utils.ObjectID(u), b.RoleRef.Kind, b.RoleRef.Name)
		}
	}
	for _, u := range r.objs.OfKind("ClusterRoleBinding") {
		b := convert[rbacv1.ClusterRoleBinding](t, u)
		if strings.HasSuffix(b.Name, "-metrics-scraper") {
			// The ServiceMonitor's scrape identity: the metrics reader only.
			reader := strings.TrimSuffix(b.Name, "-metrics-scraper") + "-metrics-reader"
			if b.RoleRef.Name != reader || len(b.Subjects) != 1 || b.Subjects[0].Name != b.Name || b.Subjects[0].Namespace != r.namespace {
				t.Errorf("%s binds %+v to %s, want ServiceAccount %s to %s only", b.Name, b.Subjects, b.RoleRef.Name, b.Name, reader)
			}
		} else {
			checkSubjects(utils.ObjectID(u), b.Subjects)
		}
		if b.RoleRef.Kind != "ClusterRole" || r.objs.Find("ClusterRole", "", b.RoleRef.Name) == nil {
			t.Errorf("%s refers to %s %s, not a rendered ClusterRole", utils.ObjectID(u), b.RoleRef.Kind, b.RoleRef.Name)
		}
	}
	var all []*unstructured.Unstructured
	all = append(all, r.objs.OfKind("Role")...)
	all = append(all, r.objs.OfKind("ClusterRole")...)
	for _, u := range all {
		rules, _, _ := unstructured.NestedSlice(u.Object, "rules")
		for _, raw := range rules {
			rule := raw.(map[string]any)
			for _, field := range []string{"apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"} {
				vals, _, _ := unstructured.NestedStringSlice(rule, field)
				if slices.Contains(vals, "*") {
					t.Errorf("%s: '*' in %s of %v", utils.ObjectID(u), field, rule)
				}
				if field == "verbs" && slices.Contains(vals, "escalate") {
					t.Errorf("%s: escalate in %v", utils.ObjectID(u), rule)
				}
			}
		}
	}
	manager := r.objs.Find("ClusterRole", "", fullname(r)+"-manager-role")
	if manager == nil {
		t.Fatalf("no ClusterRole %s-manager-role", fullname(r))
	}
	if len(boundRoles(t, r, "ClusterRole")) == 0 {
		t.Errorf("no ClusterRole is bound to the manager")
	}
	// The bind permission: everywhere, or only on the names restrictBind lists.
	cr, _ := r.values.PathValue("restrictBind.clusterRoles")
	ro, _ := r.values.PathValue("restrictBind.roles")
	if len(toStrings(cr))+len(toStrings(ro)) == 0 {
		if !hasRule(convert[rbacv1.ClusterRole](t, manager).Rules, rbacGroup, []string{"clusterroles", "roles"}, "bind", nil) {
			t.Errorf("the manager lacks bind on clusterroles and roles")
		}
	} else {
		checkBindOnlyOn(t, r, toStrings(cr), toStrings(ro))
	}
}

func toStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, s := range l {
			out = append(out, fmt.Sprint(s))
		}
	}
	return out
}

func hasRule(rules []rbacv1.PolicyRule, group string, resources []string, verb string, names []string) bool {
	return slices.ContainsFunc(rules, func(p rbacv1.PolicyRule) bool {
		return slices.Equal(p.APIGroups, []string{group}) && slices.Equal(p.Resources, resources) &&
			slices.Contains(p.Verbs, verb) && slices.Equal(p.ResourceNames, names)
	})
}

// checkBindOnlyOn: every rule of the manager's ClusterRole that grants bind
// is limited to exactly the listed names, one rule per resource.
func checkBindOnlyOn(t *testing.T, r *rendering, clusterRoles, roles []string) {
	t.Helper()
	manager := convert[rbacv1.ClusterRole](t, r.objs.Find("ClusterRole", "", fullname(r)+"-manager-role"))
	got := map[string][]string{}
	for _, p := range manager.Rules {
		if !slices.Contains(p.Verbs, "bind") {
			continue
		}
		if len(p.ResourceNames) == 0 {
			t.Errorf("bind granted without resourceNames: %+v", p)
			continue
		}
		if !slices.Equal(p.Verbs, []string{"bind"}) || len(p.Resources) != 1 {
			t.Errorf("restricted bind rule %+v should grant only bind on one resource", p)
		}
		for _, res := range p.Resources {
			got[res] = append(got[res], p.ResourceNames...)
		}
	}
	want := map[string][]string{}
	if len(clusterRoles) > 0 {
		want["clusterroles"] = clusterRoles
	}
	if len(roles) > 0 {
		want["roles"] = roles
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("bind granted on %v, want %v", got, want)
	}
	// Reading roles stays, for policy readiness and request validation.
	if !hasRule(manager.Rules, rbacGroup, []string{"clusterroles", "roles"}, "get", nil) {
		t.Errorf("the manager lost get/list/watch on clusterroles and roles")
	}
}

// checkHardening: the policies name the release's ServiceAccount as the
// operator, and each binding names a rendered policy.
func checkHardening(t *testing.T, r *rendering) {
	vaps, bindings := r.objs.OfKind("ValidatingAdmissionPolicy"), r.objs.OfKind("ValidatingAdmissionPolicyBinding")
	if !r.boolValue(t, "hardening.enabled") {
		if len(vaps)+len(bindings) > 0 {
			t.Errorf("hardening off but rendered %v %v", vaps.IDs(), bindings.IDs())
		}
		return
	}
	if len(vaps) != 2 || len(bindings) != 2 {
		t.Fatalf("want 2 policies and 2 bindings, got %v %v", vaps.IDs(), bindings.IDs())
	}
	sa := r.objs.Find("ServiceAccount", r.namespace, r.deployment(t).Spec.Template.Spec.ServiceAccountName)
	if sa == nil {
		t.Fatal("the manager's ServiceAccount is not rendered")
	}
	user := fmt.Sprintf("system:serviceaccount:%s:%s", r.namespace, sa.GetName())
	if sa.GetName() != r.deployment(t).Spec.Template.Spec.ServiceAccountName {
		t.Fatalf("the manager does not run as ServiceAccount %s", sa.GetName())
	}
	for _, u := range vaps {
		p := convert[admissionregistrationv1.ValidatingAdmissionPolicy](t, u)
		if len(p.Spec.Variables) == 0 || p.Spec.Variables[0].Name != "operator" {
			t.Errorf("%s: the first variable is not operator", utils.ObjectID(u))
			continue
		}
		if got, want := p.Spec.Variables[0].Expression, "'"+user+"'"; got != want {
			t.Errorf("%s: operator = %s, want %s", utils.ObjectID(u), got, want)
		}
	}
	for _, u := range bindings {
		b := convert[admissionregistrationv1.ValidatingAdmissionPolicyBinding](t, u)
		if r.objs.Find("ValidatingAdmissionPolicy", "", b.Spec.PolicyName) == nil {
			t.Errorf("%s binds policy %s, which is not rendered", utils.ObjectID(u), b.Spec.PolicyName)
		}
		if !slices.Equal(b.Spec.ValidationActions, []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}) {
			t.Errorf("%s: validationActions %v, want [Deny]", utils.ObjectID(u), b.Spec.ValidationActions)
		}
	}
}

// checkMonitoring: the ServiceMonitor and PrometheusRule appear only when
// enabled, and the ServiceMonitor selects the metrics Service by labels
// and port name in the release namespace.
func checkMonitoring(t *testing.T, r *rendering) {
	sms, rules := r.objs.OfKind("ServiceMonitor"), r.objs.OfKind("PrometheusRule")
	if on := r.boolValue(t, "monitoring.serviceMonitor.enabled"); on != (len(sms) == 1) || len(sms) > 1 {
		t.Errorf("monitoring.serviceMonitor.enabled=%v, rendered %v", on, sms.IDs())
	}
	if on := r.boolValue(t, "monitoring.prometheusRule.enabled"); on != (len(rules) == 1) || len(rules) > 1 {
		t.Errorf("monitoring.prometheusRule.enabled=%v, rendered %v", on, rules.IDs())
	}
	for _, sm := range sms {
		svc := convert[corev1.Service](t, r.objs.Find("Service", r.namespace, fullname(r)+"-controller-manager-metrics-service"))
		match, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
		if len(match) == 0 {
			t.Errorf("%s selects every Service", utils.ObjectID(sm))
		}
		for k, v := range match {
			if svc.Labels[k] != v {
				t.Errorf("%s selects %s=%s; the metrics Service has %q", utils.ObjectID(sm), k, v, svc.Labels[k])
			}
		}
		names, _, _ := unstructured.NestedStringSlice(sm.Object, "spec", "namespaceSelector", "matchNames")
		if !slices.Equal(names, []string{r.namespace}) {
			t.Errorf("%s looks in namespaces %v, want [%s]", utils.ObjectID(sm), names, r.namespace)
		}
		endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		if len(endpoints) != 1 {
			t.Fatalf("%s: %d endpoints", utils.ObjectID(sm), len(endpoints))
		}
		ep := endpoints[0].(map[string]any)
		if ep["port"] != svc.Spec.Ports[0].Name {
			t.Errorf("%s scrapes port %v, the Service's is %s", utils.ObjectID(sm), ep["port"], svc.Spec.Ports[0].Name)
		}
		if want := map[bool]string{true: "https", false: "http"}[r.boolValue(t, "metrics.secure")]; ep["scheme"] != want {
			t.Errorf("%s scheme %v, want %s", utils.ObjectID(sm), ep["scheme"], want)
		}
	}
	for _, pr := range rules {
		groups, _, _ := unstructured.NestedSlice(pr.Object, "spec", "groups")
		if len(groups) == 0 {
			t.Errorf("%s has no rule groups", utils.ObjectID(pr))
		}
	}
}

func checkNotes(t *testing.T, r *rendering) {
	for file, text := range r.files {
		if strings.HasSuffix(file, "NOTES.txt") {
			if !strings.Contains(text, "deploy/"+fullname(r)+"-controller-manager") {
				t.Errorf("NOTES.txt does not name the Deployment:\n%s", text)
			}
			return
		}
	}
	t.Errorf("no NOTES.txt rendered")
}

// ---------------------------------------------------------------------------
// Equivalence with config/

// TestChart checks Chart.yaml and runs `helm lint --strict`'s rules.
func TestChart(t *testing.T) {
	ch := loadChart(t)
	m := ch.Metadata
	if m.APIVersion != chart.APIVersionV2 || m.Name != "rolegate" || m.Version != "0.1.0" || m.AppVersion != "0.1.0" {
		t.Errorf("Chart.yaml: apiVersion %s name %s version %s appVersion %s", m.APIVersion, m.Name, m.Version, m.AppVersion)
	}
	kv, err := common.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	for name, vals := range map[string]map[string]any{"default": nil, "cert-manager": {"webhook": map[string]any{"certificate": map[string]any{"mode": "cert-manager"}}}} {
		result := lint.RunAll(filepath.Join(root(t), "dist", "chart"), vals, defaultNamespace, lint.WithKubeVersion(kv))
		for _, msg := range result.Messages {
			if msg.Severity >= support.WarningSev {
				t.Errorf("helm lint (%s): %v", name, msg)
			} else {
				t.Logf("helm lint (%s): %v", name, msg)
			}
		}
	}
}

// TestCRDsMatchGenerated: crds/ holds exactly config/crd/bases, byte for
// byte, so the chart installs the CRDs `make manifests` generates.
func TestCRDsMatchGenerated(t *testing.T) {
	bases := filepath.Join(root(t), "config", "crd", "bases")
	crds := filepath.Join(root(t), "dist", "chart", "crds")
	list := func(dir string) []string {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	want, got := list(bases), list(crds)
	if !slices.Equal(got, want) {
		t.Fatalf("dist/chart/crds has %v, config/crd/bases has %v; copy them: cp config/crd/bases/*.yaml dist/chart/crds/", got, want)
	}
	for _, name := range want {
		a, err := os.ReadFile(filepath.Join(bases, name))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(crds, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("dist/chart/crds/%s differs from config/crd/bases/%s; copy it: cp config/crd/bases/*.yaml dist/chart/crds/", name, name)
		}
	}
	if n := len(loadChart(t).CRDObjects()); n != len(want) {
		t.Errorf("the loaded chart has %d CRDs, want %d", n, len(want))
	}
}

var kustomizeCache sync.Map // dir -> objects

// kustomize runs `kustomize build` on a directory under config/.
func kustomize(t testing.TB, dir string) objects {
	t.Helper()
	if objs, ok := kustomizeCache.Load(dir); ok {
		return objs.(objects)
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(root(t), dir))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var objs objects
	for _, res := range rm.Resources() {
		b, err := res.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(b); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, u)
	}
	kustomizeCache.Store(dir, objs)
	return objs
}

// generated reads the objects of a file under config/.
func generated(t testing.TB, path string) objects {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(t), path))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := parseDocuments(string(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return objs
}

func diff(a, b any) string {
	ya, _ := yaml.Marshal(a)
	yb, _ := yaml.Marshal(b)
	return fmt.Sprintf("chart:\n%s\nreference:\n%s", ya, yb)
}

// TestManagerRulesMatchGenerated: the manager's ClusterRole and Role carry
// exactly the rules controller-gen writes to config/rbac/role.yaml.
func TestManagerRulesMatchGenerated(t *testing.T) {
	gen := generated(t, "config/rbac/role.yaml")
	r := renderDefault(t, nil)
	for _, kind := range []string{"ClusterRole", "Role"} {
		want := gen.One(t, kind)
		ns := ""
		if kind == "Role" {
			ns = defaultNamespace
		}
		got := r.objs.Find(kind, ns, "rolegate-manager-role")
		if got == nil {
			t.Fatalf("no %s rolegate-manager-role", kind)
		}
		if !equality.Semantic.DeepEqual(got.Object["rules"], want.Object["rules"]) {
			t.Errorf("%s rules differ from config/rbac/role.yaml (run make manifests, then update templates/manager-rbac.yaml):\n%s",
				kind, diff(got.Object["rules"], want.Object["rules"]))
		}
	}
}

// TestWebhooksMatchGenerated: the webhook configurations are
// config/webhook/manifests.yaml's but for the Service they call.
func TestWebhooksMatchGenerated(t *testing.T) {
	gen := generated(t, "config/webhook/manifests.yaml")
	r := mustRender(t, "access", "security", nil)
	for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
		want, _, _ := unstructured.NestedSlice(gen.One(t, kind).Object, "webhooks")
		got, _, _ := unstructured.NestedSlice(r.objs.One(t, kind).Object, "webhooks")
		for _, w := range slices.Concat(want, got) {
			unstructured.RemoveNestedField(w.(map[string]any), "clientConfig", "service", "name")
			unstructured.RemoveNestedField(w.(map[string]any), "clientConfig", "service", "namespace")
		}
		if !equality.Semantic.DeepEqual(got, want) {
			t.Errorf("%s webhooks differ from config/webhook/manifests.yaml:\n%s", kind, diff(got, want))
		}
	}
}

// TestHardeningMatchesConfig: the policies are config/hardening's but for
// the operator's username, for any release.
func TestHardeningMatchesConfig(t *testing.T) {
	r := mustRender(t, "access", "security", nil)
	for _, file := range []string{"managed_rolebindings.yaml", "operator_rolebindings.yaml"} {
		for _, want := range generated(t, "config/hardening/"+file) {
			got := r.objs.Find(want.GetKind(), "", "access-rolegate-"+want.GetName())
			if got == nil {
				t.Errorf("no %s access-rolegate-%s", want.GetKind(), want.GetName())
				continue
			}
			wantSpec, gotSpec := want.Object["spec"].(map[string]any), runtime.DeepCopyJSON(got.Object)["spec"].(map[string]any)
			if want.GetKind() == "ValidatingAdmissionPolicy" {
				wantSpec = runtime.DeepCopyJSONValue(wantSpec).(map[string]any)
				for _, s := range []map[string]any{wantSpec, gotSpec} {
					s["variables"].([]any)[0].(map[string]any)["expression"] = "<operator>"
				}
			} else {
				gotSpec["policyName"] = strings.TrimPrefix(gotSpec["policyName"].(string), "access-rolegate-")
			}
			if !equality.Semantic.DeepEqual(gotSpec, wantSpec) {
				t.Errorf("%s %s differs from config/hardening/%s:\n%s", want.GetKind(), want.GetName(), file, diff(gotSpec, wantSpec))
			}
		}
	}
}

// TestMonitoringMatchesConfig: with the default release the PrometheusRule
// is config/monitoring's, and the ServiceMonitor scrapes the same endpoint.
func TestMonitoringMatchesConfig(t *testing.T) {
	r := renderDefault(t, map[string]any{"monitoring": map[string]any{
		"serviceMonitor": map[string]any{"enabled": true}, "prometheusRule": map[string]any{"enabled": true},
	}})
	ref := kustomize(t, "config/monitoring")
	for _, kind := range []string{"PrometheusRule", "ServiceMonitor"} {
		want, got := ref.One(t, kind), r.objs.One(t, kind)
		if got.GetName() != want.GetName() || got.GetNamespace() != want.GetNamespace() {
			t.Errorf("%s is %s, config/monitoring's is %s", kind, utils.ObjectID(got), utils.ObjectID(want))
		}
		wantSpec, gotSpec := runtime.DeepCopyJSON(want.Object)["spec"].(map[string]any), runtime.DeepCopyJSON(got.Object)["spec"].(map[string]any)
		if kind == "ServiceMonitor" {
			// The chart selects by its own labels (checked in TestRender).
			delete(wantSpec, "selector")
			delete(gotSpec, "selector")
		}
		if !equality.Semantic.DeepEqual(gotSpec, wantSpec) {
			t.Errorf("%s spec differs from config/monitoring:\n%s", kind, diff(gotSpec, wantSpec))
		}
	}
	// Another release's runbook texts name its own namespace and objects.
	other := mustRender(t, "access", "security", map[string]any{"monitoring": map[string]any{"prometheusRule": map[string]any{"enabled": true}}})
	text, _ := yaml.Marshal(other.objs.One(t, "PrometheusRule").Object["spec"])
	if bytes.Contains(text, []byte("rolegate-system")) {
		t.Errorf("PrometheusRule of release access in security still mentions rolegate-system")
	}
	for _, want := range []string{"-n security get pods", "deploy/access-rolegate-controller-manager",
		"access-rolegate-metrics-reader ClusterRole", "ServiceMonitor access-rolegate-controller-manager-metrics-monitor"} {
		if !bytes.Contains(text, []byte(want)) {
			t.Errorf("PrometheusRule of release access in security does not mention %q", want)
		}
	}
}

// TestDefaultMatchesKustomize: the default render has config/default's
// objects, by kind, namespace and name, with the same contents: rules,
// bindings, Service ports, webhooks, policies, the Secret and the pod spec.
// The chart's manager flags are config/default's plus flags set to the
// values cmd/main.go defaults them to.
func TestDefaultMatchesKustomize(t *testing.T) {
	compareWithKustomize(t, "config/default", nil, nil)
}

// TestCertManagerMatchesKustomize: the same for config/certmanager. The
// chart leaves out the manager's Secret Role and RoleBinding in this mode:
// without rotation the manager never reads or writes Secrets.
func TestCertManagerMatchesKustomize(t *testing.T) {
	compareWithKustomize(t, "config/certmanager",
		map[string]any{"webhook": map[string]any{"certificate": map[string]any{"mode": "cert-manager"}}},
		[]string{"Role rolegate-system/rolegate-manager-role", "RoleBinding rolegate-system/rolegate-manager-rolebinding"})
}

// TestRestrictBindMatchesKustomize: restrictBind with config/restricted-bind's
// names gives its rules.
func TestRestrictBindMatchesKustomize(t *testing.T) {
	compareWithKustomize(t, "config/restricted-bind",
		map[string]any{"restrictBind": map[string]any{"clusterRoles": []any{"view"}, "roles": []any{"db-migrator"}}}, nil)
}

func compareWithKustomize(t *testing.T, dir string, values map[string]any, notInChart []string) {
	ref := kustomize(t, dir)
	r := renderDefault(t, values)

	var refIDs []string
	for _, u := range ref {
		if u.GetKind() == "Namespace" || u.GetKind() == "CustomResourceDefinition" || slices.Contains(notInChart, utils.ObjectID(u)) {
			continue // the chart's CRDs are in crds/ (TestCRDsMatchGenerated); helm creates the namespace
		}
		refIDs = append(refIDs, utils.ObjectID(u))
	}
	sort.Strings(refIDs)
	if got := r.objs.IDs(); !slices.Equal(got, refIDs) {
		t.Fatalf("the chart renders\n  %v\n%s builds\n  %v", got, dir, refIDs)
	}

	flagDefaults := mainFlagDefaults(t)
	for _, want := range ref {
		got := r.objs.Find(want.GetKind(), want.GetNamespace(), want.GetName())
		if got == nil {
			continue
		}
		t.Run(utils.ObjectID(want), func(t *testing.T) {
			var fields []string
			switch want.GetKind() {
			case "ClusterRole", "Role":
				fields = []string{"rules"}
				for _, l := range []string{"rbac.authorization.k8s.io/aggregate-to-edit", "rbac.authorization.k8s.io/aggregate-to-view"} {
					if got.GetLabels()[l] != want.GetLabels()[l] {
						t.Errorf("label %s=%q, %s has %q", l, got.GetLabels()[l], dir, want.GetLabels()[l])
					}
				}
			case "ClusterRoleBinding", "RoleBinding":
				fields = []string{"roleRef", "subjects"}
			case "Secret":
				fields = []string{"type", "data", "stringData"}
			case "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration":
				fields = []string{"webhooks"}
				if got.GetAnnotations()[injectCAFrom] != want.GetAnnotations()[injectCAFrom] {
					t.Errorf("%s=%q, %s has %q", injectCAFrom, got.GetAnnotations()[injectCAFrom], dir, want.GetAnnotations()[injectCAFrom])
				}
			case "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "Issuer", "Certificate":
				fields = []string{"spec"}
			case "Service":
				compareSelector(t, got, want, "spec", "selector")
				fields = []string{"spec.ports", "spec.type"}
			case "ServiceAccount":
			case "PodDisruptionBudget":
				compareSelector(t, got, want, "spec", "selector", "matchLabels")
				fields = []string{"spec.minAvailable", "spec.maxUnavailable"}
			case "Deployment":
				compareDeployment(t, got, want, flagDefaults)
			default:
				t.Fatalf("no comparison for kind %s", want.GetKind())
			}
			for _, f := range fields {
				path := strings.Split(f, ".")
				g, _, _ := unstructured.NestedFieldCopy(got.Object, path...)
				w, _, _ := unstructured.NestedFieldCopy(want.Object, path...)
				// kustomize's YAML parser keeps an extra line break in
				// folded (>-) CEL expressions; whitespace aside they are equal.
				g, w = squeezeSpace(g), squeezeSpace(w)
				if !equality.Semantic.DeepEqual(g, w) {
					t.Errorf("%s differs from %s:\n%s", f, dir, diff(g, w))
				}
			}
		})
	}
}

// squeezeSpace collapses each run of white space in the strings of v.
func squeezeSpace(v any) any {
	switch v := v.(type) {
	case string:
		return strings.Join(strings.Fields(v), " ")
	case []any:
		for i := range v {
			v[i] = squeezeSpace(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = squeezeSpace(v[k])
		}
	}
	return v
}

// compareSelector: the chart's selector has every label of the reference's
// (it adds app.kubernetes.io/instance).
func compareSelector(t *testing.T, got, want *unstructured.Unstructured, path ...string) {
	t.Helper()
	g, _, _ := unstructured.NestedStringMap(got.Object, path...)
	w, _, _ := unstructured.NestedStringMap(want.Object, path...)
	for k, v := range w {
		if g[k] != v {
			t.Errorf("%s: %s=%q, reference has %q", strings.Join(path, "."), k, g[k], v)
		}
	}
}

func compareDeployment(t *testing.T, got, want *unstructured.Unstructured, defaults map[string]string) {
	compareSelector(t, got, want, "spec", "selector", "matchLabels")
	compareSelector(t, got, want, "spec", "template", "metadata", "labels")
	g, w := convert[appsv1.Deployment](t, got), convert[appsv1.Deployment](t, want)
	if !equality.Semantic.DeepEqual(g.Spec.Replicas, w.Spec.Replicas) {
		t.Errorf("replicas %v, reference %v", g.Spec.Replicas, w.Spec.Replicas)
	}
	if !equality.Semantic.DeepEqual(g.Spec.Strategy, w.Spec.Strategy) {
		t.Errorf("strategy %+v, reference %+v", g.Spec.Strategy, w.Spec.Strategy)
	}
	// Topology spread selects the pods by the chart's selector labels (with
	// the release's instance label); the rest must be the reference's.
	if gs, ws := g.Spec.Template.Spec.TopologySpreadConstraints, w.Spec.Template.Spec.TopologySpreadConstraints; len(gs) == len(ws) {
		for i := range gs {
			if gs[i].LabelSelector == nil || ws[i].LabelSelector == nil {
				continue
			}
			for k, v := range ws[i].LabelSelector.MatchLabels {
				if gs[i].LabelSelector.MatchLabels[k] != v {
					t.Errorf("topology spread %d selects %v, the reference %v", i, gs[i].LabelSelector.MatchLabels, ws[i].LabelSelector.MatchLabels)
				}
			}
			if !labels.SelectorFromSet(gs[i].LabelSelector.MatchLabels).Matches(labels.Set(g.Spec.Template.Labels)) {
				t.Errorf("topology spread %d does not select the chart's pods", i)
			}
			gs[i].LabelSelector = ws[i].LabelSelector
		}
	}
	if !maps.Equal(g.Spec.Template.Annotations, w.Spec.Template.Annotations) {
		t.Errorf("pod annotations %v, reference %v", g.Spec.Template.Annotations, w.Spec.Template.Annotations)
	}
	// Flags: the reference's, plus flags the chart sets to cmd/main.go's defaults.
	ga, wa := managerArgs(t, g), managerArgs(t, w)
	for k, v := range wa {
		if gv, ok := ga[k]; !ok || gv != v {
			t.Errorf("reference passes --%s=%s, the chart %q (present %v)", k, v, gv, ok)
		}
	}
	for k, v := range ga {
		if _, ok := wa[k]; ok {
			continue
		}
		def, known := defaults[k]
		if !known {
			t.Errorf("the chart passes --%s, which cmd/main.go does not define", k)
		} else if v != def {
			t.Errorf("the chart passes --%s=%s where the reference relies on the default %s", k, v, def)
		}
	}
	// The rest of the pod spec is the reference's but for the image.
	for _, d := range []*appsv1.Deployment{g, w} {
		for i := range d.Spec.Template.Spec.Containers {
			c := &d.Spec.Template.Spec.Containers[i]
			c.Args, c.Image, c.ImagePullPolicy = nil, "", ""
		}
	}
	if !equality.Semantic.DeepEqual(g.Spec.Template.Spec, w.Spec.Template.Spec) {
		t.Errorf("pod spec (args and image aside) differs:\n%s", diff(g.Spec.Template.Spec, w.Spec.Template.Spec))
	}
}

// mainFlagDefaults reads the manager's flags and their defaults from
// cmd/main.go, and fails when the flags the chart relies on are missing.
func mainFlagDefaults(t testing.TB) map[string]string {
	t.Helper()
	out, err := utils.ManagerFlagDefaults(root(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, must := range []string{"webhook-secret-name", "webhook-service-name", "namespace", "webhook-cert-rotation", "leader-elect"} {
		if _, ok := out[must]; !ok {
			t.Fatalf("could not read the default of --%s from cmd/main.go (found %v)", must, out)
		}
	}
	return out
}

// TestManagerFlagsExist: every flag the chart can pass is one cmd/main.go
// defines (or zap's --zap-*), so a renamed flag fails here, not at start-up.
func TestManagerFlagsExist(t *testing.T) {
	defaults := mainFlagDefaults(t)
	for _, v := range variants() {
		r := mustRender(t, v.release, v.ns, v.values)
		for k := range managerArgs(t, r.deployment(t)) {
			if _, ok := defaults[k]; !ok && !strings.HasPrefix(k, "zap-") {
				t.Errorf("%s: --%s is not a flag of cmd/main.go", v.name, k)
			}
		}
	}
}

// TestOperatorUsername: the hardening policies' operator is the rendered
// ServiceAccount in the release namespace (kustomize hard-codes it).
func TestOperatorUsername(t *testing.T) {
	for _, c := range []struct {
		release, ns string
		values      map[string]any
		want        string
	}{
		{defaultRelease, defaultNamespace, nil, "system:serviceaccount:rolegate-system:rolegate-controller-manager"},
		{"access", "security", nil, "system:serviceaccount:security:access-rolegate-controller-manager"},
		{"x", "y", map[string]any{"fullnameOverride": "gate"}, "system:serviceaccount:y:gate-controller-manager"},
	} {
		r := mustRender(t, c.release, c.ns, c.values)
		for _, u := range r.objs.OfKind("ValidatingAdmissionPolicy") {
			vars, _, _ := unstructured.NestedSlice(u.Object, "spec", "variables")
			if got := vars[0].(map[string]any)["expression"]; got != "'"+c.want+"'" {
				t.Errorf("%s/%s %s: operator %v, want '%s'", c.release, c.ns, utils.ObjectID(u), got, c.want)
			}
		}
	}
}

// TestInvalidValues: values the chart cannot honour fail the render.
func TestInvalidValues(t *testing.T) {
	for name, vals := range map[string]map[string]any{
		"unknown certificate mode": {"webhook": map[string]any{"certificate": map[string]any{"mode": "vault"}}},
		"serviceMonitor without metrics": {
			"metrics": map[string]any{"enabled": false}, "monitoring": map[string]any{"serviceMonitor": map[string]any{"enabled": true}},
		},
		"replicaCount not a number": {"replicaCount": "three"},
		"restrictBind not a list":   {"restrictBind": map[string]any{"roles": "db-migrator"}},
	} {
		if _, err := renderChart(t, defaultRelease, defaultNamespace, vals); err == nil {
			t.Errorf("%s: rendered without error", name)
		} else {
			t.Logf("%s: %v", name, firstLine(err.Error()))
		}
	}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

// ---------------------------------------------------------------------------
// A real API server

// TestServerSideDryRun installs the chart's CRDs into an envtest API server
// and server-side dry-run applies every variant's objects, except those of
// cert-manager and the Prometheus Operator, whose CRDs it lacks.
func TestServerSideDryRun(t *testing.T) {
	utils.RequireEnvtest(t)
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root(t), "dist", "chart", "crds")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting envtest: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("stopping envtest: %v", err)
		}
	})
	cfg.QPS, cfg.Burst = 1000, 1000
	k8s, err := client.New(cfg, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	created := map[string]bool{}
	for _, v := range variants() {
		t.Run(v.name, func(t *testing.T) {
			if !created[v.ns] {
				ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: v.ns}}
				if err := k8s.Create(ctx, ns); err != nil {
					t.Fatalf("creating namespace %s: %v", v.ns, err)
				}
				created[v.ns] = true
			}
			r := mustRender(t, v.release, v.ns, v.values)
			applied := 0
			for _, u := range r.objs {
				group := u.GroupVersionKind().Group
				if slices.Contains(v.skipInDryRunFor, group) {
					t.Logf("skipped %s (%s has no CRDs in envtest)", utils.ObjectID(u), group)
					continue
				}
				if err := k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(u.DeepCopy()),
					client.FieldOwner("rolegate-helm-test"), client.ForceOwnership, client.DryRunAll); err != nil {
					t.Errorf("server-side dry-run apply of %s: %v", utils.ObjectID(u), err)
				}
				applied++
			}
			t.Logf("%d objects accepted", applied)
		})
	}
}
