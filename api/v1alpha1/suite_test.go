package v1alpha1_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/test/utils"
)

// k8sClient talks to the envtest API server that TestMain starts with the
// CRDs from config/crd/bases installed. It is uncached: every read hits the
// server.
var k8sClient client.Client

// TestMain runs the package's tests against a real kube-apiserver and etcd,
// so that the CRDs' OpenAPI schemas, defaults and CEL rules are exercised
// exactly as a cluster would apply them.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if !utils.UseControlPlane() {
		// The pure type tests run; the CRD tests skip through newNamespace
		// and runCreateCases.
		return m.Run()
	}

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := accessv1alpha1.AddToScheme(scheme); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting envtest: %v\n", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping envtest: %v\n", err)
		}
	}()

	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintf(os.Stderr, "creating client: %v\n", err)
		return 1
	}
	return m.Run()
}

// newNamespace creates a namespace with a generated name for one test, so
// tests never share namespaced objects. envtest runs no namespace
// controller, so it is not cleaned up; the API server goes away at the end.
func newNamespace(t *testing.T) string {
	t.Helper()
	utils.RequireEnvtest(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "crd-test-"}}
	if err := k8sClient.Create(t.Context(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	return ns.Name
}

// object is an untyped API object, so that tests can send values the Go
// types cannot express (durations like "1d", requiredApprovals 0, empty
// namespaces) exactly as kubectl would.
type object = map[string]any

// fromYAML parses a YAML manifest into an untyped object; it fails the test
// on a malformed literal.
func fromYAML(t *testing.T, manifest string) object {
	t.Helper()
	var o object
	if err := yaml.Unmarshal([]byte(manifest), &o); err != nil {
		t.Fatalf("parsing test manifest: %v", err)
	}
	return o
}

// set writes value at path inside o. Path elements are map keys (string)
// or list indexes (int); missing maps along the way are created.
func set(o object, value any, path ...any) {
	parent, last := walk(o, path)
	switch k := last.(type) {
	case string:
		parent.(object)[k] = value
	case int:
		parent.([]any)[k] = value
	}
}

// unset removes the map key at path inside o.
func unset(o object, path ...any) {
	parent, last := walk(o, path)
	delete(parent.(object), last.(string))
}

func walk(o object, path []any) (parent any, last any) {
	var cur any = o
	for _, p := range path[:len(path)-1] {
		switch k := p.(type) {
		case string:
			m := cur.(object)
			if _, ok := m[k]; !ok {
				m[k] = object{}
			}
			cur = m[k]
		case int:
			cur = cur.([]any)[k]
		}
	}
	return cur, path[len(path)-1]
}

// createObject sends o to the API server as a create, with the given name
// and namespace (empty for cluster-scoped kinds), and returns the stored
// object (with defaults applied) and the server's error.
func createObject(ctx context.Context, o object, name, namespace string) (*unstructured.Unstructured, error) {
	// A JSON round trip copies o and turns Go ints into the JSON numbers
	// unstructured objects hold.
	data, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		return nil, err
	}
	u.SetName(name)
	u.SetNamespace(namespace)
	return u, k8sClient.Create(ctx, u)
}

// expectInvalid fails the test unless err is an Invalid (422) error whose
// message contains every one of wants.
func expectInvalid(t *testing.T, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("expected the API server to reject the object as Invalid (%s), but it was accepted",
			strings.Join(wants, ", "))
	}
	if !apierrors.IsInvalid(err) {
		t.Fatalf("expected an Invalid error, got %v (reason %q)", err, apierrors.ReasonForError(err))
	}
	t.Logf("rejected as expected: %v", err)
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("expected the error to mention %q, got: %v", w, err)
		}
	}
}

// validationCase is one table row: a change to a valid base object and
// what the API server must say about it. wantErr nil means accepted.
type validationCase struct {
	name    string
	mutate  func(o object)
	wantErr []string
}

// runCreateCases creates base, modified by each case, under a fresh name
// and checks the API server's verdict.
func runCreateCases(t *testing.T, base func(t *testing.T) object, namespace string, cases []validationCase) {
	t.Helper()
	utils.RequireEnvtest(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := base(t)
			if tc.mutate != nil {
				tc.mutate(o)
			}
			name := uniqueName(t)
			_, err := createObject(t.Context(), o, name, namespace)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("expected the object to be accepted, got: %v", err)
				}
				return
			}
			expectInvalid(t, err, tc.wantErr...)
		})
	}
}

var nameSeq atomic.Int64

// uniqueName returns an object name no other test in this process uses:
// the top-level test's name (which makes server errors easy to trace back)
// and a sequence number. Cluster-scoped objects need it most.
func uniqueName(t *testing.T) string {
	top, _, _ := strings.Cut(t.Name(), "/")
	top = strings.ToLower(strings.TrimPrefix(top, "Test"))
	if len(top) > 40 {
		top = top[:40]
	}
	return fmt.Sprintf("%s-%d", top, nameSeq.Add(1))
}
