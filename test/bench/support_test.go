package main

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{7}, 7},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{100, 5, 6}, 6},
	} {
		in := slices.Clone(c.in)
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
		if !slices.Equal(in, c.in) {
			t.Errorf("median reordered its input: %v, was %v", c.in, in)
		}
	}
}

func TestMedianRunIsTheMiddleRunWithAllFigures(t *testing.T) {
	type run struct {
		name string
		rate float64
	}
	got, figs := medianRun([]run{{"a", 140}, {"b", 97}, {"c", 110}}, func(r run) float64 { return r.rate })
	if got.name != "c" || !slices.Equal(figs, []float64{140, 97, 110}) {
		t.Errorf("medianRun = %v %v, want run c and the figures in run order", got, figs)
	}
	got, _ = medianRun([]run{{"only", 5}}, func(r run) float64 { return r.rate })
	if got.name != "only" {
		t.Errorf("medianRun of one run = %v", got)
	}
}

func TestRequestKind(t *testing.T) {
	for path, want := range map[string]string{
		"/api/v1/namespaces/bench/serviceaccounts/worker":                                   "GET serviceaccounts",
		"/apis/rbac.authorization.k8s.io/v1/namespaces/bench/rolebindings":                  "GET rolebindings",
		"/apis/access.rolegate.dev/v1alpha1/namespaces/bench/accessrequests/a-00001/status": "GET accessrequests/status",
		"/apis/events.k8s.io/v1/namespaces/bench/events":                                    "GET events",
		"/api/v1/namespaces/bench":                                                          "GET namespaces",
		"/apis/access.rolegate.dev/v1alpha1/approvalpolicies":                               "GET approvalpolicies",
		"/api": "GET /api",
	} {
		req := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: path}}
		if got := requestKind(req); got != want {
			t.Errorf("requestKind(%s) = %q, want %q", path, got, want)
		}
	}
	w := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/apis/rbac.authorization.k8s.io/v1/rolebindings", RawQuery: "watch=true"}}
	if got := requestKind(w); got != "WATCH rolebindings" {
		t.Errorf("requestKind(watch) = %q", got)
	}
}

func TestGrantedStatusIsTheTemplateForAnotherGrant(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
	exp := metav1.NewTime(t0.Add(4 * time.Hour))
	tmpl := &accessv1alpha1.AccessRequestStatus{
		Policy: "bench", RoleBinding: "rolegate-auto-00000-f769a", ExpiresAt: &exp, GrantedAt: &metav1.Time{Time: t0},
		ServiceAccountUID: "uid-1",
		Conditions: []metav1.Condition{
			{Type: "Validated", Status: metav1.ConditionTrue, Reason: "Valid", Message: `the request passes ApprovalPolicy "bench"`},
			{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Granted",
				Message: "RoleBinding rolegate-auto-00000-f769a binds ClusterRole/bench-view to ServiceAccount bench/worker until 2026-12-06T10:00:00Z"},
		},
		Approvals: []accessv1alpha1.ApprovalRecord{{Reviewer: "ApprovalPolicy/bench", Decision: accessv1alpha1.DecisionApprove}},
	}
	now := t0.Add(time.Minute)
	st := grantedStatus(tmpl, "rolegate-ceil-00001-abcde", now)
	want := "RoleBinding rolegate-ceil-00001-abcde binds ClusterRole/bench-view to ServiceAccount bench/worker until 2026-12-06T07:01:00Z"
	if st.RoleBinding != "rolegate-ceil-00001-abcde" || st.Conditions[1].Message != want ||
		!st.ExpiresAt.Equal(&metav1.Time{Time: now.Add(time.Hour)}) || !st.GrantedAt.Equal(&metav1.Time{Time: now}) {
		t.Errorf("status = %+v", st)
	}
	if len(st.Conditions) != 2 || st.Policy != "bench" || st.ServiceAccountUID != "uid-1" || len(st.Approvals) != 1 ||
		!st.Approvals[0].Time.Equal(&metav1.Time{Time: now}) || !st.Conditions[0].LastTransitionTime.Equal(&metav1.Time{Time: now}) {
		t.Errorf("status lost the template's content or times: %+v", st)
	}
	if tmpl.RoleBinding != "rolegate-auto-00000-f769a" || tmpl.Approvals[0].Time.Equal(&metav1.Time{Time: now}) {
		t.Errorf("template changed: %+v", tmpl)
	}
}
