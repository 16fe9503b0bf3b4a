package policy

import (
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

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

func TestOverlaps(t *testing.T) {
	namespaces := map[string]map[string]string{
		"payments": {"team": "payments"},
		"ledger":   {"team": "ledger"},
		"shared":   {"team": "payments", "shared": "yes"},
	}
	pol := func(name string, selector map[string]string, roles ...string) *accessv1alpha1.ApprovalPolicy {
		p := &accessv1alpha1.ApprovalPolicy{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name)}}
		p.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: selector}
		for _, r := range roles {
			p.Spec.Entitlements = append(p.Spec.Entitlements, accessv1alpha1.Entitlement{
				RoleRef: accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: r}, MaxDuration: dur(time.Hour)})
		}
		return p
	}
	deleting := pol("going", nil, "db-migrator")
	deleting.DeletionTimestamp = &metav1.Time{Time: t0}
	cases := []struct {
		name       string
		a, b       *accessv1alpha1.ApprovalPolicy
		overlap    bool
		roles      []string
		namespaces []string
	}{
		{name: "same namespaces and same role overlap",
			a: pol("a", map[string]string{"team": "payments"}, "db-migrator", "view"), b: pol("b", map[string]string{"team": "payments"}, "db-migrator"),
			overlap: true, roles: []string{"Role/db-migrator"}, namespaces: []string{"payments", "shared"}},
		{name: "a selector for all namespaces overlaps a narrower one where both apply",
			a: pol("a", nil, "db-migrator"), b: pol("b", map[string]string{"shared": "yes"}, "db-migrator"),
			overlap: true, roles: []string{"Role/db-migrator"}, namespaces: []string{"shared"}},
		{name: "same role in disjoint namespaces does not overlap",
			a: pol("a", map[string]string{"team": "payments"}, "db-migrator"), b: pol("b", map[string]string{"team": "ledger"}, "db-migrator")},
		{name: "same namespaces and different roles do not overlap",
			a: pol("a", map[string]string{"team": "payments"}, "db-migrator"), b: pol("b", map[string]string{"team": "payments"}, "view")},
		{name: "a policy does not overlap itself",
			a: pol("a", nil, "db-migrator"), b: pol("a", nil, "db-migrator")},
		{name: "a policy being deleted overlaps nothing",
			a: pol("a", nil, "db-migrator"), b: deleting},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, pair := range [][2]*accessv1alpha1.ApprovalPolicy{{tc.a, tc.b}, {tc.b, tc.a}} {
				o, ok := Overlaps(pair[0], pair[1], namespaces)
				if ok != tc.overlap {
					t.Fatalf("Overlaps(%s, %s) = %v, want %v", pair[0].Name, pair[1].Name, ok, tc.overlap)
				}
				var roles []string
				for _, r := range o.Roles {
					roles = append(roles, r.String())
				}
				if !slices.Equal(roles, tc.roles) || !slices.Equal(o.Namespaces, tc.namespaces) {
					t.Errorf("overlap = %v in %v, want %v in %v", roles, o.Namespaces, tc.roles, tc.namespaces)
				}
			}
		})
	}
}

func TestWeaker(t *testing.T) {
	ref := migrateRequest().Spec.RoleRef
	strict := paymentsPolicy()
	cases := []struct {
		name   string
		mutate func(*accessv1alpha1.ApprovalPolicy)
		want   []string
	}{
		{name: "an identical policy is not weaker", mutate: func(*accessv1alpha1.ApprovalPolicy) {}},
		{name: "auto-approval is weaker", mutate: func(p *accessv1alpha1.ApprovalPolicy) {
			FindEntitlement(p, ref).AutoApprove = true
		}, want: []string{"Role/db-migrator is auto-approved", "approvals in all"}},
		{name: "a longer maxDuration is weaker", mutate: func(p *accessv1alpha1.ApprovalPolicy) {
			FindEntitlement(p, ref).MaxDuration = dur(24 * time.Hour)
		}, want: []string{"maxDuration 24h0m0s is longer than 1h0m0s"}},
		{name: "a lower sensitivity floor is weaker", mutate: func(p *accessv1alpha1.ApprovalPolicy) {
			FindEntitlement(p, ref).Sensitivity = accessv1alpha1.SensitivityLow
		}, want: []string{"sensitivity floor low is lower than high", "1 approvals in all instead of 2"}},
		{name: "no required justification and fewer tags are weaker", mutate: func(p *accessv1alpha1.ApprovalPolicy) {
			p.Spec.RequireJustification = new(bool)
			p.Spec.RequiredTags = nil
		}, want: []string{"no justification is required", "0 required tags instead of 5"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			weak := paymentsPolicy()
			weak.Name = "weak"
			tc.mutate(weak)
			got := Weaker(weak, strict, ref)
			if len(got) != len(tc.want) {
				t.Fatalf("Weaker = %q, want %d findings like %q", got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("finding %d = %q, want it to contain %q", i, got[i], w)
				}
			}
			if back := Weaker(strict, weak, ref); len(tc.want) > 0 && len(back) != 0 {
				t.Errorf("the stricter policy is reported weaker: %q", back)
			}
		})
	}
	if got := Weaker(strict, strict, accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "nope"}); got != nil {
		t.Errorf("Weaker for a role neither catalog holds = %q, want nil", got)
	}
}
