package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

const month = 720 * time.Hour

type opt func(*accessv1alpha1.AccessRequest)

// req builds a request in namespace payments created age ago under policy.
func req(name, policy string, age time.Duration, opts ...opt) accessv1alpha1.AccessRequest {
	r := accessv1alpha1.AccessRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "payments", CreationTimestamp: metav1.NewTime(now.Add(-age))},
		Status:     accessv1alpha1.AccessRequestStatus{Policy: policy},
	}
	for _, o := range opts {
		o(&r)
	}
	return r
}

func cond(t string, s metav1.ConditionStatus, reason string) opt {
	return func(r *accessv1alpha1.AccessRequest) {
		meta.SetStatusCondition(&r.Status.Conditions, metav1.Condition{Type: t, Status: s, Reason: reason})
	}
}

func all(opts ...opt) opt {
	return func(r *accessv1alpha1.AccessRequest) {
		for _, o := range opts {
			o(r)
		}
	}
}

var (
	firstTier = cond(accessv1alpha1.ConditionEscalated, metav1.ConditionFalse, accessv1alpha1.ReasonFirstTier)
	escalated = cond(accessv1alpha1.ConditionEscalated, metav1.ConditionTrue, accessv1alpha1.ReasonEscalated)
	pending   = all(firstTier,
		cond(accessv1alpha1.ConditionApproved, metav1.ConditionUnknown, accessv1alpha1.ReasonPendingApproval),
		cond(accessv1alpha1.ConditionReady, metav1.ConditionFalse, accessv1alpha1.ReasonPendingApproval))
	denied = all(firstTier,
		cond(accessv1alpha1.ConditionApproved, metav1.ConditionFalse, accessv1alpha1.ReasonDenied),
		cond(accessv1alpha1.ConditionReady, metav1.ConditionFalse, accessv1alpha1.ReasonDenied))
	timedOut = all(firstTier,
		cond(accessv1alpha1.ConditionApproved, metav1.ConditionFalse, accessv1alpha1.ReasonTimedOut),
		cond(accessv1alpha1.ConditionReady, metav1.ConditionFalse, accessv1alpha1.ReasonTimedOut))
	invalid = all(
		cond(accessv1alpha1.ConditionValidated, metav1.ConditionFalse, accessv1alpha1.ReasonMissingTag),
		cond(accessv1alpha1.ConditionApproved, metav1.ConditionUnknown, accessv1alpha1.ReasonInvalid),
		cond(accessv1alpha1.ConditionReady, metav1.ConditionFalse, accessv1alpha1.ReasonInvalid))
	granted = func(r *accessv1alpha1.AccessRequest) {
		at := r.CreationTimestamp
		r.Status.GrantedAt = &at
		cond(accessv1alpha1.ConditionReady, metav1.ConditionTrue, accessv1alpha1.ReasonGranted)(r)
	}
	expired = func(r *accessv1alpha1.AccessRequest) {
		granted(r)
		cond(accessv1alpha1.ConditionReady, metav1.ConditionTrue, accessv1alpha1.ReasonExpired)(r)
	}
	autoApproved = all(func(r *accessv1alpha1.AccessRequest) {
		r.Status.Approvals = append(r.Status.Approvals, accessv1alpha1.ApprovalRecord{
			Reviewer: "ApprovalPolicy/" + r.Status.Policy, Decision: accessv1alpha1.DecisionApprove, Time: r.CreationTimestamp})
	}, cond(accessv1alpha1.ConditionApproved, metav1.ConditionTrue, accessv1alpha1.ReasonAutoApproved))
)

// breakGlass makes a break-glass grant of Role/db-migrator to the service
// account ledger-migrator, opened by alice, granted at creation and awaiting
// review by tier app-owners.
var breakGlass = all(func(r *accessv1alpha1.AccessRequest) {
	r.Spec.ServiceAccount = accessv1alpha1.ServiceAccountReference{Name: "ledger-migrator"}
	r.Spec.RoleRef = accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "db-migrator"}
	r.Spec.Requester = &accessv1alpha1.Requester{UserInfo: accessv1alpha1.UserInfo{Username: "alice"}}
	r.Status.Tier = "app-owners"
},
	cond(accessv1alpha1.ConditionApproved, metav1.ConditionTrue, accessv1alpha1.ReasonBreakGlass),
	cond(accessv1alpha1.ConditionBreakGlass, metav1.ConditionTrue, accessv1alpha1.ReasonBreakGlass),
	cond(accessv1alpha1.ConditionReviewed, metav1.ConditionFalse, accessv1alpha1.ReasonReviewPending),
	granted)

// acknowledgedAfter records bob's Acknowledge decision d after creation.
func acknowledgedAfter(d time.Duration) opt {
	return func(r *accessv1alpha1.AccessRequest) {
		r.Status.Approvals = append(r.Status.Approvals, accessv1alpha1.ApprovalRecord{
			Reviewer: "bob", Decision: accessv1alpha1.DecisionAcknowledge, Tier: "app-owners",
			Time: metav1.NewTime(r.CreationTimestamp.Add(d))})
		cond(accessv1alpha1.ConditionReviewed, metav1.ConditionTrue, accessv1alpha1.ReasonAcknowledged)(r)
	}
}

// approvedAfter records counted Approve decisions the given times after creation.
func approvedAfter(ds ...time.Duration) opt {
	return func(r *accessv1alpha1.AccessRequest) {
		for i, d := range ds {
			r.Status.Approvals = append(r.Status.Approvals, accessv1alpha1.ApprovalRecord{
				Reviewer: fmt.Sprintf("reviewer-%d", i), Decision: accessv1alpha1.DecisionApprove, Tier: "app-owners",
				Time: metav1.NewTime(r.CreationTimestamp.Add(d))})
		}
		firstTier(r)
		cond(accessv1alpha1.ConditionApproved, metav1.ConditionTrue, accessv1alpha1.ReasonApproved)(r)
	}
}

// binding builds a managed RoleBinding in payments for the request that
// expires (or expired, when negative) expiresIn from now.
func binding(request string, expiresIn time.Duration) rbacv1.RoleBinding {
	return rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{
		Name: "rolegate-" + request, Namespace: "payments",
		Labels: map[string]string{
			accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue,
			accessv1alpha1.RequestLabel:   request,
		},
		Annotations: map[string]string{accessv1alpha1.ExpiresAtAnnotation: now.Add(expiresIn).Format(time.RFC3339)},
	}}
}

// twentyApprovals are approved 1m, 2m, ... 20m after creation.
func twentyApprovals() []accessv1alpha1.AccessRequest {
	var rs []accessv1alpha1.AccessRequest
	for i := 20; i >= 1; i-- { // out of order on purpose
		rs = append(rs, req(fmt.Sprintf("r%d", i), "payments", time.Hour, approvedAfter(time.Duration(i)*time.Minute)))
	}
	return rs
}

// rowCells renders the named row as column -> cell.
func rowCells(t *testing.T, r Report, policy string) map[string]string {
	t.Helper()
	for _, row := range append(append([]Row{}, r.Policies...), r.Total) {
		if row.Policy == policy {
			m := map[string]string{}
			for i, c := range cells(row) {
				m[Columns[i]] = c
			}
			return m
		}
	}
	t.Fatalf("no row %q in %+v", policy, r.Policies)
	return nil
}

func TestBuild(t *testing.T) {
	tests := []struct {
		name     string
		requests []accessv1alpha1.AccessRequest
		bindings []rbacv1.RoleBinding
		since    time.Duration
		policies []string
		row      string
		want     map[string]string
	}{
		{
			name:     "an auto-approved request counts zero time to approval",
			requests: []accessv1alpha1.AccessRequest{req("view", "payments", time.Hour, autoApproved, granted)},
			row:      "payments",
			want: map[string]string{"REQUESTS": "1", "APPROVED": "1", "APPROVAL-P50": "0s", "APPROVAL-P95": "0s",
				"ACTIVE": "1", "ESC-RATE": "-"},
		},
		{
			name: "a reviewed request waits until its last counted approval",
			requests: []accessv1alpha1.AccessRequest{
				req("migrate", "payments", 2*time.Hour, approvedAfter(10*time.Minute, 45*time.Minute), granted)},
			row:  "payments",
			want: map[string]string{"APPROVED": "1", "APPROVAL-P50": "45m", "APPROVAL-P95": "45m"},
		},
		{
			name:     "p95 of twenty approvals is the nineteenth",
			requests: twentyApprovals(),
			row:      "payments",
			want:     map[string]string{"REQUESTS": "20", "APPROVED": "20", "APPROVAL-P50": "10m", "APPROVAL-P95": "19m"},
		},
		{
			name:     "no approval renders empty percentiles",
			requests: []accessv1alpha1.AccessRequest{req("d", "payments", time.Hour, denied)},
			row:      "payments",
			want:     map[string]string{"APPROVED": "0", "DENIED": "1", "APPROVAL-P50": "-", "APPROVAL-P95": "-"},
		},
		{
			name: "denied, timed out and invalid requests are counted apart",
			requests: []accessv1alpha1.AccessRequest{
				req("d", "payments", time.Hour, denied),
				req("t", "payments", time.Hour, timedOut),
				req("i", "payments", time.Hour, invalid),
				req("p", "payments", time.Hour, pending),
			},
			row: "payments",
			want: map[string]string{"REQUESTS": "4", "APPROVED": "0", "DENIED": "1", "TIMED-OUT": "1", "INVALID": "1",
				"PENDING": "1"},
		},
		{
			name: "the escalation rate is over requests a tier reviewed",
			requests: []accessv1alpha1.AccessRequest{
				req("e", "payments", time.Hour, pending, escalated),
				req("p1", "payments", time.Hour, pending),
				req("p2", "payments", time.Hour, pending),
				req("d", "payments", time.Hour, denied),
				req("auto", "payments", time.Hour, autoApproved, granted),
				req("bad", "payments", time.Hour, invalid),
			},
			row:  "payments",
			want: map[string]string{"REQUESTS": "6", "ESCALATED": "1", "ESC-RATE": "25%"},
		},
		{
			name: "pending now reports the oldest pending age",
			requests: []accessv1alpha1.AccessRequest{
				req("young", "payments", 30*time.Minute, pending),
				req("old", "payments", 3*time.Hour+20*time.Minute, pending),
			},
			row:  "payments",
			want: map[string]string{"PENDING": "2", "OLDEST-PENDING": "3h20m"},
		},
		{
			name:     "an expired binding still present is overdue",
			requests: []accessv1alpha1.AccessRequest{req("late", "payments", 2*time.Hour, autoApproved, granted)},
			bindings: []rbacv1.RoleBinding{binding("late", -time.Minute)},
			row:      "payments",
			want:     map[string]string{"ACTIVE": "1", "OVERDUE": "1"},
		},
		{
			name:     "a binding whose expiry is ahead is not overdue",
			requests: []accessv1alpha1.AccessRequest{req("fine", "payments", time.Hour, autoApproved, granted)},
			bindings: []rbacv1.RoleBinding{binding("fine", time.Minute)},
			row:      "payments",
			want:     map[string]string{"ACTIVE": "1", "OVERDUE": "0"},
		},
		{
			name:     "a binding without a live request is orphaned",
			requests: []accessv1alpha1.AccessRequest{req("other", "payments", time.Hour, autoApproved, granted)},
			bindings: []rbacv1.RoleBinding{binding("gone", -time.Hour)},
			row:      Orphaned,
			want:     map[string]string{"REQUESTS": "0", "OVERDUE": "1"},
		},
		{
			name:     "a binding counts under its request's policy, not the window",
			requests: []accessv1alpha1.AccessRequest{req("ancient", "payments", 2*month, expired)},
			bindings: []rbacv1.RoleBinding{binding("ancient", -month)},
			since:    month,
			row:      "payments",
			want:     map[string]string{"REQUESTS": "0", "OVERDUE": "1"},
		},
		{
			name:     "requests older than --since are left out",
			requests: []accessv1alpha1.AccessRequest{req("old", "payments", month+time.Minute, denied), req("new", "payments", month, denied)},
			since:    month,
			row:      "payments",
			want:     map[string]string{"REQUESTS": "1", "DENIED": "1"},
		},
		{
			name:     "--since 0 keeps every request",
			requests: []accessv1alpha1.AccessRequest{req("old", "payments", 10*month, denied), req("new", "payments", time.Minute, denied)},
			row:      "payments",
			want:     map[string]string{"REQUESTS": "2", "DENIED": "2"},
		},
		{
			name:     "a grant older than --since is still active and a pending one still pending",
			requests: []accessv1alpha1.AccessRequest{req("g", "payments", 2*month, autoApproved, granted), req("p", "payments", 2*month, pending)},
			since:    month,
			row:      "payments",
			want:     map[string]string{"REQUESTS": "0", "APPROVED": "0", "ACTIVE": "1", "PENDING": "1", "OLDEST-PENDING": "60d"},
		},
		{
			name:     "a grant that ended since still counts as approved but not active",
			requests: []accessv1alpha1.AccessRequest{req("x", "payments", 2*time.Hour, approvedAfter(time.Minute), expired)},
			row:      "payments",
			want:     map[string]string{"APPROVED": "1", "ACTIVE": "0", "APPROVAL-P50": "1m"},
		},
		{
			name:     "a request without a policy is reported under (none)",
			requests: []accessv1alpha1.AccessRequest{req("stray", "", time.Hour, invalid)},
			row:      NoPolicy,
			want:     map[string]string{"REQUESTS": "1", "INVALID": "1"},
		},
		{
			name:     "a policy without traffic is listed with empty figures",
			policies: []string{"quiet"},
			row:      "quiet",
			want: map[string]string{"REQUESTS": "0", "ESC-RATE": "-", "APPROVAL-P50": "-", "APPROVAL-P95": "-",
				"OLDEST-PENDING": "-"},
		},
		{
			name: "the total takes percentiles over all requests, not the rows' average",
			requests: []accessv1alpha1.AccessRequest{
				req("a", "alpha", time.Hour, approvedAfter(time.Minute)),
				req("b1", "beta", time.Hour, approvedAfter(10*time.Minute)),
				req("b2", "beta", time.Hour, approvedAfter(20*time.Minute)),
				req("b3", "beta", time.Hour, approvedAfter(30*time.Minute)),
			},
			row:  Total,
			want: map[string]string{"REQUESTS": "4", "APPROVED": "4", "APPROVAL-P50": "10m", "APPROVAL-P95": "30m"},
		},
		{
			name:     "a break-glass grant awaiting review is approved, active, break-glass and unreviewed, with no time to approval",
			requests: []accessv1alpha1.AccessRequest{req("bg", "payments", time.Hour, breakGlass)},
			row:      "payments",
			want: map[string]string{"REQUESTS": "1", "APPROVED": "1", "ACTIVE": "1", "BREAK-GLASS": "1", "UNREVIEWED": "1",
				"APPROVAL-P50": "-", "ESC-RATE": "-"},
		},
		{
			name:     "an acknowledged break-glass grant is not unreviewed, and its Acknowledge is no approval",
			requests: []accessv1alpha1.AccessRequest{req("bg", "payments", time.Hour, breakGlass, acknowledgedAfter(20*time.Minute))},
			row:      "payments",
			want:     map[string]string{"APPROVED": "1", "BREAK-GLASS": "1", "UNREVIEWED": "0", "APPROVAL-P50": "-"},
		},
		{
			name:     "a request that is not break-glass counts in neither column",
			requests: []accessv1alpha1.AccessRequest{req("view", "payments", time.Hour, autoApproved, granted)},
			row:      "payments",
			want:     map[string]string{"APPROVED": "1", "BREAK-GLASS": "0", "UNREVIEWED": "0"},
		},
		{
			name:     "a break-glass grant older than --since is left out of BREAK-GLASS but is still unreviewed",
			requests: []accessv1alpha1.AccessRequest{req("bg", "payments", 2*month, breakGlass, expired)},
			since:    month,
			row:      "payments",
			want:     map[string]string{"REQUESTS": "0", "BREAK-GLASS": "0", "UNREVIEWED": "1", "ACTIVE": "0"},
		},
		{
			name: "the total sums break-glass grants and those awaiting review",
			requests: []accessv1alpha1.AccessRequest{
				req("a", "alpha", time.Hour, breakGlass),
				req("b1", "beta", time.Hour, breakGlass),
				req("b2", "beta", time.Hour, breakGlass, acknowledgedAfter(time.Minute)),
			},
			row:  Total,
			want: map[string]string{"BREAK-GLASS": "3", "UNREVIEWED": "2"},
		},
		{
			name: "the total sums counts and keeps the oldest pending age",
			requests: []accessv1alpha1.AccessRequest{
				req("a", "alpha", 2*time.Hour, pending, escalated),
				req("b", "beta", 5*time.Hour, pending),
				req("c", "", time.Hour, invalid),
			},
			bindings: []rbacv1.RoleBinding{binding("gone", -time.Hour)},
			row:      Total,
			want: map[string]string{"REQUESTS": "3", "PENDING": "2", "INVALID": "1", "ESC-RATE": "50%",
				"OVERDUE": "1", "OLDEST-PENDING": "5h"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rowCells(t, Build(tt.requests, tt.bindings, now, tt.since, tt.policies...), tt.row)
			for col, want := range tt.want {
				if got[col] != want {
					t.Errorf("%s = %q, want %q (row %v)", col, got[col], want, got)
				}
			}
		})
	}
}

func TestBuildOrdersPoliciesThenNoneThenOrphaned(t *testing.T) {
	r := Build([]accessv1alpha1.AccessRequest{
		req("z", "zeta", time.Hour, pending), req("n", "", time.Hour, invalid), req("a", "alpha", time.Hour, pending),
	}, []rbacv1.RoleBinding{binding("gone", -time.Hour)}, now, month, "mu")
	var names []string
	for _, row := range r.Policies {
		names = append(names, row.Policy)
	}
	if got, want := strings.Join(names, ","), "alpha,mu,zeta,(none),(orphaned)"; got != want {
		t.Errorf("rows = %s, want %s", got, want)
	}
	if r.Total.Policy != Total || r.SinceSeconds != int64(month/time.Second) || !r.GeneratedAt.Equal(now) {
		t.Errorf("total/since/generatedAt = %q/%d/%s", r.Total.Policy, r.SinceSeconds, r.GeneratedAt)
	}
}

func TestBuildListsUnreviewedBreakGlass(t *testing.T) {
	elsewhere := func(r *accessv1alpha1.AccessRequest) {
		r.Namespace = "ledger"
		r.Spec.ServiceAccount.Namespace = "shared"
	}
	notYetGranted := func(r *accessv1alpha1.AccessRequest) { r.Status.GrantedAt = nil }
	noRequester := func(r *accessv1alpha1.AccessRequest) { r.Spec.Requester = nil }
	rep := Build([]accessv1alpha1.AccessRequest{
		req("recent", "payments", 10*time.Minute, breakGlass),
		req("acked", "payments", 5*time.Hour, breakGlass, acknowledgedAfter(time.Hour)),
		req("waiting", "ledger", 3*time.Hour+5*time.Minute, breakGlass, elsewhere, noRequester),
		req("ancient", "payments", 2*month, breakGlass, expired),
		req("stuck", "payments", 20*time.Hour, breakGlass, notYetGranted),
		req("plain", "payments", time.Hour, autoApproved, granted),
	}, nil, now, month)

	var got []string
	for _, bg := range rep.UnreviewedBreakGlassRequests {
		got = append(got, bg.Namespace+"/"+bg.Name)
	}
	if want := "payments/ancient,ledger/waiting,payments/recent,payments/stuck"; strings.Join(got, ",") != want {
		t.Errorf("listed %v, want %s (longest since grant first, never granted last; acknowledged and ordinary grants left out)", got, want)
	}
	if len(rep.UnreviewedBreakGlassRequests) != rep.Total.UnreviewedBreakGlass {
		t.Errorf("%d listed, but the total counts %d", len(rep.UnreviewedBreakGlassRequests), rep.Total.UnreviewedBreakGlass)
	}

	byName := map[string]BreakGlassRequest{}
	for _, bg := range rep.UnreviewedBreakGlassRequests {
		byName[bg.Name] = bg
	}
	recent := byName["recent"]
	if recent.Policy != "payments" || recent.ServiceAccount != "payments/ledger-migrator" || recent.Role != "Role/db-migrator" ||
		recent.Requester != "alice" || recent.Tier != "app-owners" {
		t.Errorf("recent = %+v", recent)
	}
	if recent.GrantedAt == nil || !recent.GrantedAt.Equal(now.Add(-10*time.Minute)) ||
		recent.SinceGrantSeconds == nil || *recent.SinceGrantSeconds != 600 {
		t.Errorf("recent: grantedAt %v, since grant %v; want 10m ago", recent.GrantedAt, recent.SinceGrantSeconds)
	}
	if w := byName["waiting"]; w.ServiceAccount != "shared/ledger-migrator" || w.Requester != "" || w.Policy != "ledger" {
		t.Errorf("waiting = %+v: the service account keeps its own namespace and a missing requester stays empty", w)
	}
	if s := byName["stuck"]; s.GrantedAt != nil || s.SinceGrantSeconds != nil {
		t.Errorf("stuck was never granted, yet grantedAt %v since %v", s.GrantedAt, s.SinceGrantSeconds)
	}
}

func TestBuildListsNoBreakGlassAsAnEmptyList(t *testing.T) {
	rep := Build([]accessv1alpha1.AccessRequest{req("view", "payments", time.Hour, autoApproved, granted)}, nil, now, month)
	if rep.UnreviewedBreakGlassRequests == nil || len(rep.UnreviewedBreakGlassRequests) != 0 {
		t.Errorf("UnreviewedBreakGlassRequests = %#v, want an empty, non-nil list", rep.UnreviewedBreakGlassRequests)
	}
}

func TestPercentile(t *testing.T) {
	mins := func(ns ...int) []time.Duration {
		var ds []time.Duration
		for _, n := range ns {
			ds = append(ds, time.Duration(n)*time.Minute)
		}
		return ds
	}
	var twenty []int
	for i := 20; i >= 1; i-- {
		twenty = append(twenty, i)
	}
	tests := []struct {
		name string
		ds   []time.Duration
		p    float64
		want time.Duration
		ok   bool
	}{
		{name: "an empty set has no percentile", ds: nil, p: 50, ok: false},
		{name: "any percentile of one value is that value", ds: mins(7), p: 95, want: 7 * time.Minute, ok: true},
		{name: "p50 of four is the second", ds: mins(4, 1, 3, 2), p: 50, want: 2 * time.Minute, ok: true},
		{name: "p50 of five is the third", ds: mins(5, 1, 4, 2, 3), p: 50, want: 3 * time.Minute, ok: true},
		{name: "p95 of twenty is the nineteenth", ds: mins(twenty...), p: 95, want: 19 * time.Minute, ok: true},
		{name: "p95 of twenty-one is the twentieth", ds: mins(append(twenty, 21)...), p: 95, want: 20 * time.Minute, ok: true},
		{name: "p100 is the largest", ds: mins(twenty...), p: 100, want: 20 * time.Minute, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Percentile(tt.ds, tt.p)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Percentile(p%v) = %s, %v; want %s, %v", tt.p, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{-5 * time.Second, "0s"},
		{999 * time.Millisecond, "0s"},
		{45 * time.Second, "45s"},
		{12 * time.Minute, "12m"},
		{90 * time.Second, "1m30s"},
		{3*time.Hour + 20*time.Minute + 59*time.Second, "3h20m"},
		{3 * time.Hour, "3h"},
		{52 * time.Hour, "2d4h"},
		{48 * time.Hour, "2d"},
		{month, "30d"},
	}
	for _, tt := range tests {
		if got := FormatDuration(tt.d); got != tt.want {
			t.Errorf("FormatDuration(%s) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

// fixture is a small report shared by the rendering tests: no break-glass.
func fixture() Report {
	return Build([]accessv1alpha1.AccessRequest{
		req("view", "payments", time.Hour, autoApproved, granted),
		req("migrate", "payments", 3*time.Hour, approvedAfter(12*time.Minute), escalated, granted),
		req("drop", "payments", 2*time.Hour, pending),
		req("stray", "", time.Hour, invalid),
	}, []rbacv1.RoleBinding{binding("view", time.Hour), binding("migrate", -time.Minute)}, now, month, "ledger")
}

// breakGlassFixture adds to fixture's requests two break-glass grants
// awaiting review and one acknowledged.
func breakGlassFixture() Report {
	return Build([]accessv1alpha1.AccessRequest{
		req("view", "payments", time.Hour, autoApproved, granted),
		req("hotfix", "payments", 90*time.Minute, breakGlass),
		req("hotfix-2", "payments", 20*time.Minute, breakGlass),
		req("old-hotfix", "payments", 5*time.Hour, breakGlass, acknowledgedAfter(time.Hour)),
	}, nil, now, month)
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, fixture()); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"POLICY     REQUESTS   APPROVED   DENIED   PENDING   ACTIVE   OVERDUE   APPROVAL-P50   BREAK-GLASS   UNREVIEWED",
		"ledger     0          0          0        0         0        0         -              0             0",
		"payments   3          2          0        1         2        1         0s             0             0",
		"(none)     1          0          0        0         0        0         -              0             0",
		"TOTAL      4          2          0        1         2        1         0s             0             0",
		"",
	}, "\n")
	if got := b.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
	for _, line := range strings.Split(b.String(), "\n") {
		if len(line) > 120 {
			t.Errorf("default table wider than 120 columns: %q", line)
		}
	}
}

func TestWriteWideTable(t *testing.T) {
	var b bytes.Buffer
	if err := WriteWideTable(&b, fixture()); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"POLICY     REQUESTS   APPROVED   DENIED   TIMED-OUT   INVALID   ESCALATED   ESC-RATE   APPROVAL-P50   APPROVAL-P95   ACTIVE   OVERDUE   PENDING   OLDEST-PENDING   BREAK-GLASS   UNREVIEWED   BG-ACK-P50",
		"ledger     0          0          0        0           0         0           -          -              -              0        0         0         -                0             0            -",
		"payments   3          2          0        0           0         1           50%        0s             12m            2        1         1         2h               0             0            -",
		"(none)     1          0          0        0           1         0           -          -              -              0        0         0         -                0             0            -",
		"TOTAL      4          2          0        0           1         1           50%        0s             12m            2        1         1         2h               0             0            -",
		"",
	}, "\n")
	if got := b.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

// Break-glass grants have no approval: they stay out of the time to
// approval, and their time to acknowledgement is reported on its own.
func TestBreakGlassLatencyIsSeparate(t *testing.T) {
	r := Build([]accessv1alpha1.AccessRequest{
		req("slow", "payments", 5*time.Hour, approvedAfter(40*time.Minute), granted),
		req("hotfix", "payments", 5*time.Hour, breakGlass, approvedAfter(time.Minute), acknowledgedAfter(2*time.Hour)),
		req("hotfix-2", "payments", 5*time.Hour, breakGlass, acknowledgedAfter(time.Hour)),
	}, nil, now, month)
	got := rowCells(t, r, "payments")
	if got["APPROVAL-P50"] != "40m" || got["APPROVAL-P95"] != "40m" || got["BG-ACK-P50"] != "1h" || got["BREAK-GLASS"] != "2" {
		t.Errorf("row = %v, want approval 40m (break-glass left out), BG-ACK-P50 1h, 2 break-glass", got)
	}
}

func TestWriteTableListsUnreviewedBreakGlassFirst(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, breakGlassFixture()); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"UNREVIEWED BREAK-GLASS: 2 grant(s) given without approval that no reviewer has acknowledged yet.",
		"A reviewer of the TIER shown, or of a later tier, acknowledges each with: kubectl rolegate ack NAME -n NAMESPACE -m COMMENT",
		"REQUEST             POLICY     SERVICEACCOUNT             ROLE               REQUESTER   TIER         GRANTED-AT             SINCE-GRANT",
		"payments/hotfix     payments   payments/ledger-migrator   Role/db-migrator   alice       app-owners   2026-05-01T10:30:00Z   1h30m",
		"payments/hotfix-2   payments   payments/ledger-migrator   Role/db-migrator   alice       app-owners   2026-05-01T11:40:00Z   20m",
		"",
		"POLICY     REQUESTS   APPROVED   DENIED   PENDING   ACTIVE   OVERDUE   APPROVAL-P50   BREAK-GLASS   UNREVIEWED",
		"payments   4          4          0        0         4        0         0s             3             2",
		"TOTAL      4          4          0        0         4        0         0s             3             2",
		"",
	}, "\n")
	if got := b.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, fixture()); err != nil {
		t.Fatal(err)
	}
	var got struct {
		GeneratedAt  time.Time                  `json:"generatedAt"`
		SinceSeconds int64                      `json:"sinceSeconds"`
		Namespace    *string                    `json:"namespace"`
		Policies     []map[string]any           `json:"policies"`
		Total        map[string]json.RawMessage `json:"total"`
		Unreviewed   json.RawMessage            `json:"unreviewedBreakGlassRequests"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if string(got.Unreviewed) != "[]" {
		t.Errorf("unreviewedBreakGlassRequests = %s, want []", got.Unreviewed)
	}
	if !got.GeneratedAt.Equal(now) || got.SinceSeconds != 2592000 || got.Namespace == nil || len(got.Policies) != 3 {
		t.Errorf("header = %s %d %v %d rows\n%s", got.GeneratedAt, got.SinceSeconds, got.Namespace, len(got.Policies), b.String())
	}
	for key, want := range map[string]string{
		"policy": `"TOTAL"`, "requests": "4", "approved": "2", "escalated": "1", "reviewed": "2", "escalationRate": "0.5",
		"timeToApprovalP50Seconds": "0", "timeToApprovalP95Seconds": "720", "activeGrants": "2", "overdueGrants": "1",
		"pending": "1", "oldestPendingSeconds": "7200", "denied": "0", "timedOut": "0", "invalid": "1",
		"breakGlass": "0", "unreviewedBreakGlass": "0",
	} {
		if string(got.Total[key]) != want {
			t.Errorf("total.%s = %s, want %s", key, got.Total[key], want)
		}
	}
	if ledger := got.Policies[0]; ledger["policy"] != "ledger" || ledger["timeToApprovalP50Seconds"] != nil || ledger["escalationRate"] != nil {
		t.Errorf("a policy without traffic should carry null figures: %v", ledger)
	}
}

func TestWriteJSONListsUnreviewedBreakGlass(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, breakGlassFixture()); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Total      map[string]json.RawMessage `json:"total"`
		Unreviewed []map[string]any           `json:"unreviewedBreakGlassRequests"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if string(got.Total["breakGlass"]) != "3" || string(got.Total["unreviewedBreakGlass"]) != "2" {
		t.Errorf("total breakGlass %s, unreviewedBreakGlass %s; want 3 and 2", got.Total["breakGlass"], got.Total["unreviewedBreakGlass"])
	}
	if len(got.Unreviewed) != 2 {
		t.Fatalf("%d unreviewed break-glass requests, want 2:\n%s", len(got.Unreviewed), b.String())
	}
	want := map[string]any{
		"namespace": "payments", "name": "hotfix", "policy": "payments", "serviceAccount": "payments/ledger-migrator",
		"role": "Role/db-migrator", "requester": "alice", "tier": "app-owners",
		"grantedAt": "2026-05-01T10:30:00Z", "sinceGrantSeconds": float64(5400),
	}
	for k, v := range want {
		if got.Unreviewed[0][k] != v {
			t.Errorf("unreviewedBreakGlassRequests[0].%s = %v, want %v", k, got.Unreviewed[0][k], v)
		}
	}
	if len(got.Unreviewed[0]) != len(want) {
		t.Errorf("unreviewedBreakGlassRequests[0] has fields %v, want exactly %d", got.Unreviewed[0], len(want))
	}
}
