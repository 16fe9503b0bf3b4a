package policy

import (
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		policy func(*accessv1alpha1.ApprovalPolicy)
		mutate func(*accessv1alpha1.AccessRequest)
		// want lists "Reason field" pairs, in order; empty means valid.
		want     []string
		contains string
	}{
		{name: "accepts SPEC's example request"},
		{name: "rejects a request without a requester",
			mutate: func(r *accessv1alpha1.AccessRequest) { r.Spec.Requester = nil },
			want:   []string{"RequesterMissing spec.requester"}},
		{name: "rejects a requester outside the policy's requesters",
			mutate:   func(r *accessv1alpha1.AccessRequest) { r.Spec.Requester.Groups = []string{"system:authenticated"} },
			want:     []string{"RequesterNotAllowed spec.requester"},
			contains: "allowed requesters: Group payments-devs"},
		{name: "anyone may request when the policy lists no requesters",
			policy: func(p *accessv1alpha1.ApprovalPolicy) { p.Spec.Requesters = nil },
			mutate: func(r *accessv1alpha1.AccessRequest) { r.Spec.Requester.Groups = nil }},
		{name: "accepts a request submitted by a trusted submitter",
			mutate: func(r *accessv1alpha1.AccessRequest) {
				r.Spec.Requester.Via = "system:serviceaccount:argocd:argocd-application-controller"
			}},
		{name: "rejects a request submitted via an untrusted submitter",
			mutate: func(r *accessv1alpha1.AccessRequest) { r.Spec.Requester.Via = "system:serviceaccount:ci:deployer" },
			want:   []string{"RequesterNotAllowed spec.requester.via"}},
		{name: "rejects a service account in another namespace the policy does not list",
			mutate:   func(r *accessv1alpha1.AccessRequest) { r.Spec.ServiceAccount.Namespace = "kube-system" },
			want:     []string{"ServiceAccountNotAllowed spec.serviceAccount.namespace"},
			contains: "other namespaces allowed: none"},
		{name: "accepts a service account in a namespace the policy lists",
			policy: func(p *accessv1alpha1.ApprovalPolicy) { p.Spec.ServiceAccountNamespaces = []string{"batch"} },
			mutate: func(r *accessv1alpha1.AccessRequest) { r.Spec.ServiceAccount.Namespace = "batch" }},
		{name: "accepts the request's own namespace spelled out",
			mutate: func(r *accessv1alpha1.AccessRequest) { r.Spec.ServiceAccount.Namespace = "payments" }},
		{name: "rejects a role outside the catalog such as cluster-admin",
			mutate: func(r *accessv1alpha1.AccessRequest) {
				r.Spec.RoleRef = accessv1alpha1.RoleRef{Kind: "ClusterRole", Name: "cluster-admin"}
			},
			want:     []string{"RoleNotInCatalog spec.roleRef"},
			contains: "request one of: ClusterRole/view, Role/db-migrator, Role/config-reader"},
		{name: "rejects a duration above maxDuration and says the most one may ask",
			mutate:   func(r *accessv1alpha1.AccessRequest) { r.Spec.Duration = dur(2 * time.Hour) },
			want:     []string{"DurationTooLong spec.duration"},
			contains: "ask for 1h0m0s or less"},
		{name: "accepts a duration of exactly maxDuration",
			mutate: func(r *accessv1alpha1.AccessRequest) { r.Spec.Duration = dur(time.Hour) }},
		{name: "rejects a blank justification",
			mutate: func(r *accessv1alpha1.AccessRequest) { r.Spec.Justification = "   " },
			want:   []string{"JustificationRequired spec.justification"}},
		{name: "a policy may waive the justification",
			policy: func(p *accessv1alpha1.ApprovalPolicy) { p.Spec.RequireJustification = ptr.To(false) },
			mutate: func(r *accessv1alpha1.AccessRequest) { r.Spec.Justification = "" }},
		{name: "rejects a missing tag and lists the allowed values",
			mutate:   func(r *accessv1alpha1.AccessRequest) { delete(r.Spec.Tags, "sensitivity") },
			want:     []string{"MissingTag spec.tags.sensitivity"},
			contains: `required by ApprovalPolicy "payments"; allowed: low, medium, high, critical`},
		{name: "rejects an empty value for a free-form tag",
			mutate:   func(r *accessv1alpha1.AccessRequest) { r.Spec.Tags["owner"] = "" },
			want:     []string{"MissingTag spec.tags.owner"},
			contains: "set any non-empty value"},
		{name: "rejects a disallowed tag value",
			mutate:   func(r *accessv1alpha1.AccessRequest) { r.Spec.Tags["application"] = "billing" },
			want:     []string{"TagValueNotAllowed spec.tags.application"},
			contains: "allowed: payments-api, ledger"},
		{name: "rejects an unknown sensitivity even where the policy does not require the tag",
			policy: func(p *accessv1alpha1.ApprovalPolicy) { p.Spec.RequiredTags = nil },
			mutate: func(r *accessv1alpha1.AccessRequest) { r.Spec.Tags["sensitivity"] = "extreme" },
			want:   []string{"TagValueNotAllowed spec.tags.sensitivity"}},
		{name: "rejects an unknown sensitivity that the policy lists as allowed",
			policy: func(p *accessv1alpha1.ApprovalPolicy) {
				p.Spec.RequiredTags = []accessv1alpha1.RequiredTag{{Key: "sensitivity", Values: []string{"extreme"}}}
			},
			mutate: func(r *accessv1alpha1.AccessRequest) { r.Spec.Tags["sensitivity"] = "extreme" },
			want:   []string{"TagValueNotAllowed spec.tags.sensitivity"}},
		{name: "rejects a request no tier may decide",
			policy: func(p *accessv1alpha1.ApprovalPolicy) { p.Spec.Approvers = p.Spec.Approvers[:1] },
			want:   []string{"NoApproverTier spec.tags.sensitivity"}},
		{name: "auto-approved entitlements need no tier",
			policy: func(p *accessv1alpha1.ApprovalPolicy) { p.Spec.Approvers = nil },
			mutate: func(r *accessv1alpha1.AccessRequest) {
				withRole(r, accessv1alpha1.RoleKindClusterRole, "view", "low")
			}},
		{name: "reports every violation at once, in field order",
			mutate: func(r *accessv1alpha1.AccessRequest) {
				r.Spec.Duration = dur(3 * time.Hour)
				r.Spec.Justification = ""
				delete(r.Spec.Tags, "owner")
				r.Spec.Requester.Groups = nil
			},
			want: []string{"RequesterNotAllowed spec.requester", "DurationTooLong spec.duration",
				"JustificationRequired spec.justification", "MissingTag spec.tags.owner"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, req := example(tc.policy, tc.mutate)
			got := Validate(p, req)
			var gotPairs []string
			for _, v := range got {
				gotPairs = append(gotPairs, v.Reason+" "+v.Field)
				if !strings.HasPrefix(v.Error(), v.Field+": ") || v.Message == "" {
					t.Errorf("violation %#v must render as 'field: message'", v)
				}
			}
			if strings.Join(gotPairs, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("Validate() = %v, want %v", got, tc.want)
			}
			if tc.contains != "" && !strings.Contains(got[0].Message, tc.contains) {
				t.Errorf("message %q does not contain %q", got[0].Message, tc.contains)
			}
		})
	}
}

func TestEffectiveSensitivity(t *testing.T) {
	cases := []struct {
		name  string
		tag   string
		floor accessv1alpha1.Sensitivity
		want  accessv1alpha1.Sensitivity
	}{
		{"under-tagging never lowers the bar", "low", accessv1alpha1.SensitivityHigh, accessv1alpha1.SensitivityHigh},
		{"a higher tag raises the bar", "critical", accessv1alpha1.SensitivityMedium, accessv1alpha1.SensitivityCritical},
		{"no tag means the floor", "", accessv1alpha1.SensitivityMedium, accessv1alpha1.SensitivityMedium},
		{"an unknown tag means the floor", "extreme", accessv1alpha1.SensitivityMedium, accessv1alpha1.SensitivityMedium},
		{"an unset floor is low", "", "", accessv1alpha1.SensitivityLow},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := migrateRequest()
			req.Spec.Tags = map[string]string{}
			if tc.tag != "" {
				req.Spec.Tags["sensitivity"] = tc.tag
			}
			if got := EffectiveSensitivity(req, &accessv1alpha1.Entitlement{Sensitivity: tc.floor}); got != tc.want {
				t.Errorf("EffectiveSensitivity = %s, want %s", got, tc.want)
			}
		})
	}
}
