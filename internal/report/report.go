// Package report computes the per-policy access report that
// `kubectl rolegate report` prints. It works on objects read straight from
// the cluster, not on Prometheus, so it answers for any time window and
// needs nothing but read access to AccessRequests and managed RoleBindings.
//
// Everything here is pure: Build takes the objects and the current time and
// returns a Report; WriteTable and WriteJSON render it.
//
// How each figure is counted:
//
//   - Requests: AccessRequests created within the window (now-since, now].
//     Approved, Denied, TimedOut, Invalid, Escalated and the time to
//     approval are counted over those requests only.
//   - Approved: the Approved condition is True (approved by reviewers or
//     auto-approved), or the request was granted at some point
//     (status.grantedAt is set), so a grant that ended since still counts.
//   - Denied / TimedOut: the Approved condition's reason is Denied / TimedOut.
//   - Invalid: the Ready condition's reason is Invalid.
//   - Escalated: the Escalated condition is True. The escalation rate is
//     Escalated divided by the requests a tier reviewed, i.e. those that
//     carry an Escalated condition at all (the controller sets it, True or
//     False, on every valid request that is not auto-approved); it is empty
//     when no request was reviewed.
//   - Time to approval: 0 for an auto-approved request; otherwise the time
//     from the request's creation to the last counted Approve record in
//     status.approvals (the approval that met the threshold). When an
//     escalation completes an approval (reviewers of the next tier approved
//     before it took over), the true approving moment is the escalation,
//     which is later than that record; the report accepts this understatement
//     rather than trust the time the controller happened to write the
//     condition. P50 and P95 are nearest-rank percentiles.
//   - Active, Pending and OldestPending describe now, not the window: every
//     request whose Ready reason is Granted / PendingApproval counts, however
//     old (Summarize computes them for the report and the gauges alike).
//   - BreakGlass: the BreakGlass condition is True (access granted at once,
//     without approval). A break-glass grant also counts as Approved, since
//     it was granted, but not in the time to approval: nobody approved it.
//   - Unreviewed break-glass: now, whatever the request's age, the requests
//     whose Reviewed condition is False with reason ReviewPending, i.e. no
//     eligible reviewer has acknowledged them (Summarize, like the
//     rolegate_break_glass_unreviewed gauge). A grant that has ended since
//     still counts: the review is owed all the same. Each one is also listed
//     in Report.UnreviewedBreakGlassRequests.
//   - Overdue: managed RoleBindings whose access.rolegate.dev/expires-at
//     annotation is in the past (CountOverdue), under the policy of
//     the request named by their access.rolegate.dev/request label. A
//     binding whose request does not exist counts under "(orphaned)".
//
// Requests with no status.policy (for example invalid ones that no policy
// matches) are reported under "(none)".
package report

import (
	"cmp"
	"slices"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
)

// Row names that are not ApprovalPolicies.
const (
	// NoPolicy groups requests without status.policy.
	NoPolicy = "(none)"
	// Orphaned groups managed RoleBindings whose request does not exist.
	Orphaned = "(orphaned)"
	// Total names the row that sums every other row.
	Total = "TOTAL"
)

// Report is the result of Build; its JSON form is what `-o json` prints and
// is kept stable: fields are only ever added.
type Report struct {
	// GeneratedAt is the moment the report describes.
	GeneratedAt time.Time `json:"generatedAt"`
	// SinceSeconds is the window for requests, in seconds; 0 means all time.
	SinceSeconds int64 `json:"sinceSeconds"`
	// Namespace is the namespace reported on; empty means all namespaces.
	Namespace string `json:"namespace"`
	// Policies holds one row per policy, sorted by name, with "(none)" and
	// "(orphaned)" last.
	Policies []Row `json:"policies"`
	// Total sums the rows; its percentiles and oldest pending age are taken
	// over all requests, not averaged.
	Total Row `json:"total"`
	// UnreviewedBreakGlassRequests lists every break-glass grant that awaits
	// review, whenever it was created, longest-waiting first; never null.
	UnreviewedBreakGlassRequests []BreakGlassRequest `json:"unreviewedBreakGlassRequests"`
	// StandingAccess summarizes service accounts' standing access outside
	// rolegate (see standing.go); absent when it was not computed.
	StandingAccess *StandingAccess `json:"standingAccess,omitempty"`
}

// BreakGlassRequest is a break-glass grant that no eligible reviewer has
// acknowledged yet.
type BreakGlassRequest struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Policy    string `json:"policy"`
	// ServiceAccount is namespace/name of the service account that got access.
	ServiceAccount string `json:"serviceAccount"`
	// Role is Kind/name of the granted role.
	Role      string `json:"role"`
	Requester string `json:"requester"`
	// Tier is the approver tier whose reviewers (or a later tier's) may
	// acknowledge the grant.
	Tier string `json:"tier"`
	// GrantedAt is when the RoleBinding was first created; null when the
	// grant never took effect.
	GrantedAt *time.Time `json:"grantedAt"`
	// SinceGrantSeconds is how long ago GrantedAt was; null with it.
	SinceGrantSeconds *float64 `json:"sinceGrantSeconds"`
}

// Row is the report for one policy. Durations are in seconds; a null
// duration or rate means there was nothing to measure.
type Row struct {
	Policy    string `json:"policy"`
	Requests  int    `json:"requests"`
	Approved  int    `json:"approved"`
	Denied    int    `json:"denied"`
	TimedOut  int    `json:"timedOut"`
	Invalid   int    `json:"invalid"`
	Escalated int    `json:"escalated"`
	// Reviewed is the number of requests a tier reviewed: the escalation
	// rate's denominator.
	Reviewed       int      `json:"reviewed"`
	EscalationRate *float64 `json:"escalationRate"`
	// TimeToApprovalP50Seconds and TimeToApprovalP95Seconds are
	// nearest-rank percentiles of the time from creation to approval.
	TimeToApprovalP50Seconds *float64 `json:"timeToApprovalP50Seconds"`
	TimeToApprovalP95Seconds *float64 `json:"timeToApprovalP95Seconds"`
	ActiveGrants             int      `json:"activeGrants"`
	OverdueGrants            int      `json:"overdueGrants"`
	Pending                  int      `json:"pending"`
	OldestPendingSeconds     *float64 `json:"oldestPendingSeconds"`
	// BreakGlass counts break-glass grants among the requests in the window.
	// They are granted without approval, so they are left out of the time to
	// approval; their time from creation to acknowledgement is
	// BreakGlassAckP50Seconds (nearest rank, acknowledged grants only).
	BreakGlass              int      `json:"breakGlass"`
	BreakGlassAckP50Seconds *float64 `json:"breakGlassAckP50Seconds"`
	// UnreviewedBreakGlass counts break-glass grants awaiting review now.
	UnreviewedBreakGlass int `json:"unreviewedBreakGlass"`
}

// acc gathers a row before its percentiles are taken.
type acc struct {
	Row
	approvals []time.Duration
	acks      []time.Duration
	oldest    time.Duration
	hasOldest bool
}

// Build computes the report at now. Requests created more than since
// before now are left out of the windowed figures (since <= 0 keeps all).
// Bindings are the managed RoleBindings of the same scope as the requests.
// Policies names ApprovalPolicies to list even when nothing happened under
// them.
func Build(requests []accessv1alpha1.AccessRequest, bindings []rbacv1.RoleBinding, now time.Time, since time.Duration,
	policies ...string) Report {
	rows := rowSet{}
	for _, p := range policies {
		rows.get(p)
	}
	for i := range requests {
		r := &requests[i]
		if since > 0 && r.CreationTimestamp.Time.Before(now.Add(-since)) {
			continue
		}
		rows.get(r.Status.Policy).countRequest(r)
	}
	rows.addSummary(Summarize(requests, now))
	rows.addOverdue(requests, bindings, now)

	rep := Report{GeneratedAt: now, SinceSeconds: int64(max(since, 0) / time.Second), Policies: []Row{},
		UnreviewedBreakGlassRequests: unreviewedBreakGlass(requests, now)}
	total := &acc{Row: Row{Policy: Total}}
	for _, a := range rows {
		total.add(a)
		rep.Policies = append(rep.Policies, a.finish())
	}
	slices.SortFunc(rep.Policies, func(x, y Row) int {
		return cmp.Or(cmp.Compare(rank(x.Policy), rank(y.Policy)), cmp.Compare(x.Policy, y.Policy))
	})
	rep.Total = total.finish()
	return rep
}

// rowSet holds the rows being built, by row name.
type rowSet map[string]*acc

// get returns the row named name, adding it if it is new; requests without
// a policy ("") go to the NoPolicy row.
func (rows rowSet) get(name string) *acc {
	if name == "" {
		name = NoPolicy
	}
	a, ok := rows[name]
	if !ok {
		a = &acc{Row: Row{Policy: name}}
		rows[name] = a
	}
	return a
}

// countRequest adds a request of the window to the windowed figures:
// Requests, Approved (with its time to approval), Denied, TimedOut,
// Invalid, Reviewed, Escalated and BreakGlass.
func (a *acc) countRequest(r *accessv1alpha1.AccessRequest) {
	a.Requests++
	conds := r.Status.Conditions
	approved := meta.FindStatusCondition(conds, accessv1alpha1.ConditionApproved)
	breakGlass := meta.IsStatusConditionTrue(conds, accessv1alpha1.ConditionBreakGlass)
	switch {
	case (approved != nil && approved.Status == metav1.ConditionTrue) || r.Status.GrantedAt != nil:
		a.Approved++
		if d, ok := timeToApproval(r, approved); ok && !breakGlass {
			a.approvals = append(a.approvals, d)
		}
	case approved != nil && approved.Reason == accessv1alpha1.ReasonDenied:
		a.Denied++
	case approved != nil && approved.Reason == accessv1alpha1.ReasonTimedOut:
		a.TimedOut++
	}
	if ready := meta.FindStatusCondition(conds, accessv1alpha1.ConditionReady); ready != nil &&
		ready.Reason == accessv1alpha1.ReasonInvalid {
		a.Invalid++
	}
	if esc := meta.FindStatusCondition(conds, accessv1alpha1.ConditionEscalated); esc != nil {
		a.Reviewed++
		if esc.Status == metav1.ConditionTrue {
			a.Escalated++
		}
	}
	if breakGlass {
		a.BreakGlass++
		if d, ok := timeToAcknowledge(r); ok {
			a.acks = append(a.acks, d)
		}
	}
}

// timeToAcknowledge is how long after its creation a break-glass grant
// was acknowledged: the first Acknowledge record in status.approvals.
func timeToAcknowledge(r *accessv1alpha1.AccessRequest) (time.Duration, bool) {
	var first time.Time
	for _, rec := range r.Status.Approvals {
		if rec.Decision == accessv1alpha1.DecisionAcknowledge && (first.IsZero() || rec.Time.Before(&metav1.Time{Time: first})) {
			first = rec.Time.Time
		}
	}
	if first.IsZero() {
		return 0, false
	}
	return max(first.Sub(r.CreationTimestamp.Time), 0), true
}

// addSummary adds the figures that describe now, whatever the window:
// Pending, OldestPending, ActiveGrants and UnreviewedBreakGlass.
func (rows rowSet) addSummary(s Summary) {
	for k, n := range s.Pending {
		rows.get(k.Policy).Pending += n
	}
	for p, age := range s.OldestPending {
		a := rows.get(p)
		a.oldest, a.hasOldest = max(a.oldest, age), true
	}
	for p, n := range s.Active {
		rows.get(p).ActiveGrants += n
	}
	for p, n := range s.Unreviewed {
		rows.get(p).UnreviewedBreakGlass += n
	}
}

// addOverdue adds the overdue bindings, each under the policy of the
// request its label names, or under Orphaned when that request is missing.
func (rows rowSet) addOverdue(requests []accessv1alpha1.AccessRequest, bindings []rbacv1.RoleBinding, now time.Time) {
	policyOf := map[string]string{}
	for i := range requests {
		r := &requests[i]
		policyOf[r.Namespace+"/"+r.Name] = cmp.Or(r.Status.Policy, NoPolicy)
	}
	byPolicy := map[string][]rbacv1.RoleBinding{}
	for i := range bindings {
		b := &bindings[i]
		name := accessv1alpha1.RequestNameOf(b.Labels, b.Annotations)
		p, ok := policyOf[b.Namespace+"/"+name]
		if !ok || name == "" {
			p = Orphaned
		}
		byPolicy[p] = append(byPolicy[p], *b)
	}
	for p, bs := range byPolicy {
		if n := CountOverdue(bs, now); n > 0 {
			rows.get(p).OverdueGrants += n
		}
	}
}

// rank puts real policies first, then "(none)", then "(orphaned)".
func rank(name string) int {
	switch name {
	case NoPolicy:
		return 1
	case Orphaned:
		return 2
	}
	return 0
}

func (t *acc) add(a *acc) {
	t.Requests += a.Requests
	t.Approved += a.Approved
	t.Denied += a.Denied
	t.TimedOut += a.TimedOut
	t.Invalid += a.Invalid
	t.Escalated += a.Escalated
	t.Reviewed += a.Reviewed
	t.ActiveGrants += a.ActiveGrants
	t.OverdueGrants += a.OverdueGrants
	t.Pending += a.Pending
	t.BreakGlass += a.BreakGlass
	t.UnreviewedBreakGlass += a.UnreviewedBreakGlass
	t.approvals = append(t.approvals, a.approvals...)
	t.acks = append(t.acks, a.acks...)
	if a.hasOldest {
		t.oldest, t.hasOldest = max(t.oldest, a.oldest), true
	}
}

func (a *acc) finish() Row {
	r := a.Row
	if r.Reviewed > 0 {
		r.EscalationRate = ptr(float64(r.Escalated) / float64(r.Reviewed))
	}
	if p, ok := Percentile(a.approvals, 50); ok {
		r.TimeToApprovalP50Seconds = ptr(p.Seconds())
	}
	if p, ok := Percentile(a.approvals, 95); ok {
		r.TimeToApprovalP95Seconds = ptr(p.Seconds())
	}
	if a.hasOldest {
		r.OldestPendingSeconds = ptr(a.oldest.Seconds())
	}
	if p, ok := Percentile(a.acks, 50); ok {
		r.BreakGlassAckP50Seconds = ptr(p.Seconds())
	}
	return r
}

func ptr[T any](v T) *T { return &v }

// unreviewedBreakGlass lists the break-glass grants awaiting review, the
// longest-waiting first; grants that never took effect come last.
func unreviewedBreakGlass(requests []accessv1alpha1.AccessRequest, now time.Time) []BreakGlassRequest {
	out := []BreakGlassRequest{}
	for i := range requests {
		r := &requests[i]
		if !policy.AwaitsReview(r) {
			continue
		}
		bg := BreakGlassRequest{
			Namespace: r.Namespace, Name: r.Name, Policy: cmp.Or(r.Status.Policy, NoPolicy),
			ServiceAccount: cmp.Or(r.Spec.ServiceAccount.Namespace, r.Namespace) + "/" + r.Spec.ServiceAccount.Name,
			Role:           r.Spec.RoleRef.String(),
			Tier:           r.Status.Tier,
		}
		if r.Spec.Requester != nil {
			bg.Requester = r.Spec.Requester.Username
		}
		if at := r.Status.GrantedAt; at != nil {
			bg.GrantedAt = ptr(at.UTC())
			bg.SinceGrantSeconds = ptr(max(now.Sub(at.Time), 0).Seconds())
		}
		out = append(out, bg)
	}
	slices.SortFunc(out, func(x, y BreakGlassRequest) int {
		switch {
		case x.GrantedAt == nil && y.GrantedAt != nil:
			return 1
		case x.GrantedAt != nil && y.GrantedAt == nil:
			return -1
		case x.GrantedAt != nil && !x.GrantedAt.Equal(*y.GrantedAt):
			return x.GrantedAt.Compare(*y.GrantedAt)
		}
		return cmp.Or(cmp.Compare(x.Namespace, y.Namespace), cmp.Compare(x.Name, y.Name))
	})
	return out
}

// timeToApproval is how long the request waited for approval: 0 when
// auto-approved, otherwise until its last counted Approve record. A request
// without such a record (its status was rewritten after the grant ended) is
// not measured.
func timeToApproval(r *accessv1alpha1.AccessRequest, approved *metav1.Condition) (time.Duration, bool) {
	if approved != nil && approved.Reason == accessv1alpha1.ReasonAutoApproved {
		return 0, true
	}
	var last time.Time
	for _, rec := range r.Status.Approvals {
		if rec.Decision == accessv1alpha1.DecisionApprove && rec.Time.After(last) {
			last = rec.Time.Time
		}
	}
	if last.IsZero() {
		return 0, false
	}
	return max(last.Sub(r.CreationTimestamp.Time), 0), true
}

// Percentile is the nearest-rank p-th percentile (0 < p <= 100) of the
// durations: the smallest value at least p percent of them are at or
// below. ok is false for an empty set.
func Percentile(ds []time.Duration, p float64) (d time.Duration, ok bool) {
	if len(ds) == 0 {
		return 0, false
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	// Integer arithmetic keeps ranks exact: p95 of 20 is the 19th, not the 20th.
	n := len(sorted)
	hundredths := int64(p*100 + 0.5)
	rank := int((hundredths*int64(n) + 9999) / 10000)
	rank = min(max(rank, 1), n)
	return sorted[rank-1], true
}
