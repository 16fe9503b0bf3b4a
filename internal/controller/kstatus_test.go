package controller

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// kstatusOf computes what Flux and kstatus-based tools report for a request.
func kstatusOf(t *testing.T, ar *accessv1alpha1.AccessRequest) status.Status {
	t.Helper()
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ar)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: obj}
	u.SetAPIVersion(accessv1alpha1.GroupVersion.String())
	u.SetKind("AccessRequest")
	res, err := status.Compute(u)
	if err != nil {
		t.Fatal(err)
	}
	return res.Status
}

func TestKstatusFollowsTheLifecycle(t *testing.T) {
	decide := func(d accessv1alpha1.DecisionType) func(*harness) {
		return func(h *harness) {
			dec := &accessv1alpha1.AccessDecision{
				ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "payments", CreationTimestamp: metav1.NewTime(t0.Add(30 * time.Second))},
				Spec: accessv1alpha1.AccessDecisionSpec{Request: "migrate-req", Decision: d,
					Reviewer: &accessv1alpha1.UserInfo{Username: "carol", Groups: []string{"security-oncall"}}},
			}
			if err := h.c.Create(context.Background(), dec); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		name    string
		request string
		setup   func(*harness)
		at      time.Duration
		ready   string
		want    status.Status
	}{
		{"a pending request is in progress", "migrate-req", nil, time.Minute, accessv1alpha1.ReasonPendingApproval, status.InProgressStatus},
		{"a granted request is current", "view-req", nil, time.Minute, accessv1alpha1.ReasonGranted, status.CurrentStatus},
		{"an expired request is current", "view-req", nil, 3 * time.Hour, accessv1alpha1.ReasonExpired, status.CurrentStatus},
		{"a denied request has failed", "migrate-req", decide(accessv1alpha1.DecisionDeny), time.Minute,
			accessv1alpha1.ReasonDenied, status.FailedStatus},
		{"an invalid request has failed", "bad-req", func(h *harness) {
			if err := h.c.Create(context.Background(), fakeRequest("bad-req", accessv1alpha1.RoleKindClusterRole, "cluster-admin")); err != nil {
				t.Fatal(err)
			}
		}, time.Minute, accessv1alpha1.ReasonInvalid, status.FailedStatus},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, interceptor.Funcs{})
			if tc.setup != nil {
				tc.setup(h)
			}
			if tc.at > time.Hour {
				// Grant first, then let the time pass.
				if _, err := h.reconcile(t, tc.request); err != nil {
					t.Fatal(err)
				}
			}
			h.clock.SetTime(t0.Add(tc.at))
			if _, err := h.reconcile(t, tc.request); err != nil {
				t.Fatal(err)
			}
			ar := h.request(t, tc.request)
			if readyReason(ar) != tc.ready {
				t.Fatalf("ready = %s, want %s", readyReason(ar), tc.ready)
			}
			if got := kstatusOf(t, ar); got != tc.want {
				t.Errorf("kstatus = %s, want %s (conditions %+v)", got, tc.want, ar.Status.Conditions)
			}
			// Until the controller has seen the latest generation, it is in
			// progress. (The fake client leaves generation at zero.)
			ar.Generation, ar.Status.ObservedGeneration = 1, 1
			if got := kstatusOf(t, ar); got != tc.want {
				t.Errorf("kstatus at generation 1 = %s, want %s", got, tc.want)
			}
			ar.Generation++
			if got := kstatusOf(t, ar); got != status.InProgressStatus {
				t.Errorf("kstatus with a newer generation = %s, want InProgress", got)
			}
		})
	}
}
