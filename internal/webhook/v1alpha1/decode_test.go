package v1alpha1

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

func rawRequest(op admissionv1.Operation, user, raw string) admission.Request {
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: op, Namespace: "payments", Object: runtime.RawExtension{Raw: []byte(raw)},
		OldObject: runtime.RawExtension{Raw: []byte(raw)},
		UserInfo:  authenticationv1.UserInfo{Username: user, Groups: []string{"system:authenticated"}},
	}}
}

// refusedWith asserts a 422 Invalid refusal whose message holds every part
// and whose causes name the fields.
func refusedWith(t *testing.T, resp admission.Response, fields []string, parts ...string) {
	t.Helper()
	if resp.Allowed || resp.Result == nil {
		t.Fatalf("response = %+v, want refused", resp)
	}
	if resp.Result.Code != http.StatusUnprocessableEntity || resp.Result.Reason != metav1.StatusReasonInvalid {
		t.Errorf("code %d reason %s, want 422 Invalid: %s", resp.Result.Code, resp.Result.Reason, resp.Result.Message)
	}
	for _, p := range parts {
		if !strings.Contains(resp.Result.Message, p) {
			t.Errorf("message %q does not contain %q", resp.Result.Message, p)
		}
	}
	var got []string
	if resp.Result.Details != nil {
		for _, c := range resp.Result.Details.Causes {
			got = append(got, c.Field)
		}
	}
	if strings.Join(got, ",") != strings.Join(fields, ",") {
		t.Errorf("causes name fields %v, want %v", got, fields)
	}
}

// clientWith is a reader holding only objs.
func clientWith(t *testing.T, objs ...client.Object) client.Reader {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).Build()
}

const requestHead = `{"apiVersion":"access.rolegate.dev/v1alpha1","kind":"AccessRequest","metadata":{"name":"r","namespace":"payments"},`

func TestAValueOfTheWrongTypeIsRefusedNamingItsFieldAndFormat(t *testing.T) {
	rw, dw := handlerFixture(t)
	cases := []struct {
		name   string
		spec   string
		fields []string
		want   []string
	}{
		{"a number for duration",
			`"spec":{"serviceAccount":{"name":"sa"},"roleRef":{"kind":"Role","name":"db-migrator"},"duration":3}`,
			[]string{"spec.duration"}, []string{"spec.duration: Invalid value: 3: must be a Go duration such as 30m or 8h", "written as a string"}},
		{"days for duration",
			`"spec":{"serviceAccount":{"name":"sa"},"roleRef":{"kind":"Role","name":"db-migrator"},"duration":"3d"}`,
			[]string{"spec.duration"}, []string{`spec.duration: Invalid value: "3d": must be a Go duration such as 30m or 8h`, "write 72h for 3 days"}},
		{"tags as a list",
			`"spec":{"serviceAccount":{"name":"sa"},"roleRef":{"kind":"Role","name":"db-migrator"},"duration":"1h","tags":["owner=me"]}`,
			[]string{"spec.tags"}, []string{`spec.tags: Invalid value: "[\"owner=me\"]": must be a map of key: value pairs`}},
		{"a number as a tag value",
			`"spec":{"serviceAccount":{"name":"sa"},"roleRef":{"kind":"Role","name":"db-migrator"},"duration":"1h","tags":{"ticket":1234}}`,
			[]string{"spec.tags.ticket"}, []string{"spec.tags.ticket: Invalid value: 1234: must be a string; quote it"}},
		{"a startTime that is not a time",
			`"spec":{"serviceAccount":{"name":"sa"},"roleRef":{"kind":"Role","name":"db-migrator"},"duration":"1h","startTime":"tomorrow"}`,
			[]string{"spec.startTime"}, []string{`spec.startTime: Invalid value: "tomorrow": must be an RFC 3339 time`}},
		{"every mistake at once",
			`"spec":{"serviceAccount":"sa","roleRef":{"kind":"Role","name":"db-migrator"},"duration":"1 hour","justification":true}`,
			[]string{"spec.duration", "spec.justification", "spec.serviceAccount"},
			[]string{"spec.duration: Invalid value", "spec.justification: Invalid value: true: must be a string",
				`spec.serviceAccount: Invalid value: "sa": must be an object of fields`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, h := range []admission.Handler{Stamper{rw}, Validator{rw}} {
				refusedWith(t, h.Handle(context.Background(), rawRequest(admissionv1.Create, "alice", requestHead+tc.spec+"}")),
					tc.fields, tc.want...)
			}
		})
	}
	t.Run("a decision", func(t *testing.T) {
		raw := `{"apiVersion":"access.rolegate.dev/v1alpha1","kind":"AccessDecision","metadata":{"name":"d","namespace":"payments"},` +
			`"spec":{"request":"r","decision":["Approve"]}}`
		for _, h := range []admission.Handler{DecisionStamper{dw}, DecisionValidator{dw}} {
			refusedWith(t, h.Handle(context.Background(), rawRequest(admissionv1.Create, "carol", raw)),
				[]string{"spec.decision"}, `spec.decision: Invalid value: "[\"Approve\"]": must be a string`)
		}
	})
}

func TestValidatorRefusesAServiceAccountNameThatCannotExist(t *testing.T) {
	rw, _ := handlerFixture(t)
	r := request()
	r.Spec.ServiceAccount.Name = "Evil_SA:x"
	r.Spec.Requester = &accessv1alpha1.Requester{UserInfo: accessv1alpha1.UserInfo{Username: "alice", Groups: []string{"system:authenticated"}}}
	resp := Validator{rw}.Handle(context.Background(), admissionRequest(t, admissionv1.Create, "alice", r, nil))
	refusedWith(t, resp, []string{"spec.serviceAccount.name"},
		`spec.serviceAccount.name: Invalid value: "Evil_SA:x" is not a valid ServiceAccount name: a lowercase RFC 1123 subdomain`)
}

func TestValidatorWarnsAboutAServiceAccountThatDoesNotExistYet(t *testing.T) {
	rw, _ := handlerFixture(t)
	rw.APIReader = rw.Reader
	r := request()
	r.Spec.Requester = &accessv1alpha1.Requester{UserInfo: accessv1alpha1.UserInfo{Username: "alice", Groups: []string{"system:authenticated"}}}
	resp := Validator{rw}.Handle(context.Background(), admissionRequest(t, admissionv1.Create, "alice", r, nil))
	if !resp.Allowed || len(resp.Warnings) != 1 ||
		!strings.Contains(resp.Warnings[0], "spec.serviceAccount: ServiceAccount payments/sa does not exist yet; the request is admitted") {
		t.Fatalf("response = %+v, want admitted with a warning about payments/sa", resp.AdmissionResponse)
	}

	// Once it exists, nothing to warn about.
	rw.APIReader = clientWith(t, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "sa", Namespace: "payments"}})
	resp = Validator{rw}.Handle(context.Background(), admissionRequest(t, admissionv1.Create, "alice", r, nil))
	if !resp.Allowed || len(resp.Warnings) != 0 {
		t.Fatalf("response = %+v, want admitted without warnings", resp.AdmissionResponse)
	}
}

func TestPolicyValidatorWarnsAboutOverlapsAndNeverRefuses(t *testing.T) {
	rw, _ := handlerFixture(t)
	// The fixture's policy "payments" offers Role/db-migrator, auto-approved,
	// in every namespace; this one offers it with approval in the same.
	strict := &accessv1alpha1.ApprovalPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: accessv1alpha1.GroupVersion.String(), Kind: "ApprovalPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: "strict"},
		Spec: accessv1alpha1.ApprovalPolicySpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "payments"}},
			Entitlements: []accessv1alpha1.Entitlement{{RoleRef: accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "db-migrator"},
				MaxDuration: metav1.Duration{Duration: 30 * time.Minute}}},
			Approvers: []accessv1alpha1.ApproverTier{{Name: "owners", RequiredApprovals: 1,
				Subjects: []accessv1alpha1.Subject{{Kind: accessv1alpha1.SubjectUser, Name: "bob"}}}},
		},
	}
	v := PolicyValidator{Reader: rw.Reader, Decoder: rw.Decoder}
	for _, op := range []admissionv1.Operation{admissionv1.Create, admissionv1.Update} {
		resp := v.Handle(context.Background(), admissionRequest(t, op, "admin", strict, nil))
		want := `spec.entitlements: ApprovalPolicy "payments" also offers Role/db-migrator in namespace(s) payments; ` +
			`a request for it there matches both policies and must name one in spec.policy; "payments" is weaker: it grants ` +
			`without approval (autoApprove) where "strict" requires approval, allows maxDuration 1h0m0s where "strict" allows 30m0s`
		if !resp.Allowed || len(resp.Warnings) != 1 || !strings.HasPrefix(resp.Warnings[0], want) {
			t.Fatalf("%s: response = %+v\nwant a warning starting %q", op, resp.AdmissionResponse, want)
		}
	}
	// A policy for other namespaces overlaps nothing.
	strict.Spec.NamespaceSelector.MatchLabels["team"] = "web"
	if resp := v.Handle(context.Background(), admissionRequest(t, admissionv1.Create, "admin", strict, nil)); !resp.Allowed || len(resp.Warnings) != 0 {
		t.Fatalf("response = %+v, want admitted without warnings", resp.AdmissionResponse)
	}
	// Even an object it cannot read is admitted: the webhook only advises.
	if resp := v.Handle(context.Background(), rawRequest(admissionv1.Create, "admin", `{"spec":7}`)); !resp.Allowed {
		t.Fatalf("response = %+v, want admitted", resp.AdmissionResponse)
	}
}

// countingReader counts the policy lists a handler makes.
type countingReader struct {
	client.Reader
	policyLists int
}

func (c *countingReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if _, ok := list.(*accessv1alpha1.ApprovalPolicyList); ok {
		c.policyLists++
	}
	return c.Reader.List(ctx, list, opts...)
}

func TestEachCreateWebhookReadsTheClusterOnce(t *testing.T) {
	rw, _ := handlerFixture(t)
	counter := &countingReader{Reader: rw.Reader}
	rw.Reader = counter
	r := request()
	Stamper{rw}.Handle(context.Background(), admissionRequest(t, admissionv1.Create, "alice", r, nil))
	if counter.policyLists != 1 {
		t.Errorf("the stamper listed the policies %d times, want once", counter.policyLists)
	}
	counter.policyLists = 0
	r.Spec.Requester = &accessv1alpha1.Requester{UserInfo: accessv1alpha1.UserInfo{Username: "alice", Groups: []string{"system:authenticated"}}}
	if resp := (Validator{rw}).Handle(context.Background(), admissionRequest(t, admissionv1.Create, "alice", r, nil)); !resp.Allowed {
		t.Fatalf("response = %+v, want admitted", resp.Result)
	}
	if counter.policyLists != 1 {
		t.Errorf("the validator listed the policies %d times, want once", counter.policyLists)
	}
}
