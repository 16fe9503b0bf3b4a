package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// ReviewPhase is where a policy stands in its review cycle.
type ReviewPhase string

// Review phases.
const (
	// ReviewNotRequired: the policy has no spec.review.
	ReviewNotRequired ReviewPhase = ""
	// ReviewCurrent: attested, and the next review has not opened yet.
	ReviewCurrent ReviewPhase = "Current"
	// ReviewDue: the review is open and not yet overdue.
	ReviewDue ReviewPhase = "Due"
	// ReviewOverdue: the due time passed without an attestation.
	ReviewOverdue ReviewPhase = "Overdue"
)

// MaxReviewLead is the longest a review is open before it is due.
const MaxReviewLead = 14 * 24 * time.Hour

// ReviewLead is how long before its due time a review opens: 14 days, or a
// third of the period when that is shorter.
func ReviewLead(every time.Duration) time.Duration {
	return min(every/3, MaxReviewLead)
}

// ReviewState is a policy's review at one moment.
type ReviewState struct {
	Phase ReviewPhase
	// Since is when the current period started: the last attestation, or
	// the policy's creation when it was never attested.
	Since time.Time
	// OpensAt and DueAt bound the open review.
	OpensAt, DueAt time.Time
	// NextChange is when the phase changes by time alone; zero once overdue.
	NextChange time.Time
	// Attested is true when an attestation started the current period.
	Attested bool
	// Suspended is true when the review is overdue and the policy holds
	// back new grants until it is attested (onOverdue: SuspendNewGrants).
	Suspended bool
}

// Review is the state of the policy's review at now, from the time of its
// last counted attestation (zero when there was none).
func Review(p *accessv1alpha1.ApprovalPolicy, lastReviewed, now time.Time) ReviewState {
	rv := p.Spec.Review
	if rv == nil || rv.Every.Duration <= 0 {
		return ReviewState{}
	}
	s := ReviewState{Since: p.CreationTimestamp.Time}
	if lastReviewed.After(s.Since) {
		s.Since, s.Attested = lastReviewed, true
	}
	s.DueAt = s.Since.Add(rv.Every.Duration)
	s.OpensAt = s.DueAt.Add(-ReviewLead(rv.Every.Duration))
	switch {
	case now.Before(s.OpensAt):
		s.Phase, s.NextChange = ReviewCurrent, s.OpensAt
	case now.Before(s.DueAt):
		s.Phase, s.NextChange = ReviewDue, s.DueAt
	default:
		s.Phase = ReviewOverdue
		s.Suspended = rv.OnOverdue == accessv1alpha1.OverdueSuspendNewGrants
	}
	return s
}

// ReviewOfStatus is the policy's review at now, from the last attestation
// its status records (written by the policy controller, which counts them).
func ReviewOfStatus(p *accessv1alpha1.ApprovalPolicy, now time.Time) ReviewState {
	var last time.Time
	if p.Status.LastReviewed != nil {
		last = p.Status.LastReviewed.Time
	}
	return Review(p, last, now)
}

// PolicyReviewers are the subjects who may attest the policy: its review's
// subjects, or those of the tier it names; none without a review.
func PolicyReviewers(p *accessv1alpha1.ApprovalPolicy) []accessv1alpha1.Subject {
	rv := p.Spec.Review
	if rv == nil {
		return nil
	}
	if rv.Reviewers.Tier == "" {
		return rv.Reviewers.Subjects
	}
	for _, t := range p.Spec.Approvers {
		if t.Name == rv.Reviewers.Tier {
			return t.Subjects
		}
	}
	return nil
}

// describeReviewers names who may attest, for messages.
func describeReviewers(p *accessv1alpha1.ApprovalPolicy) string {
	who := FormatSubjects(PolicyReviewers(p))
	if t := p.Spec.Review.Reviewers.Tier; t != "" {
		return fmt.Sprintf("tier %s: %s", t, who)
	}
	return who
}

// MayAttest reports whether the user is one of the policy's reviewers.
func MayAttest(p *accessv1alpha1.ApprovalPolicy, user accessv1alpha1.UserInfo) bool {
	return MatchesAny(PolicyReviewers(p), user)
}

// JudgeAttestation tells whether an Attest decision counts for the policy
// (nil when it does not exist): it needs a review, a reviewer among the
// review's reviewers, a namespace the policy governs (governed), and to be
// made after the policy was created (not for an earlier policy of the name).
func JudgeAttestation(p *accessv1alpha1.ApprovalPolicy, d *accessv1alpha1.AccessDecision, governed bool) Verdict {
	switch {
	case p == nil:
		return Verdict{Reason: accessv1alpha1.ReasonPolicyNotFound,
			Message: fmt.Sprintf("ApprovalPolicy %s does not exist; name a policy from kubectl get approvalpolicies", d.Spec.Policy)}
	case p.Spec.Review == nil:
		return Verdict{Reason: accessv1alpha1.ReasonReviewNotConfigured,
			Message: fmt.Sprintf("ApprovalPolicy %s has no spec.review, so there is nothing to attest", p.Name)}
	case !governed:
		return Verdict{Reason: accessv1alpha1.ReasonNamespaceNotGoverned, Message: fmt.Sprintf(
			"ApprovalPolicy %s does not govern namespace %s; make the attestation in a namespace it governs", p.Name, d.Namespace)}
	case d.Spec.Reviewer == nil:
		return Verdict{Reason: accessv1alpha1.ReasonReviewerMissing, Message: "the attestation has no reviewer"}
	case !MayAttest(p, *d.Spec.Reviewer):
		return Verdict{Reason: accessv1alpha1.ReasonNotEligible, Message: fmt.Sprintf(
			"%s may not attest ApprovalPolicy %s; its reviewers are %s", d.Spec.Reviewer.Username, p.Name, describeReviewers(p))}
	case !d.CreationTimestamp.IsZero() && d.CreationTimestamp.Before(&p.CreationTimestamp):
		return Verdict{Reason: accessv1alpha1.ReasonRequestReplaced, Message: fmt.Sprintf(
			"the attestation was made before ApprovalPolicy %s was created, for an earlier policy of that name", p.Name)}
	}
	return Verdict{Counted: true, Reason: accessv1alpha1.ReasonAttested,
		Message: fmt.Sprintf("%s attested ApprovalPolicy %s", d.Spec.Reviewer.Username, p.Name)}
}

// Attestations is the outcome of judging a policy's attestations.
type Attestations struct {
	// Last is the latest attestation that counted; nil if none did.
	Last *accessv1alpha1.AccessDecision
	// Verdicts by decision name.
	Verdicts map[string]Verdict
}

// JudgeAttestations judges every attestation naming the policy; governed
// reports whether the policy governs a namespace.
func JudgeAttestations(p *accessv1alpha1.ApprovalPolicy, decisions []accessv1alpha1.AccessDecision,
	governed func(namespace string) bool) Attestations {
	out := Attestations{Verdicts: map[string]Verdict{}}
	for i := range decisions {
		d := &decisions[i]
		if d.Spec.Decision != accessv1alpha1.DecisionAttest || d.Spec.Policy != p.Name {
			continue
		}
		v := JudgeAttestation(p, d, governed(d.Namespace))
		out.Verdicts[d.Namespace+"/"+d.Name] = v
		if v.Counted && (out.Last == nil || d.CreationTimestamp.After(out.Last.CreationTimestamp.Time)) {
			out.Last = d
		}
	}
	return out
}

// ReviewCondition is the message and reason of a policy's ReviewDue and
// ReviewOverdue conditions.
func ReviewCondition(p *accessv1alpha1.ApprovalPolicy, s ReviewState, longGrants []LongGrant) (due, overdue bool, reason, msg string) {
	at := s.DueAt.UTC().Format(time.RFC3339)
	todo := fmt.Sprintf("reviewers (%s) check its catalog, tiers and grants and run `kubectl rolegate attest %s -n NAMESPACE` "+
		"in a namespace it governs", describeReviewers(p), p.Name)
	if len(longGrants) > 0 {
		todo += "; grants to look at: " + DescribeLongGrants(longGrants, 10)
	}
	switch s.Phase {
	case ReviewDue:
		return true, false, accessv1alpha1.ReasonReviewDue, fmt.Sprintf("the review of ApprovalPolicy %s is due by %s: %s", p.Name, at, todo)
	case ReviewOverdue:
		effect := "new grants continue (onOverdue: Warn)"
		if s.Suspended {
			effect = "new grants under it are held back until it is attested (onOverdue: SuspendNewGrants); active grants continue"
		}
		return true, true, accessv1alpha1.ReasonReviewOverdue, fmt.Sprintf("the review of ApprovalPolicy %s was due at %s; %s: %s",
			p.Name, at, effect, todo)
	}
	opens := s.OpensAt.UTC().Format(time.RFC3339)
	msg = fmt.Sprintf("ApprovalPolicy %s has not been attested yet; its first review opens at %s and is due at %s", p.Name, opens, at)
	if s.Attested {
		msg = fmt.Sprintf("ApprovalPolicy %s was attested at %s; the next review opens at %s and is due at %s",
			p.Name, s.Since.UTC().Format(time.RFC3339), opens, at)
	}
	return false, false, accessv1alpha1.ReasonReviewNotDue, msg
}

// LongGrant is an active grant whose duration the review asks reviewers to look at.
type LongGrant struct {
	Namespace, Name string
	Role            string
	ServiceAccount  string
	Duration        time.Duration
}

// LongGrants are the policy's active grants (granted and not yet expired at
// now) lasting longer than its review's includeGrantsLongerThan, longest first.
func LongGrants(p *accessv1alpha1.ApprovalPolicy, requests []accessv1alpha1.AccessRequest, now time.Time) []LongGrant {
	rv := p.Spec.Review
	if rv == nil || rv.IncludeGrantsLongerThan == nil {
		return nil
	}
	var out []LongGrant
	for i := range requests {
		ar := &requests[i]
		st := ar.Status
		ready := meta.FindStatusCondition(st.Conditions, accessv1alpha1.ConditionReady)
		if st.Policy != p.Name || ready == nil || ready.Reason != accessv1alpha1.ReasonGranted ||
			st.GrantedAt == nil || st.ExpiresAt == nil || !now.Before(st.ExpiresAt.Time) {
			continue
		}
		if d := st.ExpiresAt.Sub(st.GrantedAt.Time); d > rv.IncludeGrantsLongerThan.Duration {
			out = append(out, LongGrant{Namespace: ar.Namespace, Name: ar.Name, Role: ar.Spec.RoleRef.String(),
				ServiceAccount: ServiceAccountNamespace(ar) + "/" + ar.Spec.ServiceAccount.Name, Duration: d})
		}
	}
	slices.SortFunc(out, func(a, b LongGrant) int {
		return cmp.Or(cmp.Compare(b.Duration, a.Duration), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// DescribeLongGrants lists at most n grants, saying how many more there are.
func DescribeLongGrants(grants []LongGrant, n int) string {
	parts := make([]string, 0, min(len(grants), n))
	for _, g := range grants[:min(len(grants), n)] {
		parts = append(parts, fmt.Sprintf("%s/%s (%s to ServiceAccount %s for %s)", g.Namespace, g.Name, g.Role, g.ServiceAccount, g.Duration))
	}
	s := strings.Join(parts, ", ")
	if len(grants) > n {
		s += fmt.Sprintf(" and %d more", len(grants)-n)
	}
	return s
}

// HeldForReview reports whether a new grant of the request under the
// policy is held back now: the policy's review is overdue and it suspends
// new grants. Break-glass access is not held: it is for emergencies and is
// reviewed after the fact anyway.
func HeldForReview(p *accessv1alpha1.ApprovalPolicy, e *accessv1alpha1.Entitlement, req *accessv1alpha1.AccessRequest,
	now time.Time) (ReviewState, bool) {
	if p == nil || BreakGlassOf(e, req) != nil {
		return ReviewState{}, false
	}
	s := ReviewOfStatus(p, now)
	return s, s.Suspended
}

// SuspendedMessage says why an approved request is not granted while its
// policy's review is overdue and what resumes it.
func SuspendedMessage(p *accessv1alpha1.ApprovalPolicy, s ReviewState) string {
	return fmt.Sprintf("approved, but the review of ApprovalPolicy %s was due at %s and new grants under it are held back "+
		"(onOverdue: SuspendNewGrants); it is granted once a reviewer (%s) runs `kubectl rolegate attest %s`",
		p.Name, s.DueAt.UTC().Format(time.RFC3339), describeReviewers(p), p.Name)
}
