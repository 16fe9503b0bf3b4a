package policy

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// Rules that keep decisions and policies bound to what they judged, and
// grants bound to the ServiceAccount and namespace they were made in.

func TestDecisionsCountOnlyForTheRequestTheyWereMadeFor(t *testing.T) {
	withUID := func(d accessv1alpha1.AccessDecision, uid string) accessv1alpha1.AccessDecision {
		d.Spec.RequestUID = uid
		return d
	}
	cases := []struct {
		name      string
		decisions []accessv1alpha1.AccessDecision
		state     State
		verdicts  map[string]string // decision -> reason
	}{
		{name: "approvals recorded for this request's UID count",
			decisions: []accessv1alpha1.AccessDecision{
				withUID(decision("d1", "carol", security, approve, time.Minute), "req-uid"),
				withUID(decision("d2", "erin", security, approve, 2*time.Minute), "req-uid")},
			state:    StateApproved,
			verdicts: map[string]string{"d1": accessv1alpha1.ReasonCounted, "d2": accessv1alpha1.ReasonCounted}},
		{name: "approvals made for an earlier request of the same name do not count",
			decisions: []accessv1alpha1.AccessDecision{
				withUID(decision("d1", "carol", security, approve, time.Minute), "old-uid"),
				withUID(decision("d2", "erin", security, approve, 2*time.Minute), "old-uid")},
			state:    StatePending,
			verdicts: map[string]string{"d1": accessv1alpha1.ReasonRequestReplaced, "d2": accessv1alpha1.ReasonRequestReplaced}},
		{name: "a deny made for an earlier request does not end this one",
			decisions: []accessv1alpha1.AccessDecision{withUID(decision("d1", "carol", security, deny, time.Minute), "old-uid")},
			state:     StatePending,
			verdicts:  map[string]string{"d1": accessv1alpha1.ReasonRequestReplaced}},
		{name: "a decision without a recorded UID counts when it was made after the request was created",
			decisions: []accessv1alpha1.AccessDecision{
				decision("d1", "carol", security, approve, 0),
				decision("d2", "erin", security, approve, time.Minute)},
			state:    StateApproved,
			verdicts: map[string]string{"d1": accessv1alpha1.ReasonCounted, "d2": accessv1alpha1.ReasonCounted}},
		{name: "a decision without a recorded UID made before the request was created does not count",
			decisions: []accessv1alpha1.AccessDecision{
				decision("d1", "carol", security, approve, -time.Minute),
				decision("d2", "erin", security, approve, time.Minute)},
			state:    StatePending,
			verdicts: map[string]string{"d1": accessv1alpha1.ReasonRequestReplaced, "d2": accessv1alpha1.ReasonCounted}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, req := example(nil, func(r *accessv1alpha1.AccessRequest) { r.UID = "req-uid" })
			tally := Count(TallyInput{Policy: p, Entitlement: FindEntitlement(p, req.Spec.RoleRef), Request: req,
				Decisions: tc.decisions, Now: t0.Add(time.Hour)})
			if tally.State != tc.state {
				t.Errorf("state = %s, want %s", tally.State, tc.state)
			}
			for name, reason := range tc.verdicts {
				v := tally.Verdicts[name]
				if v.Reason != reason {
					t.Errorf("verdict of %s = %+v, want reason %s", name, v, reason)
				}
				if reason == accessv1alpha1.ReasonRequestReplaced && (v.Counted || !strings.Contains(v.Message, "new AccessDecision")) {
					t.Errorf("verdict of %s = %+v, want not counted and the fix named", name, v)
				}
			}
		})
	}
}

func TestAnInvalidRequestStillTellsAReplacedDecisionSo(t *testing.T) {
	req := migrateRequest()
	req.UID = "new-uid"
	old := decision("d1", "carol", security, approve, time.Minute)
	old.Spec.RequestUID = "old-uid"
	mine := decision("d2", "erin", security, approve, time.Minute)
	mine.Spec.RequestUID = "new-uid"
	r := Evaluate(Input{Request: req, NamespaceLabels: paymentsNS, Decisions: []accessv1alpha1.AccessDecision{old, mine},
		RoleExists: true, Now: t0.Add(time.Hour)})
	if r.Outcome != OutcomeInvalid {
		t.Fatalf("outcome = %s, want Invalid (no policy)", r.Outcome)
	}
	if got := r.Tally.Verdicts["d1"].Reason; got != accessv1alpha1.ReasonRequestReplaced {
		t.Errorf("verdict of the old decision = %s, want RequestReplaced", got)
	}
	if got := r.Tally.Verdicts["d2"].Reason; got != accessv1alpha1.ReasonRequestNotPending {
		t.Errorf("verdict of this request's decision = %s, want RequestNotPending", got)
	}
}

func TestMadeForAnotherNamesBothUIDs(t *testing.T) {
	req := migrateRequest()
	req.UID = "new-uid"
	d := decision("d1", "carol", security, approve, time.Minute)
	d.Spec.RequestUID = "old-uid"
	v, ok := MadeForAnother(req, &d)
	if !ok || !strings.Contains(v.Message, "old-uid") || !strings.Contains(v.Message, "new-uid") {
		t.Fatalf("MadeForAnother = %+v, %v; want replaced, naming both UIDs", v, ok)
	}
	d.Spec.RequestUID = "new-uid"
	if _, ok := MadeForAnother(req, &d); ok {
		t.Fatal("a decision recorded for this request's UID must count for it")
	}
}

func TestAGrantKeepsThePolicyThatApprovedIt(t *testing.T) {
	// weaker allows the same role in the same namespace, auto-approved.
	weaker := func() accessv1alpha1.ApprovalPolicy {
		p := *paymentsPolicy()
		p.Name = "weaker"
		p.Spec.Entitlements = []accessv1alpha1.Entitlement{{RoleRef: migrateRequest().Spec.RoleRef,
			MaxDuration: dur(8 * time.Hour), AutoApprove: true}}
		return p
	}
	approvals := []accessv1alpha1.AccessDecision{
		decision("d1", "carol", security, approve, time.Minute),
		decision("d2", "erin", security, approve, 2*time.Minute),
	}
	cases := []struct {
		name      string
		policies  []accessv1alpha1.ApprovalPolicy
		current   string
		granted   bool
		decisions []accessv1alpha1.AccessDecision
		outcome   Outcome
		policy    string
		reason    string
	}{
		{name: "an active grant stays governed by its policy when an overlapping one is added",
			policies: []accessv1alpha1.ApprovalPolicy{*paymentsPolicy(), weaker()}, current: "payments",
			granted: true, decisions: approvals, outcome: OutcomeGrant, policy: "payments"},
		{name: "a pending request routed to a policy stays valid when an overlapping one is added",
			policies: []accessv1alpha1.ApprovalPolicy{*paymentsPolicy(), weaker()}, current: "payments",
			outcome: OutcomePending, policy: "payments"},
		{name: "a request never routed is ambiguous between two overlapping policies",
			policies: []accessv1alpha1.ApprovalPolicy{*paymentsPolicy(), weaker()},
			outcome:  OutcomeInvalid, reason: accessv1alpha1.ReasonAmbiguousPolicy},
		{name: "a recorded policy that no longer allows the role does not hold: the grant is cut",
			policies: []accessv1alpha1.ApprovalPolicy{func() accessv1alpha1.ApprovalPolicy {
				p := *paymentsPolicy()
				p.Spec.Entitlements = p.Spec.Entitlements[:1]
				return p
			}()}, current: "payments", granted: true, decisions: approvals,
			outcome: OutcomePolicyChanged, reason: accessv1alpha1.ReasonRoleNotInCatalog},
		{name: "a recorded policy that was deleted does not hold, and the remaining one takes over",
			policies: []accessv1alpha1.ApprovalPolicy{weaker()}, current: "payments", granted: true,
			outcome: OutcomeGrant, policy: "weaker"},
		{name: "a recorded policy name that does not govern the namespace routes nowhere",
			policies: []accessv1alpha1.ApprovalPolicy{*paymentsPolicy(), weaker()}, current: "elsewhere",
			outcome: OutcomeInvalid, reason: accessv1alpha1.ReasonAmbiguousPolicy},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Request: migrateRequest(), Policies: tc.policies, NamespaceLabels: paymentsNS, Decisions: tc.decisions,
				RoleExists: true, Now: t0.Add(10 * time.Minute), CurrentPolicy: tc.current}
			if tc.granted {
				in.GrantedAt = t0.Add(3 * time.Minute)
			}
			r := Evaluate(in)
			if r.Outcome != tc.outcome {
				t.Fatalf("outcome = %s, want %s (violations %v)", r.Outcome, tc.outcome, r.Violations)
			}
			if tc.policy != "" && (r.Policy == nil || r.Policy.Name != tc.policy) {
				t.Errorf("policy = %v, want %s", r.Policy, tc.policy)
			}
			if tc.reason != "" && (len(r.Violations) == 0 || r.Violations[0].Reason != tc.reason) {
				t.Errorf("violations = %v, want first reason %s", r.Violations, tc.reason)
			}
		})
	}
}

func TestGrantsEndWithTheirServiceAccountAndNamespace(t *testing.T) {
	created := t0.Add(-time.Hour)
	sa := Grantee{Checked: true, Exists: true, UID: "sa-1", CreatedAt: created}
	cases := []struct {
		name      string
		grantee   Grantee
		granted   bool
		deleting  bool
		scheduled bool
		outcome   Outcome
		reason    string // EndReason or WaitReason
		contains  string
	}{
		{name: "a grant to an existing ServiceAccount stands", grantee: sa, granted: true, outcome: OutcomeGrant},
		{name: "a grant whose ServiceAccount was deleted ends",
			grantee: Grantee{Checked: true, RecordedUID: "sa-1"}, granted: true,
			outcome: OutcomeEnded, reason: accessv1alpha1.ReasonServiceAccountDeleted, contains: "payments/ledger-migrator was deleted"},
		{name: "a grant whose ServiceAccount was re-created under the same name ends",
			grantee: Grantee{Checked: true, Exists: true, UID: "sa-2", CreatedAt: t0.Add(5 * time.Minute), RecordedUID: "sa-1"},
			granted: true, outcome: OutcomeEnded, reason: accessv1alpha1.ReasonServiceAccountReplaced, contains: "UID sa-2, granted to UID sa-1"},
		{name: "a grant with no recorded UID ends when its ServiceAccount is younger than the grant",
			grantee: Grantee{Checked: true, Exists: true, UID: "sa-2", CreatedAt: t0.Add(5 * time.Minute)},
			granted: true, outcome: OutcomeEnded, reason: accessv1alpha1.ReasonServiceAccountReplaced, contains: "after access was granted"},
		{name: "a grant with no recorded UID stands when its ServiceAccount is older than the grant",
			grantee: Grantee{Checked: true, Exists: true, UID: "sa-1", CreatedAt: created}, granted: true, outcome: OutcomeGrant},
		{name: "an approved request waits for a ServiceAccount that does not exist yet",
			grantee: Grantee{Checked: true}, outcome: OutcomeWaiting, reason: accessv1alpha1.ReasonServiceAccountNotFound,
			contains: "payments/ledger-migrator does not exist"},
		{name: "an approved request for an existing ServiceAccount is granted", grantee: sa, outcome: OutcomeGrant},
		{name: "a grant whose ServiceAccount was not looked up stands (admission and the CLI do not look)",
			grantee: Grantee{}, granted: true, outcome: OutcomeGrant},
		{name: "a grant in a namespace being deleted ends at once", grantee: sa, granted: true, deleting: true,
			outcome: OutcomeEnded, reason: accessv1alpha1.ReasonNamespaceDeleted, contains: "namespace payments is being deleted"},
		{name: "a scheduled request in a namespace being deleted ends", grantee: sa, deleting: true, scheduled: true,
			outcome: OutcomeEnded, reason: accessv1alpha1.ReasonNamespaceDeleted},
		{name: "a scheduled request does not wait for its ServiceAccount before its start",
			grantee: Grantee{Checked: true}, scheduled: true, outcome: OutcomeScheduled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, req := example(nil, func(r *accessv1alpha1.AccessRequest) {
				withRole(r, accessv1alpha1.RoleKindClusterRole, "view", "low")
				if tc.scheduled {
					r.Spec.StartTime = &metav1.Time{Time: t0.Add(time.Hour)}
				}
			})
			in := Input{Request: req, Policies: []accessv1alpha1.ApprovalPolicy{*p}, NamespaceLabels: paymentsNS,
				RoleExists: true, Now: t0.Add(10 * time.Minute), Grantee: tc.grantee, NamespaceDeleting: tc.deleting}
			if tc.granted {
				in.GrantedAt = t0
			}
			r := Evaluate(in)
			if r.Outcome != tc.outcome {
				t.Fatalf("outcome = %s, want %s (violations %v)", r.Outcome, tc.outcome, r.Violations)
			}
			got, msg := r.EndReason, r.EndMessage
			if r.Outcome == OutcomeWaiting {
				got, msg = r.WaitReason, r.WaitMessage
			}
			if got != tc.reason || !strings.Contains(msg, tc.contains) {
				t.Errorf("reason %q (%q), want %q containing %q", got, msg, tc.reason, tc.contains)
			}
			if (r.Outcome == OutcomeEnded || r.Outcome == OutcomeWaiting) && r.RequeueAfter != 0 {
				t.Errorf("RequeueAfter = %s, want none: nothing changes by time alone", r.RequeueAfter)
			}
		})
	}
}
