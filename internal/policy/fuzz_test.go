package policy

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// fuzzReviewers are the people a fuzzed decision can come from: the
// requester (dave), owners, security, an outsider and an identity-less one.
var fuzzReviewers = []struct {
	name   string
	groups []string
}{
	{"dave", []string{"payments-devs", "security-oncall"}},
	{"bob", owners},
	{"alice", nil},
	{"carol", security},
	{"erin", security},
	{"frank", security},
	{"mallory", []string{"system:authenticated"}},
	{"", nil},
}

var fuzzDecisions = []accessv1alpha1.DecisionType{approve, deny, revoke, accessv1alpha1.DecisionAcknowledge}

// FuzzCount replays arbitrary sequences of decisions, at arbitrary times,
// against SPEC's example policy and checks the rules that must hold
// whatever happens: the requester never counts, a reviewer counts once,
// only eligible reviewers count, approval needs the threshold, and the
// outcome is the same however often it is computed. The high bit of
// sensitivity makes the request break-glass: then it is approved without
// approvals and acknowledged at most once, never by the requester.
func FuzzCount(f *testing.F) {
	f.Add([]byte{3, 0, 10, 4, 0, 20}, uint8(2), false)       // two security approvals
	f.Add([]byte{0, 0, 5, 3, 1, 6}, uint8(1), false)         // self-approval, then a deny
	f.Add([]byte{1, 0, 1, 1, 0, 2, 3, 2, 9}, uint8(0), true) // owners on a medium request, revoke
	f.Add([]byte{3, 0, 200, 3, 0, 201, 4, 0, 255}, uint8(3), false)
	f.Add([]byte{0, 3, 1, 2, 3, 2, 3, 3, 3, 4, 3, 4, 3, 2, 9}, uint8(0x82), false) // break-glass: self, ineligible, then two acks and a revoke
	f.Fuzz(func(t *testing.T, script []byte, sensitivity uint8, medium bool) {
		p := paymentsPolicy()
		req := migrateRequest()
		if medium {
			withRole(req, accessv1alpha1.RoleKindRole, "config-reader", "medium")
		}
		req.Spec.Tags["sensitivity"] = string(accessv1alpha1.Sensitivities[int(sensitivity&0x7f)%len(accessv1alpha1.Sensitivities)])
		breakGlass := sensitivity&0x80 != 0
		if breakGlass {
			for i := range p.Spec.Entitlements {
				p.Spec.Entitlements[i].BreakGlass = &accessv1alpha1.BreakGlass{MaxDuration: dur(time.Hour)}
			}
			req.Spec.Tags["type"] = accessv1alpha1.BreakGlassTagValue
		}
		var decisions []accessv1alpha1.AccessDecision
		for i := 0; i+2 < len(script) && len(decisions) < 32; i += 3 {
			r := fuzzReviewers[int(script[i])%len(fuzzReviewers)]
			d := decision(fmt.Sprintf("d%02d", len(decisions)), r.name, r.groups,
				fuzzDecisions[int(script[i+1])%len(fuzzDecisions)], time.Duration(script[i+2])*time.Minute)
			if r.name == "" {
				d.Spec.Reviewer = nil
			}
			decisions = append(decisions, d)
		}
		in := TallyInput{Policy: p, Entitlement: FindEntitlement(p, req.Spec.RoleRef), Request: req, Decisions: decisions,
			Now: t0.Add(5 * time.Hour)}
		got := Count(in)
		if again := Count(in); again.State != got.State || len(again.Records) != len(got.Records) {
			t.Fatalf("counting is not deterministic: %s then %s", got.State, again.State)
		}

		if got.BreakGlass != breakGlass {
			t.Fatalf("breakGlass = %v for a request tagged break-glass %v", got.BreakGlass, breakGlass)
		}
		seen := map[string]bool{}
		approvals, acks := 0, 0
		for _, rec := range got.Records {
			if rec.Decision == accessv1alpha1.DecisionAcknowledge {
				acks++
				if !breakGlass || rec.Reviewer == "dave" || rec.Reviewer == "mallory" || rec.Reviewer == "" {
					t.Fatalf("acknowledgement by %q counted (break-glass %v)", rec.Reviewer, breakGlass)
				}
				continue
			}
			if breakGlass && rec.Decision == accessv1alpha1.DecisionApprove && rec.Reviewer != AutoApprover(p) {
				t.Fatalf("%s's approval counted on a break-glass request", rec.Reviewer)
			}
			if rec.Reviewer == AutoApprover(p) {
				continue
			}
			if rec.Reviewer == "dave" && rec.Decision != accessv1alpha1.DecisionRevoke {
				t.Fatalf("the requester's %s counted", rec.Decision)
			}
			if rec.Decision == accessv1alpha1.DecisionApprove {
				if seen[rec.Reviewer] {
					t.Fatalf("%s's approval counted twice", rec.Reviewer)
				}
				seen[rec.Reviewer] = true
				approvals++
				if rec.Reviewer == "mallory" || rec.Reviewer == "" {
					t.Fatalf("ineligible %q counted", rec.Reviewer)
				}
			}
		}
		counted := 0
		for _, v := range got.Verdicts {
			if v.Counted {
				counted++
			}
			if v.Message == "" || v.Reason == "" {
				t.Fatalf("verdict without reason or message: %+v", v)
			}
		}
		if acks > 1 || (acks == 1) != (got.Acknowledged != nil) {
			t.Fatalf("%d acknowledgements counted, Acknowledged = %v", acks, got.Acknowledged)
		}
		automatic := 0
		if breakGlass {
			automatic = 1 // the policy's own approval record
		}
		if counted+automatic != len(got.Records) || len(got.Verdicts) != len(decisions) {
			t.Fatalf("%d counted verdicts for %d records, %d verdicts for %d decisions", counted, len(got.Records), len(got.Verdicts), len(decisions))
		}
		if breakGlass && got.State != StateApproved && got.State != StateRevoked {
			t.Fatalf("a break-glass request is %s", got.State)
		}
		if !breakGlass && (got.State == StateApproved || got.State == StateRevoked) {
			tier := got.Tier.Index
			if tier < 0 || approvals < RequiredApprovals(&p.Spec.Approvers[tier]) {
				t.Fatalf("approved by %d approvals at tier %d", approvals, tier)
			}
		}
		if got.State == StateDenied && got.Records[len(got.Records)-1].Decision != accessv1alpha1.DecisionDeny {
			t.Fatalf("denied without a counted deny")
		}
	})
}

// FuzzSelect checks that policy selection either picks one policy that
// governs the namespace and catalogs the role, or names a violation.
func FuzzSelect(f *testing.F) {
	f.Add("payments", "team", "payments", "db-migrator", "", uint8(0))
	f.Add("ledger", "team", "ledger", "view", "payments", uint8(1))
	f.Add("x", "", "", "cluster-admin", "nope", uint8(2))
	f.Fuzz(func(t *testing.T, ns, key, value, role, specPolicy string, n uint8) {
		labels := map[string]string{}
		if key != "" {
			labels[key] = value
		}
		policies := []accessv1alpha1.ApprovalPolicy{*paymentsPolicy()}
		for i := 0; i < int(n%4); i++ {
			p := paymentsPolicy()
			p.Name = fmt.Sprintf("extra-%d", i)
			if i%2 == 1 {
				p.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{key: value}}
			}
			policies = append(policies, *p)
		}
		req := migrateRequest()
		req.Namespace = ns
		req.Spec.RoleRef.Name = role
		req.Spec.Policy = specPolicy
		p, v := Select(policies, labels, req)
		switch {
		case p != nil && v != nil, p == nil && v == nil:
			t.Fatalf("Select must return exactly one of a policy and a violation: %v, %v", p, v)
		case p != nil:
			if !Governs(p, labels) || FindEntitlement(p, req.Spec.RoleRef) == nil {
				t.Fatalf("selected %s, which does not govern %v or catalog %s", p.Name, labels, req.Spec.RoleRef)
			}
			if specPolicy != "" && p.Name != specPolicy {
				t.Fatalf("spec.policy %q ignored", specPolicy)
			}
		default:
			if v.Field == "" || v.Message == "" || v.Reason == "" {
				t.Fatalf("incomplete violation %+v", v)
			}
		}
	})
}
