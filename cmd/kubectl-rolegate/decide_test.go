package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

func TestDecideCreatesADecision(t *testing.T) {
	for verb, d := range map[string]accessv1alpha1.DecisionType{
		"approve": accessv1alpha1.DecisionApprove, "deny": accessv1alpha1.DecisionDeny, "revoke": accessv1alpha1.DecisionRevoke,
		"acknowledge": accessv1alpha1.DecisionAcknowledge, "ack": accessv1alpha1.DecisionAcknowledge,
	} {
		t.Run(verb, func(t *testing.T) {
			c := cliClient(&user{name: "alice"}, nil)
			out, _, err := runCLI(t, c, verb, "edit-carol", "-m", "looks fine")
			if err != nil {
				t.Fatal(err)
			}
			m := regexp.MustCompile(`^accessdecision\.access\.rolegate\.dev/(edit-carol-\w+) created \(` + string(d) + ` edit-carol\)\n$`).
				FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("output %q", out)
			}
			got := &accessv1alpha1.AccessDecision{}
			if err := c.Get(t.Context(), client.ObjectKey{Namespace: "payments", Name: m[1]}, got); err != nil {
				t.Fatal(err)
			}
			if got.Spec.Request != "edit-carol" || got.Spec.Decision != d || got.Spec.Comment != "looks fine" || got.Spec.Reviewer != nil {
				t.Errorf("spec = %+v", got.Spec)
			}
		})
	}
}

// A refused decision prints the server's message, which names the field and
// the reason, and exits 1.
func TestDecidePrintsTheAdmissionRefusal(t *testing.T) {
	refusal := &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: 403, Reason: metav1.StatusReasonForbidden,
		Message: `admission webhook "vaccessdecision.access.rolegate.dev" denied the request: spec.reviewer: carol opened this request ` +
			`and may not decide it; tier app-owners decides: ask one of User alice (SelfApproval)`,
	}}
	c := cliClient(&user{name: "carol"}, refusal)
	var out, errOut bytes.Buffer
	code := run([]string{"--kubeconfig", kubeconfig(t), "approve", "edit-carol"}, genericiooptions.IOStreams{Out: &out, ErrOut: &errOut},
		rootOptions{now: clock, newClient: func(*rest.Config) (client.Client, error) { return c, nil }})
	want := `error: approve AccessRequest payments/edit-carol refused: admission webhook "vaccessdecision.access.rolegate.dev" denied the request: ` +
		"spec.reviewer: carol opened this request and may not decide it; tier app-owners decides: ask one of User alice (SelfApproval)\n"
	if code != 1 || errOut.String() != want || out.String() != "" {
		t.Errorf("code %d\nstdout %q\nstderr %q\nwant   %q", code, out.String(), errOut.String(), want)
	}
}

func TestDecideNeedsOneRequest(t *testing.T) {
	if _, _, err := runCLI(t, cliClient(dev, nil), "deny"); err == nil || !strings.Contains(err.Error(), "accepts 1 arg(s)") {
		t.Errorf("err = %v", err)
	}
}
