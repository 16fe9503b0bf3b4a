package v1alpha1

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/snapshot"
)

func handlerFixture(t testing.TB) (*RequestWebhook, *DecisionWebhook) {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := accessv1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "payments", Labels: map[string]string{"team": "payments"}}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "db-migrator", Namespace: "payments"}},
		&accessv1alpha1.ApprovalPolicy{ObjectMeta: metav1.ObjectMeta{Name: "payments"}, Spec: accessv1alpha1.ApprovalPolicySpec{
			NamespaceSelector:    &metav1.LabelSelector{},
			RequireJustification: new(bool),
			Entitlements: []accessv1alpha1.Entitlement{{RoleRef: accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "db-migrator"},
				MaxDuration: metav1.Duration{Duration: time.Hour}, AutoApprove: true}},
		}},
	).WithIndex(&accessv1alpha1.AccessDecision{}, snapshot.DecisionRequestIndex, snapshot.DecisionRequest).Build()
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC))
	dec := admission.NewDecoder(s)
	return &RequestWebhook{Reader: c, Decoder: dec, Clock: clk}, &DecisionWebhook{Reader: c, APIReader: c, Decoder: dec, Clock: clk}
}

func admissionRequest(t *testing.T, op admissionv1.Operation, user string, obj, old client.Object) admission.Request {
	t.Helper()
	raw := func(o client.Object) runtime.RawExtension {
		if o == nil {
			return runtime.RawExtension{}
		}
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		return runtime.RawExtension{Raw: b}
	}
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: op, Namespace: "payments", Object: raw(obj), OldObject: raw(old),
		UserInfo: authenticationv1.UserInfo{Username: user, Groups: []string{"system:authenticated"}},
	}}
}

func request() *accessv1alpha1.AccessRequest {
	return &accessv1alpha1.AccessRequest{
		TypeMeta:   metav1.TypeMeta{APIVersion: accessv1alpha1.GroupVersion.String(), Kind: "AccessRequest"},
		ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "payments"},
		Spec: accessv1alpha1.AccessRequestSpec{
			ServiceAccount: accessv1alpha1.ServiceAccountReference{Name: "sa"},
			RoleRef:        accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "db-migrator"},
			Duration:       metav1.Duration{Duration: time.Hour},
		},
	}
}

func TestStamperWritesTheRequesterAsAPatch(t *testing.T) {
	rw, _ := handlerFixture(t)
	resp := Stamper{rw}.Handle(context.Background(), admissionRequest(t, admissionv1.Create, "alice", request(), nil))
	if !resp.Allowed || len(resp.Patches) == 0 {
		t.Fatalf("response = %+v, want allowed with a patch", resp.Result)
	}
	b, _ := json.Marshal(resp.Patches)
	if !strings.Contains(string(b), `"username":"alice"`) {
		t.Errorf("patch %s does not write requester alice", b)
	}
	if !strings.Contains(string(b), `{"op":"add","path":"/metadata/finalizers","value":["access.rolegate.dev/revoke"]}`) {
		t.Errorf("patch %s does not add the revoke finalizer", b)
	}
}

func TestStamperAppendsTheFinalizerToOthersOnce(t *testing.T) {
	rw, _ := handlerFixture(t)
	for _, tc := range []struct {
		finalizers []string
		want       string
	}{
		{[]string{"example.com/keep"}, `{"op":"add","path":"/metadata/finalizers/-","value":"access.rolegate.dev/revoke"}`},
		{[]string{accessv1alpha1.RevokeFinalizer}, ""},
	} {
		r := request()
		r.Finalizers = tc.finalizers
		resp := Stamper{rw}.Handle(context.Background(), admissionRequest(t, admissionv1.Create, "alice", r, nil))
		b, _ := json.Marshal(resp.Patches)
		if tc.want == "" && strings.Contains(string(b), "finalizers") {
			t.Errorf("finalizers %v: patch %s touches the finalizers", tc.finalizers, b)
		}
		if tc.want != "" && !strings.Contains(string(b), tc.want) {
			t.Errorf("finalizers %v: patch %s lacks %s", tc.finalizers, b, tc.want)
		}
	}
}

func TestValidatorRefusesARequesterChangedAfterStamping(t *testing.T) {
	rw, _ := handlerFixture(t)
	r := request()
	// A later mutating webhook (or a bug) rewrote the stamped requester.
	r.Spec.Requester = &accessv1alpha1.Requester{UserInfo: accessv1alpha1.UserInfo{Username: "bob", Groups: []string{"system:authenticated"}}}
	resp := Validator{rw}.Handle(context.Background(), admissionRequest(t, admissionv1.Create, "alice", r, nil))
	if resp.Allowed || !strings.Contains(resp.Result.Message, "spec.requester: Forbidden: does not match the authenticated user") {
		t.Fatalf("response = %+v, want refused", resp.Result)
	}
	r.Spec.Requester.Username = "alice"
	if resp := (Validator{rw}).Handle(context.Background(), admissionRequest(t, admissionv1.Create, "alice", r, nil)); !resp.Allowed {
		t.Fatalf("a correctly stamped request was refused: %+v", resp.Result)
	}
}

func TestValidatorRefusesSpecChangesButNotMetadataChanges(t *testing.T) {
	rw, dw := handlerFixture(t)
	old := request()
	changed := request()
	changed.Spec.Duration = metav1.Duration{Duration: time.Minute}
	resp := Validator{rw}.Handle(context.Background(), admissionRequest(t, admissionv1.Update, "admin", changed, old))
	if resp.Allowed || !strings.Contains(resp.Result.Message, "spec: Forbidden: is immutable") {
		t.Fatalf("spec change: %+v, want refused", resp.Result)
	}
	labelled := request()
	labelled.Labels = map[string]string{"a": "b"}
	if resp := (Validator{rw}).Handle(context.Background(), admissionRequest(t, admissionv1.Update, "admin", labelled, old)); !resp.Allowed {
		t.Fatalf("metadata change refused: %+v", resp.Result)
	}

	d := &accessv1alpha1.AccessDecision{
		TypeMeta:   metav1.TypeMeta{APIVersion: accessv1alpha1.GroupVersion.String(), Kind: "AccessDecision"},
		ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "payments"},
		Spec:       accessv1alpha1.AccessDecisionSpec{Request: "r", Decision: accessv1alpha1.DecisionApprove},
	}
	flipped := d.DeepCopy()
	flipped.Spec.Decision = accessv1alpha1.DecisionDeny
	resp = DecisionValidator{dw}.Handle(context.Background(), admissionRequest(t, admissionv1.Update, "admin", flipped, d))
	if resp.Allowed || !strings.Contains(resp.Result.Message, "spec: Forbidden: is immutable") {
		t.Fatalf("decision change: %+v, want refused", resp.Result)
	}
}

func TestDecisionStamperRefusesAClientReviewer(t *testing.T) {
	_, dw := handlerFixture(t)
	d := &accessv1alpha1.AccessDecision{
		TypeMeta:   metav1.TypeMeta{APIVersion: accessv1alpha1.GroupVersion.String(), Kind: "AccessDecision"},
		ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "payments"},
		Spec: accessv1alpha1.AccessDecisionSpec{Request: "r", Decision: accessv1alpha1.DecisionApprove,
			Reviewer: &accessv1alpha1.UserInfo{Username: "carol"}},
	}
	resp := DecisionStamper{dw}.Handle(context.Background(), admissionRequest(t, admissionv1.Create, "mallory", d, nil))
	if resp.Allowed || !strings.Contains(resp.Result.Message, "spec.reviewer: Forbidden: is written by rolegate") {
		t.Fatalf("response = %+v, want refused", resp.Result)
	}
}

// FuzzAdmission sends arbitrary objects through every webhook: none may
// panic, and a stamped requester or reviewer is always the authenticated user.
func FuzzAdmission(f *testing.F) {
	seed, _ := json.Marshal(request())
	f.Add(seed, "alice", false)
	f.Add([]byte(`{"apiVersion":"access.rolegate.dev/v1alpha1","kind":"AccessRequest","metadata":{"name":"x","annotations":{"access.rolegate.dev/requested-by":"bob"}},"spec":{"requester":{"username":"bob"}}}`), "mallory", false)
	f.Add([]byte(`{"apiVersion":"access.rolegate.dev/v1alpha1","kind":"AccessDecision","metadata":{"name":"d"},"spec":{"request":"r","decision":"Approve"}}`), "carol", true)
	f.Add([]byte(`{"spec":null}`), "", true)
	f.Add([]byte(`not json`), "x", false)
	// Values of the wrong type reach the mutating webhook before the CRD schema.
	f.Add([]byte(`{"kind":"AccessRequest","spec":{"duration":3,"tags":["a"],"startTime":"x","serviceAccount":"s","requester":{"groups":"g"}}}`), "alice", false)
	f.Add([]byte(`{"kind":"AccessRequest","spec":{"justification":"a\u202eb","tags":{"k\u2066":"v\n"},"serviceAccount":{"name":"Evil_SA:x"}}}`), "alice", false)
	f.Add([]byte(`{"kind":"AccessDecision","spec":{"decision":["Approve"],"reviewer":[]}}`), "carol", true)
	// Admission only reads, so one fixture serves every input; building it per
	// input held the fuzzer to a few dozen executions a second.
	rw, dw := handlerFixture(f)
	f.Fuzz(func(t *testing.T, raw []byte, user string, decision bool) {
		if !utf8.ValidString(user) {
			t.Skip("the API server authenticates UTF-8 usernames only")
		}
		req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
			Operation: admissionv1.Create, Namespace: "payments",
			Object: runtime.RawExtension{Raw: raw}, OldObject: runtime.RawExtension{Raw: raw},
			UserInfo: authenticationv1.UserInfo{Username: user},
		}}
		handlers := []admission.Handler{Stamper{rw}, Validator{rw}}
		if decision {
			handlers = []admission.Handler{DecisionStamper{dw}, DecisionValidator{dw}}
		}
		for _, h := range handlers {
			for _, op := range []admissionv1.Operation{admissionv1.Create, admissionv1.Update} {
				req.Operation = op
				resp := h.Handle(context.Background(), req)
				for _, p := range resp.Patches {
					if p.Path != "/spec/requester" && p.Path != "/spec/reviewer" {
						continue
					}
					b, _ := json.Marshal(p.Value)
					var id struct{ Username string }
					if err := json.Unmarshal(b, &id); err != nil || (id.Username != user && !strings.Contains(string(b), `"via":"`+user+`"`)) {
						t.Fatalf("%T stamped %s for user %q", h, b, user)
					}
				}
			}
		}
	})
}
