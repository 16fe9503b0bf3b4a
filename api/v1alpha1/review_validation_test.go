package v1alpha1_test

import (
	"testing"

	"rolegate.dev/rolegate/test/utils"
)

// What the CRDs enforce of spec.review and of attestations on their own.
func TestReviewAndAttestationFields(t *testing.T) {
	utils.RequireEnvtest(t)
	review := func(o object) {
		set(o, object{"every": "2160h", "reviewers": object{"tier": "app-owners"}}, "spec", "review")
	}
	runCreateCases(t, policyBase, "", []validationCase{
		{name: "accepts a review by an approver tier", mutate: review},
		{name: "accepts a review by subjects, suspending new grants when overdue", mutate: func(o object) {
			set(o, object{"every": "720h", "onOverdue": "SuspendNewGrants", "includeGrantsLongerThan": "24h",
				"reviewers": object{"subjects": []any{object{"kind": "Group", "name": "platform"}}}}, "spec", "review")
		}},
		{name: "rejects days as a unit of every", mutate: func(o object) {
			review(o)
			set(o, "90d", "spec", "review", "every")
		}, wantErr: []string{"spec.review.every", "days are not a unit: write 2160h for 90 days"}},
		{name: "rejects a zero period", mutate: func(o object) {
			review(o)
			set(o, "0s", "spec", "review", "every")
		}, wantErr: []string{"spec.review.every", "review.every must be positive"}},
		{name: "rejects a review without every", mutate: func(o object) {
			set(o, object{"reviewers": object{"tier": "app-owners"}}, "spec", "review")
		}, wantErr: []string{"spec.review.every", required}},
		{name: "rejects reviewers naming both a tier and subjects", mutate: func(o object) {
			review(o)
			set(o, []any{object{"kind": "User", "name": "alice"}}, "spec", "review", "reviewers", "subjects")
		}, wantErr: []string{"spec.review.reviewers", "set exactly one of review.reviewers.tier"}},
		{name: "rejects reviewers naming neither", mutate: func(o object) {
			review(o)
			set(o, object{}, "spec", "review", "reviewers")
		}, wantErr: []string{"spec.review.reviewers", "set exactly one of review.reviewers.tier"}},
		{name: "rejects a reviewing tier the policy does not have", mutate: func(o object) {
			review(o)
			set(o, "owners", "spec", "review", "reviewers", "tier")
		}, wantErr: []string{"spec.review.reviewers.tier", "review.reviewers.tier must name one of spec.approvers"}},
		{name: "rejects an unknown onOverdue", mutate: func(o object) {
			review(o)
			set(o, "Revoke", "spec", "review", "onOverdue")
		}, wantErr: []string{"spec.review.onOverdue", unsupported}},
		{name: "rejects a negative includeGrantsLongerThan", mutate: func(o object) {
			review(o)
			set(o, "-1h", "spec", "review", "includeGrantsLongerThan")
		}, wantErr: []string{"spec.review.includeGrantsLongerThan"}},
	})
	ns := newNamespace(t)
	attestation := func(o object) {
		unset(o, "spec", "request")
		set(o, "payments", "spec", "policy")
		set(o, "Attest", "spec", "decision")
	}
	runCreateCases(t, decisionBase, ns, []validationCase{
		{name: "accepts an attestation of a policy", mutate: attestation},
		{name: "rejects an attestation that also names a request", mutate: func(o object) {
			attestation(o)
			set(o, "ledger-migrate-4711", "spec", "request")
		}, wantErr: []string{"spec", "set exactly one of spec.request"}},
		{name: "rejects an Approve decision on a policy", mutate: func(o object) {
			attestation(o)
			set(o, "Approve", "spec", "decision")
		}, wantErr: []string{"spec.decision", "decision Attest is made on a policy"}},
		{name: "rejects an Attest decision on a request", mutate: func(o object) {
			set(o, "Attest", "spec", "decision")
		}, wantErr: []string{"spec.decision", "decision Attest is made on a policy"}},
	})
}
