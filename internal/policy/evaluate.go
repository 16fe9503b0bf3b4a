package policy

import (
	"fmt"
	"slices"
	"time"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// Outcome is what should be true of a request's access right now.
type Outcome string

// Outcomes. Grant is the only one under which a RoleBinding may exist.
const (
	// OutcomeInvalid: the request fails its policy and was never granted.
	OutcomeInvalid Outcome = "Invalid"
	// OutcomePending: valid, waiting for approval.
	OutcomePending Outcome = "Pending"
	// OutcomeDenied: an eligible reviewer denied it.
	OutcomeDenied Outcome = "Denied"
	// OutcomeTimedOut: undecided past the policy's pendingTimeout.
	OutcomeTimedOut Outcome = "TimedOut"
	// OutcomeGrant: approved and within its time; the binding must exist.
	OutcomeGrant Outcome = "Grant"
	// OutcomeExpired: approved, and its time is up.
	OutcomeExpired Outcome = "Expired"
	// OutcomeRevoked: a Revoke decision ended it.
	OutcomeRevoked Outcome = "Revoked"
	// OutcomePolicyChanged: it was granted, and the policy no longer allows it.
	OutcomePolicyChanged Outcome = "PolicyChanged"
	// OutcomeScheduled: approved, and its spec.startTime has not come yet.
	OutcomeScheduled Outcome = "Scheduled"
	// OutcomeExtended: an approved extension (spec.extends). It holds no
	// binding of its own; the request it extends carries the grant.
	OutcomeExtended Outcome = "Extended"
	// OutcomeEnded: access ends for good because what it was granted to
	// or in is gone: the grantee ServiceAccount was deleted or replaced, or
	// the namespace is being deleted (Result.EndReason says which).
	OutcomeEnded Outcome = "Ended"
	// OutcomeWaiting: approved and within its time, but not granted until
	// something it needs exists: the grantee ServiceAccount
	// (Result.WaitReason says what).
	OutcomeWaiting Outcome = "Waiting"
)

// Input is everything Evaluate needs to know about a request and its world.
type Input struct {
	Request         *accessv1alpha1.AccessRequest
	Policies        []accessv1alpha1.ApprovalPolicy
	NamespaceLabels map[string]string
	Decisions       []accessv1alpha1.AccessDecision
	// RoleExists reports whether the requested Role or ClusterRole exists.
	RoleExists bool
	// RoleRisks are the requested role's rules that let a holder outlive or
	// widen the grant (see PersistenceRisks).
	RoleRisks []Risk
	// GrantedAt is the earliest evidence that access was granted; zero if never.
	GrantedAt time.Time
	Now       time.Time
	// Extends is the request named by spec.extends; nil if there is none.
	Extends *accessv1alpha1.AccessRequest
	// Extensions are the approved requests that extend this one.
	Extensions []Extension
	// CurrentPolicy is the policy the request was routed to before (its
	// status.policy); it keeps governing while it allows the request (see
	// SelectKeeping).
	CurrentPolicy string
	// NamespaceDeleting is true when the request's namespace is being deleted.
	NamespaceDeleting bool
	// Grantee is what is known of the ServiceAccount that receives the role.
	Grantee Grantee
}

// Grantee is the ServiceAccount named by a request, as the caller found it.
type Grantee struct {
	// Checked is true when the caller looked the ServiceAccount up; when
	// false (admission, the CLI) the rest is ignored.
	Checked bool
	// Exists is true when the ServiceAccount exists.
	Exists bool
	// UID and CreatedAt identify the ServiceAccount that exists.
	UID       string
	CreatedAt time.Time
	// RecordedUID is the UID recorded when access was granted
	// (status.serviceAccountUID); empty if none was.
	RecordedUID string
}

// Result is Evaluate's verdict on a request.
type Result struct {
	Policy      *accessv1alpha1.ApprovalPolicy
	Entitlement *accessv1alpha1.Entitlement
	Sensitivity accessv1alpha1.Sensitivity
	Violations  []Violation
	Tally       Tally
	Outcome     Outcome
	// GrantedAt and ExpiresAt bound the grant (set for Grant and Expired).
	GrantedAt time.Time
	ExpiresAt time.Time
	// RequeueAfter is when the outcome changes by time alone; zero if never.
	RequeueAfter time.Duration
	// StartsAt is when a scheduled grant starts (spec.startTime).
	StartsAt time.Time
	// Extensions are the extensions that moved ExpiresAt, in order.
	Extensions []accessv1alpha1.ExtensionRecord
	// RefusedExtensions says why an approved extension was not applied.
	RefusedExtensions map[string]string
	// EndReason and EndMessage say why access ended under OutcomeEnded:
	// ServiceAccountDeleted, ServiceAccountReplaced or NamespaceDeleted.
	EndReason  string
	EndMessage string
	// WaitReason and WaitMessage say why an approved request is not granted
	// yet under OutcomeWaiting (ServiceAccountNotFound, or ReviewOverdue
	// while the policy's overdue review suspends new grants).
	WaitReason  string
	WaitMessage string
}

// Evaluate decides what a live request's access should be now, from the
// request's immutable spec, the policies, the decisions and the clock. It
// never trusts a request's status: a request whose access already ended is
// the caller's to keep ended.
func Evaluate(in Input) Result {
	r := Result{}
	granted := !in.GrantedAt.IsZero()
	r.check(in, granted)
	if len(r.Violations) > 0 {
		r.Outcome = OutcomeInvalid
		if granted {
			r.Outcome = OutcomePolicyChanged
		}
		r.Tally = Tally{Tier: TierState{Index: -1}, Verdicts: invalidVerdicts(in.Request, in.Decisions, r.Violations[0])}
		return r
	}
	r.Tally = Count(TallyInput{Policy: r.Policy, Entitlement: r.Entitlement, Request: in.Request, Decisions: in.Decisions, Now: in.Now})
	r.follow(in, granted)
	if r.Outcome == OutcomeExtended {
		return r
	}
	// A grant that the current policy and decisions no longer approve is cut.
	if granted && (r.Outcome == OutcomePending || r.Outcome == OutcomeDenied || r.Outcome == OutcomeTimedOut) {
		r.Outcome = OutcomePolicyChanged
		r.RequeueAfter = 0
	}
	if r.Outcome == OutcomeGrant || r.Outcome == OutcomeScheduled {
		r.judgeSurroundings(in, granted)
	}
	if r.Outcome == OutcomeGrant && !granted {
		r.holdForReview(in)
	}
	return r
}

// check selects the request's policy and records every way the request
// fails it. A granted request keeps its grant when only its duration is
// now too long: a shorter maxDuration shortens it (see ExpiresAt).
func (r *Result) check(in Input, granted bool) {
	req := in.Request
	p, v := SelectKeeping(in.Policies, in.NamespaceLabels, req, in.CurrentPolicy)
	if v != nil {
		r.Violations = []Violation{*v}
		return
	}
	r.Policy = p
	r.Violations = Validate(p, req)
	r.Entitlement = FindEntitlement(p, req.Spec.RoleRef)
	if r.Entitlement != nil {
		r.Sensitivity = EffectiveSensitivity(req, r.Entitlement)
	}
	if !in.RoleExists {
		r.Violations = append(r.Violations, roleMissing(req))
	} else if v := RiskViolation(req, r.Entitlement, in.RoleRisks); v != nil {
		r.Violations = append(r.Violations, *v)
	}
	if req.Spec.Extends != "" {
		if v := validateExtends(p, req, in.Extends); v != nil {
			r.Violations = append(r.Violations, *v)
		}
	}
	if granted {
		r.Violations = slices.DeleteFunc(r.Violations, func(v Violation) bool {
			return v.Reason == accessv1alpha1.ReasonDurationTooLong
		})
	}
}

// follow turns the tally of a valid request into its outcome.
func (r *Result) follow(in Input, granted bool) {
	switch r.Tally.State {
	case StatePending:
		r.Outcome = OutcomePending
		if !r.Tally.NextChange.IsZero() {
			r.RequeueAfter = Until(in.Now, r.Tally.NextChange)
		}
	case StateDenied:
		r.Outcome = OutcomeDenied
	case StateTimedOut:
		r.Outcome = OutcomeTimedOut
	case StateRevoked:
		r.Outcome = OutcomeRevoked
	case StateApproved:
		r.approved(in, granted)
	}
}

// approved times an approved request: an extension holds no grant of its
// own, a scheduled one waits for its startTime, and a grant runs from when
// it was (or is now) granted until it expires.
func (r *Result) approved(in Input, granted bool) {
	req := in.Request
	if req.Spec.Extends != "" {
		r.Outcome = OutcomeExtended
		return
	}
	maxDuration := MaxDuration(r.Entitlement, req)
	if st := req.Spec.StartTime; st != nil {
		r.StartsAt = st.Truncate(time.Second)
		if !granted && in.Now.Before(r.StartsAt) {
			r.Outcome = OutcomeScheduled
			r.ExpiresAt = ExpiresAt(r.StartsAt, req.Spec.Duration.Duration, maxDuration)
			r.RequeueAfter = Until(in.Now, r.StartsAt)
			return
		}
	}
	r.GrantedAt = in.GrantedAt
	if !granted {
		// API timestamps have second precision; starting the grant on a
		// whole second keeps expiresAt the same after a round trip.
		r.GrantedAt = in.Now.Truncate(time.Second)
	}
	// A scheduled grant runs from its startTime, however late it began.
	from := r.GrantedAt
	if !r.StartsAt.IsZero() {
		from = r.StartsAt
	}
	r.ExpiresAt = ExpiresAt(from, req.Spec.Duration.Duration, maxDuration)
	if len(in.Extensions) > 0 {
		r.ExpiresAt, r.Extensions, r.RefusedExtensions = applyExtensions(
			r.ExpiresAt, in.Extensions, r.Policy.Spec.MaxExtensions, r.Entitlement.MaxDuration.Duration)
	}
	if in.Now.Before(r.ExpiresAt) {
		r.Outcome = OutcomeGrant
		r.RequeueAfter = Until(in.Now, r.ExpiresAt)
	} else {
		r.Outcome = OutcomeExpired
	}
}

// holdForReview keeps a new grant waiting while its policy's review is
// overdue and the policy suspends new grants (see HeldForReview). An
// attestation changes the policy's status, which re-evaluates the request.
func (r *Result) holdForReview(in Input) {
	s, held := HeldForReview(r.Policy, r.Entitlement, in.Request, in.Now)
	if !held {
		return
	}
	r.Outcome, r.RequeueAfter = OutcomeWaiting, 0
	r.GrantedAt, r.ExpiresAt = time.Time{}, time.Time{}
	r.WaitReason = accessv1alpha1.ReasonReviewOverdue
	r.WaitMessage = SuspendedMessage(r.Policy, s)
}

// judgeSurroundings ends or holds back a grant whose namespace or grantee
// ServiceAccount is gone or not there yet.
func (r *Result) judgeSurroundings(in Input, granted bool) {
	req := in.Request
	sa := ServiceAccountNamespace(req) + "/" + req.Spec.ServiceAccount.Name
	end := func(reason, msg string) {
		r.Outcome, r.EndReason, r.EndMessage, r.RequeueAfter = OutcomeEnded, reason, msg, 0
	}
	if in.NamespaceDeleting {
		end(accessv1alpha1.ReasonNamespaceDeleted, fmt.Sprintf("namespace %s is being deleted; access ended with it", req.Namespace))
		return
	}
	g := in.Grantee
	if !g.Checked || r.Outcome != OutcomeGrant {
		return
	}
	switch {
	case granted && !g.Exists:
		end(accessv1alpha1.ReasonServiceAccountDeleted, fmt.Sprintf(
			"ServiceAccount %s was deleted; its grant ended and a ServiceAccount re-created under that name does not inherit it", sa))
	case granted && g.RecordedUID != "" && g.UID != g.RecordedUID:
		end(accessv1alpha1.ReasonServiceAccountReplaced, fmt.Sprintf(
			"ServiceAccount %s was re-created (UID %s, granted to UID %s); the new ServiceAccount does not inherit the grant",
			sa, g.UID, g.RecordedUID))
	case granted && g.RecordedUID == "" && g.CreatedAt.After(in.GrantedAt):
		end(accessv1alpha1.ReasonServiceAccountReplaced, fmt.Sprintf(
			"ServiceAccount %s was created at %s, after access was granted at %s; the new ServiceAccount does not inherit the grant",
			sa, g.CreatedAt.UTC().Format(time.RFC3339), in.GrantedAt.UTC().Format(time.RFC3339)))
	case !granted && !g.Exists:
		r.Outcome, r.RequeueAfter = OutcomeWaiting, 0
		r.WaitReason = accessv1alpha1.ReasonServiceAccountNotFound
		r.WaitMessage = fmt.Sprintf("approved, but ServiceAccount %s does not exist; %s is granted when it is created", sa, req.Spec.RoleRef)
	}
}

func roleMissing(req *accessv1alpha1.AccessRequest) Violation {
	where := "in namespace " + req.Namespace
	if req.Spec.RoleRef.Kind == accessv1alpha1.RoleKindClusterRole {
		where = "in the cluster"
	}
	return Violation{
		Reason: accessv1alpha1.ReasonRoleNotFound, Field: FieldRoleRef,
		Message: fmt.Sprintf("%s does not exist %s; ask its owner to create it, or request another role from the catalog",
			req.Spec.RoleRef, where),
	}
}

// invalidVerdicts are the verdicts on the decisions of an invalid request:
// RequestNotPending, or RequestReplaced for a decision made for another
// request of the same name.
func invalidVerdicts(req *accessv1alpha1.AccessRequest, decisions []accessv1alpha1.AccessDecision, first Violation) map[string]Verdict {
	out := NotPending(decisions, "the request is not valid: "+first.Error())
	for i := range decisions {
		if v, ok := MadeForAnother(req, &decisions[i]); ok {
			out[decisions[i].Name] = v
		}
	}
	return out
}

// NotPending gives every decision the same RequestNotPending verdict.
func NotPending(decisions []accessv1alpha1.AccessDecision, message string) map[string]Verdict {
	out := make(map[string]Verdict, len(decisions))
	for _, d := range decisions {
		out[d.Name] = Verdict{Reason: accessv1alpha1.ReasonRequestNotPending, Message: message}
	}
	return out
}

// ExpiresAt is when a grant made at grantedAt ends: after the requested
// duration, and never later than the entitlement's maxDuration allows now.
func ExpiresAt(grantedAt time.Time, requested, maxDuration time.Duration) time.Time {
	return grantedAt.Add(min(requested, maxDuration))
}

// Until is how long from now until t, never negative.
func Until(now, t time.Time) time.Duration {
	return max(t.Sub(now), 0)
}
