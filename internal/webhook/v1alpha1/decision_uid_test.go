package v1alpha1

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

func decisionFor(request, uid string) *accessv1alpha1.AccessDecision {
	return &accessv1alpha1.AccessDecision{
		TypeMeta:   metav1.TypeMeta{APIVersion: accessv1alpha1.GroupVersion.String(), Kind: "AccessDecision"},
		ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "payments"},
		Spec:       accessv1alpha1.AccessDecisionSpec{Request: request, Decision: accessv1alpha1.DecisionApprove, RequestUID: uid},
	}
}

func TestDecisionStamperRecordsTheRequestUID(t *testing.T) {
	_, dw := handlerFixture(t)
	c, ok := dw.APIReader.(client.Client)
	if !ok {
		t.Fatalf("the fixture's reader is a %T, want a client", dw.APIReader)
	}
	ar := &accessv1alpha1.AccessRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "payments", UID: "uid-of-r"},
		Spec: accessv1alpha1.AccessRequestSpec{ServiceAccount: accessv1alpha1.ServiceAccountReference{Name: "sa"},
			RoleRef:  accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "db-migrator"},
			Duration: metav1.Duration{Duration: time.Hour}},
	}
	if err := c.Create(context.Background(), ar); err != nil {
		t.Fatal(err)
	}
	stamped := func(resp map[string]string) string { return resp["/spec/requestUID"] }
	patches := func(d *accessv1alpha1.AccessDecision) (bool, string, map[string]string) {
		resp := DecisionStamper{dw}.Handle(context.Background(), admissionRequest(t, admissionv1.Create, "carol", d, nil))
		out := map[string]string{}
		for _, p := range resp.Patches {
			b, _ := json.Marshal(p.Value)
			out[p.Path] = strings.Trim(string(b), `"`)
		}
		msg := ""
		if resp.Result != nil {
			msg = resp.Result.Message
		}
		return resp.Allowed, msg, out
	}

	cases := []struct {
		name    string
		d       *accessv1alpha1.AccessDecision
		allowed bool
		uid     string // stamped spec.requestUID, "" for none
		message string
	}{
		{name: "stamps the UID of the decided request", d: decisionFor("r", ""), allowed: true, uid: "uid-of-r"},
		{name: "accepts a client value that is the request's UID", d: decisionFor("r", "uid-of-r"), allowed: true, uid: "uid-of-r"},
		{name: "refuses a client value naming another request object", d: decisionFor("r", "uid-of-an-older-r"),
			message: "spec.requestUID: Forbidden: uid-of-an-older-r is not the UID of AccessRequest r (uid-of-r)"},
		{name: "stamps no UID for a request that does not exist (validation refuses it)", d: decisionFor("missing", ""), allowed: true},
		{name: "stamps no UID for a decision naming no request (the schema refuses it)", d: decisionFor("", ""), allowed: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			allowed, msg, ops := patches(tc.d)
			if allowed != tc.allowed || !strings.Contains(msg, tc.message) {
				t.Fatalf("allowed = %v (%q), want %v containing %q", allowed, msg, tc.allowed, tc.message)
			}
			if got := stamped(ops); got != tc.uid {
				t.Errorf("stamped requestUID = %q, want %q (patches %v)", got, tc.uid, ops)
			}
			if allowed && ops["/spec/reviewer"] == "" {
				t.Errorf("reviewer not stamped: %v", ops)
			}
		})
	}
}

func TestDecisionValidatorRefusesAnotherRequestsUID(t *testing.T) {
	_, dw := handlerFixture(t)
	c := dw.APIReader.(client.Client)
	ar := &accessv1alpha1.AccessRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "payments", UID: "uid-of-r"},
		Spec: accessv1alpha1.AccessRequestSpec{ServiceAccount: accessv1alpha1.ServiceAccountReference{Name: "sa"},
			RoleRef:  accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "db-migrator"},
			Duration: metav1.Duration{Duration: time.Hour}},
	}
	if err := c.Create(context.Background(), ar); err != nil {
		t.Fatal(err)
	}
	d := decisionFor("r", "uid-of-an-older-r")
	u := userInfo(admissionRequest(t, admissionv1.Create, "carol", d, nil).UserInfo)
	d.Spec.Reviewer = &u
	resp := DecisionValidator{dw}.Handle(context.Background(), admissionRequest(t, admissionv1.Create, "carol", d, nil))
	if resp.Allowed || !strings.Contains(resp.Result.Message, "spec.requestUID") || !strings.Contains(resp.Result.Message, "RequestReplaced") {
		t.Fatalf("response = %+v, want refused naming spec.requestUID and RequestReplaced", resp.Result)
	}
}
