package policy

import (
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

const (
	approve = accessv1alpha1.DecisionApprove
	deny    = accessv1alpha1.DecisionDeny
	revoke  = accessv1alpha1.DecisionRevoke
)

func TestCount(t *testing.T) {
	medium := func(r *accessv1alpha1.AccessRequest) {
		withRole(r, accessv1alpha1.RoleKindRole, "config-reader", "medium")
	}
	cases := []struct {
		name      string
		policy    func(*accessv1alpha1.ApprovalPolicy)
		request   func(*accessv1alpha1.AccessRequest)
		decisions []accessv1alpha1.AccessDecision
		now       time.Duration // after t0
		endedAt   time.Duration // after t0; 0 = not ended
		state     State
		tier      string
		escalated bool
		decidedAt time.Duration
		verdicts  map[string]string // decision name -> reason
		records   []string          // reviewer/decision/tier
		next      time.Duration     // NextChange after t0 while pending; 0 = the pendingTimeout
	}{
		{name: "a request with no decisions waits for its deciding tier",
			now: time.Minute, state: StatePending, tier: "security"},
		{name: "the authority bound skips a tier that may not decide the sensitivity",
			now: time.Minute, state: StatePending, tier: "security"},
		{name: "a request within a tier's authority is decided by it and escalates on time",
			request: medium, now: time.Minute, state: StatePending, tier: "app-owners", next: 30 * time.Minute},
		{name: "an auto-approved entitlement is approved by the policy at creation",
			request: func(r *accessv1alpha1.AccessRequest) { withRole(r, accessv1alpha1.RoleKindClusterRole, "view", "low") },
			now:     time.Second, state: StateApproved, records: []string{"ApprovalPolicy/payments/Approve/"}},
		{name: "a two-approval tier is not satisfied by one reviewer",
			decisions: []accessv1alpha1.AccessDecision{decision("d1", "carol", security, approve, time.Minute)},
			now:       2 * time.Minute, state: StatePending, tier: "security",
			verdicts: map[string]string{"d1": "Counted"}, records: []string{"carol/Approve/security"}},
		{name: "a two-approval tier is satisfied by two distinct reviewers",
			decisions: []accessv1alpha1.AccessDecision{
				decision("d1", "carol", security, approve, time.Minute),
				decision("d2", "erin", security, approve, 2*time.Minute)},
			now: 3 * time.Minute, state: StateApproved, tier: "security", decidedAt: 2 * time.Minute,
			verdicts: map[string]string{"d1": "Counted", "d2": "Counted"},
			records:  []string{"carol/Approve/security", "erin/Approve/security"}},
		{name: "a revoke in the same second as the deciding approval comes after it, whatever the names",
			decisions: []accessv1alpha1.AccessDecision{
				decision("m-zz", "carol", security, approve, time.Minute),
				decision("m-zy", "erin", security, approve, 2*time.Minute),
				decision("m-aa", "dave", nil, accessv1alpha1.DecisionRevoke, 2*time.Minute)},
			now: 3 * time.Minute, state: StateRevoked, decidedAt: 2 * time.Minute,
			verdicts: map[string]string{"m-zz": "Counted", "m-zy": "Counted", "m-aa": "Counted"},
			records:  []string{"carol/Approve/security", "erin/Approve/security", "dave/Revoke/"}},
		{name: "one reviewer approving twice counts once",
			decisions: []accessv1alpha1.AccessDecision{
				decision("d1", "carol", security, approve, time.Minute),
				decision("d2", "carol", security, approve, 2*time.Minute)},
			now: 3 * time.Minute, state: StatePending,
			verdicts: map[string]string{"d1": "Counted", "d2": "Duplicate"}},
		{name: "the requester may not approve their own request even through an approver group",
			decisions: []accessv1alpha1.AccessDecision{decision("d1", "dave", security, approve, time.Minute)},
			now:       2 * time.Minute, state: StatePending,
			verdicts: map[string]string{"d1": "SelfApproval"}},
		{name: "a reviewer of a lower tier may not approve above its authority",
			decisions: []accessv1alpha1.AccessDecision{decision("d1", "alice", nil, approve, time.Minute)},
			now:       2 * time.Minute, state: StatePending,
			verdicts: map[string]string{"d1": "NotEligible"}},
		{name: "a reviewer in no tier is not eligible",
			decisions: []accessv1alpha1.AccessDecision{decision("d1", "mallory", []string{"system:authenticated"}, approve, time.Minute)},
			now:       2 * time.Minute, state: StatePending,
			verdicts: map[string]string{"d1": "NotEligible"}},
		{name: "a later tier may approve for an earlier one",
			request:   medium,
			decisions: []accessv1alpha1.AccessDecision{decision("d1", "carol", security, approve, time.Minute)},
			now:       2 * time.Minute, state: StateApproved, tier: "app-owners", decidedAt: time.Minute,
			records: []string{"carol/Approve/security"}},
		{name: "a decision without a reviewer never counts",
			decisions: []accessv1alpha1.AccessDecision{func() accessv1alpha1.AccessDecision {
				d := decision("d1", "carol", security, approve, time.Minute)
				d.Spec.Reviewer = nil
				return d
			}()},
			now: 2 * time.Minute, state: StatePending, verdicts: map[string]string{"d1": "ReviewerMissing"}},
		{name: "a deny from an eligible reviewer is terminal",
			decisions: []accessv1alpha1.AccessDecision{
				decision("d1", "carol", security, deny, time.Minute),
				decision("d2", "erin", security, approve, 2*time.Minute),
				decision("d3", "frank", security, approve, 3*time.Minute)},
			now: 4 * time.Minute, state: StateDenied, decidedAt: time.Minute,
			verdicts: map[string]string{"d1": "Counted", "d2": "RequestNotPending", "d3": "RequestNotPending"}},
		{name: "a deny from an ineligible reviewer does not end the request",
			decisions: []accessv1alpha1.AccessDecision{decision("d1", "mallory", nil, deny, time.Minute)},
			now:       2 * time.Minute, state: StatePending, verdicts: map[string]string{"d1": "NotEligible"}},
		{name: "decisions count in creation order whatever their names",
			decisions: []accessv1alpha1.AccessDecision{
				decision("a-approve", "erin", security, approve, 3*time.Minute),
				decision("z-deny", "carol", security, deny, time.Minute)},
			now: 4 * time.Minute, state: StateDenied,
			verdicts: map[string]string{"z-deny": "Counted", "a-approve": "RequestNotPending"}},
		{name: "escalation happens at exactly escalateAfter",
			request: medium, now: 30 * time.Minute, state: StatePending, tier: "security", escalated: true},
		{name: "after escalation the earlier tier may no longer approve",
			request:   medium,
			decisions: []accessv1alpha1.AccessDecision{decision("d1", "alice", nil, approve, 31*time.Minute)},
			now:       32 * time.Minute, state: StatePending, tier: "security", escalated: true,
			verdicts: map[string]string{"d1": "NotEligible"}},
		{name: "an approval before escalation decides the request",
			request:   medium,
			decisions: []accessv1alpha1.AccessDecision{decision("d1", "alice", nil, approve, 29*time.Minute)},
			now:       time.Hour, state: StateApproved, tier: "app-owners", decidedAt: 29 * time.Minute},
		{name: "escalation completes an approval the new tier already gave",
			request: medium,
			policy: func(p *accessv1alpha1.ApprovalPolicy) {
				p.Spec.Approvers[0].RequiredApprovals = 2
				p.Spec.Approvers[1].RequiredApprovals = 1
			},
			decisions: []accessv1alpha1.AccessDecision{decision("d1", "carol", security, approve, time.Minute)},
			now:       time.Hour, state: StateApproved, tier: "security", escalated: true, decidedAt: 30 * time.Minute},
		{name: "escalation runs through several tiers",
			request: medium,
			policy: func(p *accessv1alpha1.ApprovalPolicy) {
				p.Spec.Approvers[1].EscalateAfter = ptr.To(dur(time.Hour))
				p.Spec.Approvers = append(p.Spec.Approvers, accessv1alpha1.ApproverTier{Name: "ciso", RequiredApprovals: 1,
					Subjects: []accessv1alpha1.Subject{{Kind: accessv1alpha1.SubjectUser, Name: "grace"}}})
			},
			now: 2 * time.Hour, state: StatePending, tier: "ciso", escalated: true},
		{name: "a request undecided past pendingTimeout times out",
			now: 73 * time.Hour, state: StateTimedOut, decidedAt: 72 * time.Hour},
		{name: "decisions after the timeout do not count",
			decisions: []accessv1alpha1.AccessDecision{
				decision("d1", "carol", security, approve, 72*time.Hour),
				decision("d2", "erin", security, approve, 72*time.Hour+time.Second)},
			now: 73 * time.Hour, state: StateTimedOut,
			verdicts: map[string]string{"d1": "RequestNotPending", "d2": "RequestNotPending"}},
		{name: "the requester may revoke their own grant",
			request:   func(r *accessv1alpha1.AccessRequest) { withRole(r, accessv1alpha1.RoleKindClusterRole, "view", "low") },
			decisions: []accessv1alpha1.AccessDecision{decision("d1", "dave", nil, revoke, time.Minute)},
			now:       2 * time.Minute, state: StateRevoked, decidedAt: time.Minute,
			verdicts: map[string]string{"d1": "Counted"}},
		{name: "an eligible reviewer may revoke a grant",
			request:   func(r *accessv1alpha1.AccessRequest) { withRole(r, accessv1alpha1.RoleKindClusterRole, "view", "low") },
			decisions: []accessv1alpha1.AccessDecision{decision("d1", "bob", owners, revoke, time.Minute)},
			now:       2 * time.Minute, state: StateRevoked,
			verdicts: map[string]string{"d1": "Counted"}},
		{name: "someone else may not revoke a grant",
			request:   func(r *accessv1alpha1.AccessRequest) { withRole(r, accessv1alpha1.RoleKindClusterRole, "view", "low") },
			decisions: []accessv1alpha1.AccessDecision{decision("d1", "mallory", nil, revoke, time.Minute)},
			now:       2 * time.Minute, state: StateApproved,
			verdicts: map[string]string{"d1": "NotEligible"}},
		{name: "a pending request cannot be revoked",
			decisions: []accessv1alpha1.AccessDecision{decision("d1", "carol", security, revoke, time.Minute)},
			now:       2 * time.Minute, state: StatePending,
			verdicts: map[string]string{"d1": "RequestNotPending"}},
		{name: "an approval of an auto-approved request does not count",
			request:   func(r *accessv1alpha1.AccessRequest) { withRole(r, accessv1alpha1.RoleKindClusterRole, "view", "low") },
			decisions: []accessv1alpha1.AccessDecision{decision("d1", "bob", owners, approve, time.Minute)},
			now:       2 * time.Minute, state: StateApproved,
			verdicts: map[string]string{"d1": "RequestNotPending"}},
		{name: "decisions after access ended do not count",
			request:   func(r *accessv1alpha1.AccessRequest) { withRole(r, accessv1alpha1.RoleKindClusterRole, "view", "low") },
			decisions: []accessv1alpha1.AccessDecision{decision("d1", "dave", nil, revoke, 2*time.Hour)},
			now:       3 * time.Hour, endedAt: time.Hour, state: StateApproved,
			verdicts: map[string]string{"d1": "RequestNotPending"}},
		{name: "a trusted submitter's decision does not count unless a tier lists it",
			decisions: []accessv1alpha1.AccessDecision{
				decision("d1", "system:serviceaccount:argocd:argocd-application-controller",
					[]string{"system:serviceaccounts", "system:serviceaccounts:argocd"}, approve, time.Minute)},
			now: 2 * time.Minute, state: StatePending, verdicts: map[string]string{"d1": "NotEligible"}},
		{name: "a trusted submitter's decision counts where a tier lists it",
			policy: func(p *accessv1alpha1.ApprovalPolicy) {
				p.Spec.Approvers[1].RequiredApprovals = 1
				p.Spec.Approvers[1].Subjects = append(p.Spec.Approvers[1].Subjects, accessv1alpha1.Subject{
					Kind: accessv1alpha1.SubjectServiceAccount, Namespace: "argocd", Name: "argocd-application-controller"})
			},
			decisions: []accessv1alpha1.AccessDecision{
				decision("d1", "system:serviceaccount:argocd:argocd-application-controller", nil, approve, time.Minute)},
			now: 2 * time.Minute, state: StateApproved, verdicts: map[string]string{"d1": "Counted"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, req := example(tc.policy, tc.request)
			if vs := Validate(p, req); len(vs) > 0 {
				t.Fatalf("fixture is invalid: %v", vs)
			}
			in := TallyInput{Policy: p, Entitlement: FindEntitlement(p, req.Spec.RoleRef), Request: req,
				Decisions: tc.decisions, Now: t0.Add(tc.now)}
			if tc.endedAt != 0 {
				in.EndedAt = t0.Add(tc.endedAt)
			}
			got := Count(in)
			if got.State != tc.state {
				t.Fatalf("state = %s, want %s (verdicts %v)", got.State, tc.state, got.Verdicts)
			}
			if tc.tier != "" {
				if got.Tier.Index < 0 || p.Spec.Approvers[got.Tier.Index].Name != tc.tier {
					t.Errorf("tier = %d, want %s", got.Tier.Index, tc.tier)
				}
			}
			if got.Tier.Escalated != tc.escalated {
				t.Errorf("escalated = %v, want %v", got.Tier.Escalated, tc.escalated)
			}
			if tc.decidedAt != 0 && !got.DecidedAt.Equal(t0.Add(tc.decidedAt)) {
				t.Errorf("decidedAt = %s, want t0+%s", got.DecidedAt, tc.decidedAt)
			}
			for name, reason := range tc.verdicts {
				v, ok := got.Verdicts[name]
				if !ok || v.Reason != reason || v.Counted != (reason == accessv1alpha1.ReasonCounted) || v.Message == "" {
					t.Errorf("verdict[%s] = %+v, want %s with a message", name, v, reason)
				}
			}
			if tc.records != nil {
				var recs []string
				for _, r := range got.Records {
					recs = append(recs, r.Reviewer+"/"+string(r.Decision)+"/"+r.Tier)
				}
				if strings.Join(recs, ",") != strings.Join(tc.records, ",") {
					t.Errorf("records = %v, want %v", recs, tc.records)
				}
			}
			wantNext := t0.Add(72 * time.Hour) // the policy's pendingTimeout
			if tc.next != 0 {
				wantNext = t0.Add(tc.next)
			}
			if tc.state == StatePending && !got.NextChange.Equal(wantNext) {
				t.Errorf("next change = %s, want %s", got.NextChange, wantNext)
			}
		})
	}
}

func TestVerdictMessagesNameWhoMayDecide(t *testing.T) {
	req := migrateRequest()
	p := paymentsPolicy()
	got := Count(TallyInput{Policy: p, Entitlement: FindEntitlement(p, req.Spec.RoleRef), Request: req, Now: t0.Add(time.Hour),
		Decisions: []accessv1alpha1.AccessDecision{decision("d1", "alice", nil, approve, time.Minute)}})
	msg := got.Verdicts["d1"].Message
	for _, want := range []string{"alice is not in the deciding tier", "tier security decides", "Group security-oncall"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not contain %q", msg, want)
		}
	}
}
