package policy

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// State is where a valid request stands after its decisions are counted.
type State string

// Approval states.
const (
	StatePending  State = "Pending"
	StateApproved State = "Approved"
	StateDenied   State = "Denied"
	StateTimedOut State = "TimedOut"
	StateRevoked  State = "Revoked"
)

// Verdict is whether one AccessDecision took effect, and why not.
type Verdict struct {
	Counted bool
	Reason  string
	Message string
}

// Tally is the outcome of counting a request's decisions.
type Tally struct {
	State State
	// Tier is the deciding tier: now while pending, at the decisive moment otherwise.
	Tier TierState
	// Records are the decisions that counted, in order.
	Records []accessv1alpha1.ApprovalRecord
	// DecidedAt is when the request was approved, denied, timed out or revoked.
	DecidedAt time.Time
	// Verdicts holds one verdict per AccessDecision name.
	Verdicts map[string]Verdict
	// NextChange is when a pending request next escalates or times out; zero if never.
	NextChange time.Time
	// BreakGlass is true when the request was approved at once as
	// break-glass access.
	BreakGlass bool
	// Acknowledged is the review of a break-glass grant; nil until an
	// eligible reviewer acknowledges it.
	Acknowledged *accessv1alpha1.ApprovalRecord
}

// TallyInput is what counting needs. The entitlement must be the request's
// catalog entry in the policy, and the request must have passed Validate.
type TallyInput struct {
	Policy      *accessv1alpha1.ApprovalPolicy
	Entitlement *accessv1alpha1.Entitlement
	Request     *accessv1alpha1.AccessRequest
	Decisions   []accessv1alpha1.AccessDecision
	Now         time.Time
	// EndedAt is when the request's access already ended; zero if it has not.
	// Decisions made from then on do not count.
	EndedAt time.Time
}

// AutoApprover is how an automatic approval is recorded.
func AutoApprover(p *accessv1alpha1.ApprovalPolicy) string { return "ApprovalPolicy/" + p.Name }

type approval struct {
	user accessv1alpha1.UserInfo
}

type tallier struct {
	TallyInput
	sens      accessv1alpha1.Sensitivity
	created   time.Time
	timeoutAt time.Time
	cursor    time.Time
	approvals []approval
	t         Tally
}

// Count replays the request's decisions in creation order against the
// policy as it is now: approvals count from the tier deciding at the time
// of the decision or a later tier, from distinct reviewers other than the
// requester; a Deny from an eligible reviewer ends a pending request; a
// Revoke from an eligible reviewer or the requester ends an approved one.
// Escalation and pendingTimeout are applied at the moment they fall due.
func Count(in TallyInput) Tally {
	c := &tallier{
		TallyInput: in,
		sens:       EffectiveSensitivity(in.Request, in.Entitlement),
		created:    in.Request.CreationTimestamp.Time,
		t:          Tally{State: StatePending, Verdicts: map[string]Verdict{}},
	}
	c.cursor = c.created
	if d := in.Policy.Spec.PendingTimeout; d != nil {
		c.timeoutAt = c.created.Add(d.Duration)
	}
	if BreakGlassOf(in.Entitlement, in.Request) != nil && !in.Entitlement.AutoApprove {
		first, _ := DecidingTier(in.Policy, c.sens)
		c.t.State = StateApproved
		c.t.BreakGlass = true
		c.t.DecidedAt = c.created
		c.t.Tier = TierState{Index: first}
		c.t.Records = append(c.t.Records, accessv1alpha1.ApprovalRecord{
			Reviewer: AutoApprover(in.Policy), Decision: accessv1alpha1.DecisionApprove,
			Time: metav1.NewTime(c.created), Comment: "break-glass: granted at once, to be acknowledged by an eligible reviewer",
		})
	} else if in.Entitlement.AutoApprove {
		c.t.State = StateApproved
		c.t.DecidedAt = c.created
		c.t.Tier = TierState{Index: -1}
		c.t.Records = append(c.t.Records, accessv1alpha1.ApprovalRecord{
			Reviewer: AutoApprover(in.Policy), Decision: accessv1alpha1.DecisionApprove,
			Time: metav1.NewTime(c.created), Comment: "entitlement is auto-approved",
		})
	}

	decisions := slices.Clone(in.Decisions)
	slices.SortStableFunc(decisions, func(a, b accessv1alpha1.AccessDecision) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		// Creation times have one-second resolution: within a second, a
		// Revoke or Acknowledge comes after the approvals and denials it
		// follows in fact (a reviewer revokes a grant they saw).
		if c := cmp.Compare(afterDecisions(a), afterDecisions(b)); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	for i := range decisions {
		d := &decisions[i]
		at := d.CreationTimestamp.Time
		c.settle(at)
		c.t.Verdicts[d.Name] = c.judge(d, at)
	}
	c.settle(in.Now)
	if c.t.State == StatePending {
		c.t.Tier = TierAt(in.Policy, c.sens, c.created, in.Now)
		c.t.NextChange = earliest(c.t.Tier.NextEscalation, c.timeoutAt)
	}
	return c.t
}

// afterDecisions is 1 for decisions that act on a decided request.
func afterDecisions(d accessv1alpha1.AccessDecision) int {
	if d.Spec.Decision == accessv1alpha1.DecisionRevoke || d.Spec.Decision == accessv1alpha1.DecisionAcknowledge {
		return 1
	}
	return 0
}

func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	default:
		return b
	}
}

// settle applies escalations and the pending timeout that fell due up to
// the given time: an escalation can complete an approval when reviewers of
// the new tier already approved.
func (c *tallier) settle(upTo time.Time) {
	for c.t.State == StatePending {
		ts := TierAt(c.Policy, c.sens, c.created, c.cursor)
		b := ts.NextEscalation
		if b.IsZero() || b.After(upTo) {
			break
		}
		if !c.timeoutAt.IsZero() && !c.timeoutAt.After(b) {
			break
		}
		c.cursor = b
		next := TierAt(c.Policy, c.sens, c.created, b)
		if c.satisfied(next.Index) {
			c.decide(StateApproved, b, next)
			return
		}
	}
	if c.t.State == StatePending && !c.timeoutAt.IsZero() && !upTo.Before(c.timeoutAt) {
		c.decide(StateTimedOut, c.timeoutAt, TierAt(c.Policy, c.sens, c.created, c.timeoutAt))
	}
}

func (c *tallier) decide(s State, at time.Time, tier TierState) {
	c.t.State = s
	c.t.DecidedAt = at
	c.t.Tier = tier
}

// satisfied reports whether the distinct approvals eligible for the tier
// reach its threshold.
func (c *tallier) satisfied(tier int) bool {
	if tier < 0 {
		return false
	}
	n := 0
	for _, a := range c.approvals {
		if _, ok := EligibleTier(c.Policy, tier, a.user); ok {
			n++
		}
	}
	return n >= RequiredApprovals(&c.Policy.Spec.Approvers[tier])
}

func (c *tallier) judge(d *accessv1alpha1.AccessDecision, at time.Time) Verdict {
	if v, ok := MadeForAnother(c.Request, d); ok {
		return v
	}
	rev := d.Spec.Reviewer
	if rev == nil || rev.Username == "" {
		return Verdict{Reason: accessv1alpha1.ReasonReviewerMissing,
			Message: "no reviewer is recorded; create decisions through the API server so that admission records who decided"}
	}
	if !c.EndedAt.IsZero() && !at.Before(c.EndedAt) && d.Spec.Decision != accessv1alpha1.DecisionAcknowledge {
		return Verdict{Reason: accessv1alpha1.ReasonRequestNotPending,
			Message: fmt.Sprintf("access already ended at %s", c.EndedAt.UTC().Format(time.RFC3339))}
	}
	requester := ""
	if c.Request.Spec.Requester != nil {
		requester = c.Request.Spec.Requester.Username
	}
	self := rev.Username == requester

	switch d.Spec.Decision {
	case accessv1alpha1.DecisionAcknowledge:
		// A review after the fact: it counts after the access ended, too.
		return c.judgeAcknowledge(d, rev, self)
	case accessv1alpha1.DecisionRevoke:
		return c.judgeRevoke(d, rev, at, self)
	}
	if c.t.BreakGlass {
		return Verdict{Reason: accessv1alpha1.ReasonRequestNotPending,
			Message: "break-glass access was granted at once; review it with an Acknowledge decision, or end it with Revoke"}
	}
	if c.t.State != StatePending {
		return Verdict{Reason: accessv1alpha1.ReasonRequestNotPending,
			Message: fmt.Sprintf("the request is no longer pending (%s)", c.t.State)}
	}
	tier := TierAt(c.Policy, c.sens, c.created, at)
	if self {
		return Verdict{Reason: accessv1alpha1.ReasonSelfApproval,
			Message: fmt.Sprintf("%s opened this request and may not decide it; %s", rev.Username, c.whoMay(tier.Index))}
	}
	k, ok := EligibleTier(c.Policy, tier.Index, *rev)
	if !ok {
		return Verdict{Reason: accessv1alpha1.ReasonNotEligible,
			Message: fmt.Sprintf("%s is not in the deciding tier or a later one; %s", rev.Username, c.whoMay(tier.Index))}
	}
	rec := accessv1alpha1.ApprovalRecord{
		Reviewer: rev.Username, Decision: d.Spec.Decision, Tier: c.Policy.Spec.Approvers[k].Name,
		Time: d.CreationTimestamp, Comment: d.Spec.Comment, DecisionRef: d.Name,
	}
	if d.Spec.Decision == accessv1alpha1.DecisionDeny {
		c.t.Records = append(c.t.Records, rec)
		c.decide(StateDenied, at, tier)
		return Verdict{Counted: true, Reason: accessv1alpha1.ReasonCounted,
			Message: fmt.Sprintf("denied for tier %s", rec.Tier)}
	}
	if slices.ContainsFunc(c.approvals, func(a approval) bool { return a.user.Username == rev.Username }) {
		return Verdict{Reason: accessv1alpha1.ReasonDuplicate,
			Message: fmt.Sprintf("an approval by %s already counted; each reviewer counts once", rev.Username)}
	}
	c.approvals = append(c.approvals, approval{user: *rev})
	c.t.Records = append(c.t.Records, rec)
	if c.satisfied(tier.Index) {
		c.decide(StateApproved, at, tier)
	}
	return Verdict{Counted: true, Reason: accessv1alpha1.ReasonCounted,
		Message: fmt.Sprintf("approval counted for tier %s", rec.Tier)}
}

func (c *tallier) judgeRevoke(d *accessv1alpha1.AccessDecision, rev *accessv1alpha1.UserInfo, at time.Time, self bool) Verdict {
	if c.t.State != StateApproved {
		return Verdict{Reason: accessv1alpha1.ReasonRequestNotPending,
			Message: fmt.Sprintf("only approved requests can be revoked; the request is %s", c.t.State)}
	}
	rec := accessv1alpha1.ApprovalRecord{
		Reviewer: rev.Username, Decision: accessv1alpha1.DecisionRevoke,
		Time: d.CreationTimestamp, Comment: d.Spec.Comment, DecisionRef: d.Name,
	}
	if !self {
		first, _ := DecidingTier(c.Policy, c.sens)
		k, ok := EligibleTier(c.Policy, first, *rev)
		if !ok {
			return Verdict{Reason: accessv1alpha1.ReasonNotEligible,
				Message: fmt.Sprintf("%s may not revoke this grant; the requester or %s", rev.Username, c.whoMay(first))}
		}
		rec.Tier = c.Policy.Spec.Approvers[k].Name
	}
	c.t.Records = append(c.t.Records, rec)
	c.t.State = StateRevoked
	c.t.DecidedAt = at
	return Verdict{Counted: true, Reason: accessv1alpha1.ReasonCounted, Message: "grant revoked"}
}

// judgeAcknowledge counts the review of a break-glass grant by a reviewer
// eligible for its first deciding tier (or a later one) other than the
// requester. The first acknowledgement counts; the grant is unaffected.
func (c *tallier) judgeAcknowledge(d *accessv1alpha1.AccessDecision, rev *accessv1alpha1.UserInfo, self bool) Verdict {
	if !c.t.BreakGlass {
		return Verdict{Reason: accessv1alpha1.ReasonNotBreakGlass,
			Message: "only break-glass grants are acknowledged; use Approve, Deny or Revoke for this request"}
	}
	first := c.t.Tier.Index
	if self {
		return Verdict{Reason: accessv1alpha1.ReasonSelfApproval,
			Message: fmt.Sprintf("%s opened this break-glass request and may not review it; %s", rev.Username, c.whoMay(first))}
	}
	k, ok := EligibleTier(c.Policy, first, *rev)
	if !ok {
		return Verdict{Reason: accessv1alpha1.ReasonNotEligible,
			Message: fmt.Sprintf("%s may not review this break-glass grant; %s", rev.Username, c.whoMay(first))}
	}
	if a := c.t.Acknowledged; a != nil {
		return Verdict{Reason: accessv1alpha1.ReasonDuplicate,
			Message: fmt.Sprintf("already acknowledged by %s at %s", a.Reviewer, a.Time.UTC().Format(time.RFC3339))}
	}
	rec := accessv1alpha1.ApprovalRecord{
		Reviewer: rev.Username, Decision: accessv1alpha1.DecisionAcknowledge, Tier: c.Policy.Spec.Approvers[k].Name,
		Time: d.CreationTimestamp, Comment: d.Spec.Comment, DecisionRef: d.Name,
	}
	c.t.Acknowledged = &rec
	c.t.Records = append(c.t.Records, rec)
	return Verdict{Counted: true, Reason: accessv1alpha1.ReasonCounted,
		Message: fmt.Sprintf("break-glass grant acknowledged for tier %s", rec.Tier)}
}

// MadeForAnother reports whether a decision was made for another request
// object than this one, and the verdict that says so: its spec.requestUID
// (recorded at admission) is another UID, or, for a decision recorded
// before rolegate wrote spec.requestUID, it was created before the request
// was. A request deleted and re-created under the same name is a new
// request, and only decisions made for it count.
func MadeForAnother(req *accessv1alpha1.AccessRequest, d *accessv1alpha1.AccessDecision) (Verdict, bool) {
	if uid := d.Spec.RequestUID; uid != "" {
		if uid == string(req.UID) {
			return Verdict{}, false
		}
		return Verdict{Reason: accessv1alpha1.ReasonRequestReplaced, Message: fmt.Sprintf(
			"the decision was made for an earlier AccessRequest %s (UID %s), not for this one (UID %s); "+
				"decide the current request with a new AccessDecision", req.Name, uid, req.UID)}, true
	}
	if d.CreationTimestamp.Time.Before(req.CreationTimestamp.Time) {
		return Verdict{Reason: accessv1alpha1.ReasonRequestReplaced, Message: fmt.Sprintf(
			"the decision was created at %s, before this AccessRequest %s (created %s): it was made for an earlier "+
				"request of the same name; decide the current request with a new AccessDecision",
			d.CreationTimestamp.UTC().Format(time.RFC3339), req.Name, req.CreationTimestamp.UTC().Format(time.RFC3339))}, true
	}
	return Verdict{}, false
}

// whoMay describes who may decide from the given tier on.
func (c *tallier) whoMay(tier int) string {
	if tier < 0 {
		return "no approver tier may decide this request"
	}
	var subjects []accessv1alpha1.Subject
	for i := tier; i < len(c.Policy.Spec.Approvers); i++ {
		subjects = append(subjects, c.Policy.Spec.Approvers[i].Subjects...)
	}
	return fmt.Sprintf("tier %s decides: ask one of %s", c.Policy.Spec.Approvers[tier].Name, FormatSubjects(subjects))
}
