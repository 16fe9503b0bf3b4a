package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

var carol = &user{name: "carol", groups: []string{"payments-devs"}}

// requestArgs ask for one hour of edit for payments-api as wait-me, valid
// under the fixture's policy.
var requestArgs = []string{"request", "payments-api", "--role", "ClusterRole/edit", "--for", "1h", "--reason", "CHG-1",
	"--tag", "ticket=CHG-1", "--tag", "type=temporary", "--name", "wait-me"}

// settleOnWatch returns an onWatch hook that, once the CLI watches, sets the
// named request's Ready condition as the controller would, and the client.
func settleOnWatch(t *testing.T, name string, status metav1.ConditionStatus, reason, message string) client.WithWatch {
	t.Helper()
	var c client.WithWatch
	done := make(chan struct{})
	c = watchedClient(carol, nil, func() {
		go func() {
			defer close(done)
			ar := &accessv1alpha1.AccessRequest{}
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: "payments", Name: name}, ar); err != nil {
				t.Errorf("get %s: %v", name, err)
				return
			}
			ar.Status.Conditions = []metav1.Condition{{Type: accessv1alpha1.ConditionReady, Status: status,
				Reason: reason, Message: message, LastTransitionTime: metav1.NewTime(now)}}
			if err := c.Update(context.Background(), ar); err != nil {
				t.Errorf("update %s: %v", name, err)
			}
		}()
	})
	t.Cleanup(func() { <-done })
	return c
}

// runCode runs the command line as main does, in namespace payments, and
// returns its exit code, stdout and stderr.
func runCode(t *testing.T, c client.Client, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(append([]string{"--kubeconfig", kubeconfig(t), "-n", "payments"}, args...),
		genericiooptions.IOStreams{Out: &out, ErrOut: &errOut},
		rootOptions{now: clock, newClient: func(*rest.Config) (client.Client, error) { return c, nil }})
	return code, out.String(), errOut.String()
}

func TestRequestWaitReturnsOnGrant(t *testing.T) {
	c := settleOnWatch(t, "wait-me", metav1.ConditionTrue, accessv1alpha1.ReasonGranted, "granted until 13:00")
	code, out, errOut := runCode(t, c, append(requestArgs, "--wait")...)
	if code != exitOK {
		t.Fatalf("exit code %d, want %d; stderr:\n%s", code, exitOK, errOut)
	}
	if !strings.Contains(out, "accessrequest.access.rolegate.dev/wait-me created\n") ||
		!strings.HasSuffix(out, "accessrequest.access.rolegate.dev/wait-me Granted: granted until 13:00\n") {
		t.Errorf("stdout:\n%s", out)
	}
}

func TestRequestWaitReturnsOnDeny(t *testing.T) {
	c := settleOnWatch(t, "wait-me", metav1.ConditionFalse, accessv1alpha1.ReasonDenied, "denied by bob: not today")
	code, out, errOut := runCode(t, c, append(requestArgs, "--wait=1h")...)
	if code != exitError || !strings.Contains(errOut,
		"error: the request ended without access: AccessRequest payments/wait-me is Denied: denied by bob: not today\n") {
		t.Errorf("exit code %d (want %d), stderr %q", code, exitError, errOut)
	}
	if !strings.HasSuffix(out, "wait-me Denied: denied by bob: not today\n") {
		t.Errorf("stdout:\n%s", out)
	}
}

func TestRequestWaitTimesOut(t *testing.T) {
	c := cliClient(carol, nil)
	code, _, errOut := runCode(t, c, append(requestArgs, "--wait=50ms")...)
	if code != exitTimedOut || !strings.Contains(errOut, "error: timed out after 50ms waiting for AccessRequest payments/wait-me; "+
		"the controller has not reported on it yet") {
		t.Errorf("exit code %d (want %d), stderr %q", code, exitTimedOut, errOut)
	}
	// The request stays: the wait gave up, not the request.
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "payments", Name: "wait-me"}, &accessv1alpha1.AccessRequest{}); err != nil {
		t.Errorf("the request is gone after the timeout: %v", err)
	}
}

func TestRequestWaitFlagErrors(t *testing.T) {
	code, _, errOut := runCode(t, cliClient(carol, nil), append(requestArgs, "--wait=-1m")...)
	if code != exitUsage || !strings.Contains(errOut, "--wait takes a positive duration") {
		t.Errorf("negative: exit code %d (want %d), stderr %q", code, exitUsage, errOut)
	}
	code, _, errOut = runCode(t, cliClient(carol, nil), append(requestArgs, "--wait", "--dry-run")...)
	if code != exitUsage || !strings.Contains(errOut, "--wait cannot be combined with --dry-run") {
		t.Errorf("dry run: exit code %d (want %d), stderr %q", code, exitUsage, errOut)
	}
}

func TestStatusWatchPrintsTransitionsUntilTheEnd(t *testing.T) {
	c := settleOnWatch(t, "edit-carol", metav1.ConditionFalse, accessv1alpha1.ReasonDenied, "denied by alice")
	out, errOut, err := runCLI(t, c, "status", "edit-carol", "-w")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	want := "NAME                 STATUS            POLICY       SERVICEACCOUNT   ROLE                 REQUESTER    EXPIRES    AGE\n" +
		"edit-carol           PendingApproval   payments     payments-api     ClusterRole/edit     carol        -          10m\n" +
		"edit-carol           Denied            payments     payments-api     ClusterRole/edit     carol                   10m\n"
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
}

func TestStatusWatchOfAMissingRequest(t *testing.T) {
	_, _, err := runCLI(t, cliClient(carol, nil), "get", "nope", "--watch")
	if err == nil || !strings.Contains(err.Error(), `"nope" not found`) {
		t.Errorf("err = %v", err)
	}
}
