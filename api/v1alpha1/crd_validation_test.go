package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/test/utils"
)

// These tests pin down what the CRDs in config/crd/bases enforce on their
// own, before any webhook or controller runs: enums, patterns, bounds,
// defaults and the CEL rules. Each case starts from a valid object and
// changes one thing.

const (
	immutableRequest  = "spec is immutable; create a new AccessRequest instead"
	immutableDecision = "spec is immutable; create a new AccessDecision instead"
	subjectNamespace  = "namespace is required for kind ServiceAccount and not allowed for User or Group"
	duplicateRoleRef  = "entitlements must not list the same roleRef twice"
	// The prefix makes sure the rule evaluated to false rather than failing
	// with a CEL runtime error ("no such key: ...") that happens to reject.
	approversRequired = `spec: Invalid value: approvers are required unless every entitlement sets autoApprove`
	shouldMatch       = "should match"
	unsupported       = "Unsupported value"
	required          = "Required value"
)

// policyBase is a valid ApprovalPolicy that exercises every list of subjects
// and every duration field.
func policyBase(t *testing.T) object {
	return fromYAML(t, `
apiVersion: access.rolegate.dev/v1alpha1
kind: ApprovalPolicy
spec:
  namespaceSelector: {matchLabels: {team: payments}}
  requesters: [{kind: Group, name: payments-devs}]
  trustedSubmitters: [{kind: ServiceAccount, namespace: argocd, name: argocd-application-controller}]
  requiredTags:
    - {key: owner}
    - {key: type, values: [temporary, recurring]}
  entitlements:
    - roleRef: {kind: Role, name: db-migrator}
      maxDuration: 1h
      sensitivity: high
  approvers:
    - name: app-owners
      subjects: [{kind: User, name: alice}]
      escalateAfter: 30m
    - name: security
      subjects: [{kind: Group, name: security-oncall}]
  pendingTimeout: 72h
`)
}

// requestBase is a valid AccessRequest.
func requestBase(t *testing.T) object {
	return fromYAML(t, `
apiVersion: access.rolegate.dev/v1alpha1
kind: AccessRequest
spec:
  serviceAccount: {name: ledger-migrator}
  roleRef: {kind: Role, name: db-migrator}
  duration: 1h
  justification: Run schema migration for CHG-1234
  tags: {owner: team-ledger, sensitivity: high}
  requester: {username: alice, groups: [payments-devs]}
`)
}

// decisionBase is a valid AccessDecision.
func decisionBase(t *testing.T) object {
	return fromYAML(t, `
apiVersion: access.rolegate.dev/v1alpha1
kind: AccessDecision
spec:
  request: ledger-migrate-4711
  decision: Approve
  comment: ok for CHG-1234
  reviewer: {username: carol, groups: [security-oncall]}
`)
}

func TestApprovalPolicyEnums(t *testing.T) {
	utils.RequireEnvtest(t)
	runCreateCases(t, policyBase, "", []validationCase{
		{name: "accepts an entitlement for a ClusterRole", mutate: func(o object) {
			set(o, "ClusterRole", "spec", "entitlements", 0, "roleRef", "kind")
		}},
		{name: "rejects an entitlement roleRef kind other than Role or ClusterRole", mutate: func(o object) {
			set(o, "ClusterRoleBinding", "spec", "entitlements", 0, "roleRef", "kind")
		}, wantErr: []string{"spec.entitlements[0].roleRef.kind", unsupported}},
		{name: "accepts every subject kind", mutate: func(o object) {
			set(o, []any{
				object{"kind": "User", "name": "alice"},
				object{"kind": "Group", "name": "payments-devs"},
				object{"kind": "ServiceAccount", "name": "ci", "namespace": "ci"},
			}, "spec", "requesters")
		}},
		{name: "rejects an unknown subject kind", mutate: func(o object) {
			set(o, "Robot", "spec", "requesters", 0, "kind")
		}, wantErr: []string{"spec.requesters[0].kind", unsupported}},
		{name: "rejects a lower-case subject kind", mutate: func(o object) {
			set(o, "user", "spec", "approvers", 0, "subjects", 0, "kind")
		}, wantErr: []string{"spec.approvers[0].subjects[0].kind", unsupported}},
		{name: "accepts every entitlement sensitivity", mutate: func(o object) {
			var ents []any
			for i, s := range accessv1alpha1.Sensitivities {
				ents = append(ents, object{
					"roleRef":     object{"kind": "Role", "name": fmt.Sprintf("role-%d", i)},
					"maxDuration": "1h",
					"sensitivity": string(s),
				})
			}
			set(o, ents, "spec", "entitlements")
		}},
		{name: "rejects an unknown entitlement sensitivity", mutate: func(o object) {
			set(o, "extreme", "spec", "entitlements", 0, "sensitivity")
		}, wantErr: []string{"spec.entitlements[0].sensitivity", unsupported}},
		{name: "accepts a ticket tag with a pattern, a link and a minSensitivity", mutate: func(o object) {
			set(o, object{"key": "change", "pattern": "^CHG-[0-9]+$", "link": "https://tickets.example/browse/{value}",
				"minSensitivity": "high"}, "spec", "requiredTags", 0)
		}},
		{name: "rejects an unknown required tag minSensitivity", mutate: func(o object) {
			set(o, "severe", "spec", "requiredTags", 0, "minSensitivity")
		}, wantErr: []string{"spec.requiredTags[0].minSensitivity", unsupported}},
		{name: "rejects a required tag pattern longer than 256 characters", mutate: func(o object) {
			set(o, "^"+strings.Repeat("a", 256)+"$", "spec", "requiredTags", 0, "pattern")
		}, wantErr: []string{"spec.requiredTags[0].pattern", "Too long"}},
		{name: "rejects a capitalised tier maxSensitivity", mutate: func(o object) {
			set(o, "Medium", "spec", "approvers", 0, "maxSensitivity")
		}, wantErr: []string{"spec.approvers[0].maxSensitivity", unsupported}},
		{name: "accepts a tier maxSensitivity of critical", mutate: func(o object) {
			set(o, "critical", "spec", "approvers", 0, "maxSensitivity")
		}},
	})
}

func TestAccessRequestAndDecisionEnums(t *testing.T) {
	utils.RequireEnvtest(t)
	ns := newNamespace(t)
	runCreateCases(t, requestBase, ns, []validationCase{
		{name: "accepts a request for a ClusterRole", mutate: func(o object) {
			set(o, "ClusterRole", "spec", "roleRef", "kind")
		}},
		{name: "rejects a request roleRef kind other than Role or ClusterRole", mutate: func(o object) {
			set(o, "RoleBinding", "spec", "roleRef", "kind")
		}, wantErr: []string{"spec.roleRef.kind", unsupported}},
	})
	var cases []validationCase
	for _, d := range []accessv1alpha1.DecisionType{accessv1alpha1.DecisionApprove, accessv1alpha1.DecisionDeny, accessv1alpha1.DecisionRevoke} {
		cases = append(cases, validationCase{name: "accepts decision " + string(d), mutate: func(o object) {
			set(o, string(d), "spec", "decision")
		}})
	}
	cases = append(cases,
		validationCase{name: "rejects decision Approved", mutate: func(o object) {
			set(o, "Approved", "spec", "decision")
		}, wantErr: []string{"spec.decision", unsupported}},
		validationCase{name: "rejects a lower-case decision", mutate: func(o object) {
			set(o, "deny", "spec", "decision")
		}, wantErr: []string{"spec.decision", unsupported}},
	)
	runCreateCases(t, decisionBase, ns, cases)
}

func TestSubjectNamespaceRule(t *testing.T) {
	utils.RequireEnvtest(t)
	wantRequesters := []string{"spec.requesters[0]", subjectNamespace}
	runCreateCases(t, policyBase, "", []validationCase{
		{name: "accepts a ServiceAccount subject with a namespace", mutate: func(o object) {
			set(o, []any{object{"kind": "ServiceAccount", "name": "ci", "namespace": "ci"}}, "spec", "requesters")
		}},
		{name: "rejects a ServiceAccount subject without namespace", mutate: func(o object) {
			set(o, []any{object{"kind": "ServiceAccount", "name": "ci"}}, "spec", "requesters")
		}, wantErr: wantRequesters},
		{name: "rejects a ServiceAccount subject with an empty namespace", mutate: func(o object) {
			set(o, []any{object{"kind": "ServiceAccount", "name": "ci", "namespace": ""}}, "spec", "requesters")
		}, wantErr: wantRequesters},
		{name: "accepts a User subject without namespace", mutate: func(o object) {
			set(o, []any{object{"kind": "User", "name": "alice"}}, "spec", "requesters")
		}},
		{name: "accepts a Group subject with an empty namespace", mutate: func(o object) {
			set(o, []any{object{"kind": "Group", "name": "devs", "namespace": ""}}, "spec", "requesters")
		}},
		{name: "rejects a User subject with a namespace", mutate: func(o object) {
			set(o, []any{object{"kind": "User", "name": "alice", "namespace": "payments"}}, "spec", "requesters")
		}, wantErr: wantRequesters},
		{name: "rejects a Group approver subject with a namespace", mutate: func(o object) {
			set(o, "payments", "spec", "approvers", 1, "subjects", 0, "namespace")
		}, wantErr: []string{"spec.approvers[1].subjects[0]", subjectNamespace}},
		{name: "rejects a ServiceAccount trusted submitter without namespace", mutate: func(o object) {
			unset(o, "spec", "trustedSubmitters", 0, "namespace")
		}, wantErr: []string{"spec.trustedSubmitters[0]", subjectNamespace}},
	})
}

// durationField is a metav1.Duration field with the shared format and
// positivity rules.
type durationField struct {
	kind      string // ApprovalPolicy or AccessRequest
	path      []any
	fieldPath string
	positive  string // the CEL rule's message
}

// format is the message of the field's format rule: it names the field and
// the accepted format.
func (f durationField) format() string {
	name, _, _ := strings.Cut(f.positive, " must be positive")
	return name + " must be a Go duration such as 30m or 8h (units h, m, s, ms; days are not a unit: write 72h for 3 days)"
}

func TestDurationFields(t *testing.T) {
	utils.RequireEnvtest(t)
	ns := newNamespace(t)
	fields := []durationField{
		{"AccessRequest", []any{"spec", "duration"}, "spec.duration", "duration must be positive"},
		{"ApprovalPolicy", []any{"spec", "entitlements", 0, "maxDuration"}, "spec.entitlements[0].maxDuration", "maxDuration must be positive"},
		{"ApprovalPolicy", []any{"spec", "approvers", 0, "escalateAfter"}, "spec.approvers[0].escalateAfter", "escalateAfter must be positive"},
		{"ApprovalPolicy", []any{"spec", "pendingTimeout"}, "spec.pendingTimeout", "pendingTimeout must be positive"},
	}
	for _, f := range fields {
		t.Run(f.fieldPath, func(t *testing.T) {
			base, namespace := policyBase, ""
			if f.kind == "AccessRequest" {
				base, namespace = requestBase, ns
			}
			with := func(v string) func(o object) {
				return func(o object) { set(o, v, f.path...) }
			}
			runCreateCases(t, base, namespace, []validationCase{
				{name: `accepts "90m"`, mutate: with("90m")},
				{name: `accepts "1h30m"`, mutate: with("1h30m")},
				{name: `accepts "1.5h"`, mutate: with("1.5h")},
				{name: `rejects "0s" as not positive`, mutate: with("0s"), wantErr: []string{f.fieldPath, f.positive}},
				{name: `rejects "0h0m" as not positive`, mutate: with("0h0m"), wantErr: []string{f.fieldPath, f.positive}},
				{name: `rejects "-1h"`, mutate: with("-1h"), wantErr: []string{f.fieldPath, f.format()}},
				{name: `rejects "1d" (days are not a Go duration unit)`, mutate: with("1d"), wantErr: []string{f.fieldPath, f.format()}},
				{name: `rejects "abc"`, mutate: with("abc"), wantErr: []string{f.fieldPath, f.format()}},
				{name: `rejects an empty string`, mutate: with(""), wantErr: []string{f.fieldPath, f.format()}},
			})
			// A value that is not a duration is refused by the format rule
			// alone; the positivity rule does not run on it and leak a
			// "type conversion error".
			for _, v := range []string{"3d", "abc", "1 hour"} {
				o := base(t)
				set(o, v, f.path...)
				_, err := createObject(t.Context(), o, uniqueName(t), namespace)
				if err == nil || strings.Contains(err.Error(), "type conversion error") || strings.Contains(err.Error(), f.positive) {
					t.Errorf("%q: %v, want only the format message", v, err)
				}
			}
		})
	}
}

func TestApprovalPolicyCatalogAndApprovers(t *testing.T) {
	utils.RequireEnvtest(t)
	autoOnly := func(o object) {
		set(o, []any{object{
			"roleRef":     object{"kind": "ClusterRole", "name": "view"},
			"maxDuration": "8h",
			"autoApprove": true,
		}}, "spec", "entitlements")
	}
	runCreateCases(t, policyBase, "", []validationCase{
		{name: "rejects two entitlements for the same roleRef", mutate: func(o object) {
			set(o, []any{
				object{"roleRef": object{"kind": "Role", "name": "db-migrator"}, "maxDuration": "1h"},
				object{"roleRef": object{"kind": "Role", "name": "db-migrator"}, "maxDuration": "2h"},
			}, "spec", "entitlements")
		}, wantErr: []string{"spec", duplicateRoleRef}},
		{name: "accepts a Role and a ClusterRole of the same name", mutate: func(o object) {
			set(o, []any{
				object{"roleRef": object{"kind": "Role", "name": "edit"}, "maxDuration": "1h"},
				object{"roleRef": object{"kind": "ClusterRole", "name": "edit"}, "maxDuration": "1h"},
			}, "spec", "entitlements")
		}},
		{name: "rejects a policy without approvers when an entitlement needs review", mutate: func(o object) {
			unset(o, "spec", "approvers")
		}, wantErr: []string{approversRequired}},
		{name: "rejects an empty approvers list when an entitlement needs review", mutate: func(o object) {
			set(o, []any{}, "spec", "approvers")
		}, wantErr: []string{approversRequired}},
		{name: "rejects a policy without approvers when only some entitlements autoApprove", mutate: func(o object) {
			unset(o, "spec", "approvers")
			set(o, []any{
				object{"roleRef": object{"kind": "ClusterRole", "name": "view"}, "maxDuration": "8h", "autoApprove": true},
				object{"roleRef": object{"kind": "Role", "name": "db-migrator"}, "maxDuration": "1h", "autoApprove": false},
			}, "spec", "entitlements")
		}, wantErr: []string{approversRequired}},
		{name: "accepts a policy without approvers when every entitlement autoApproves", mutate: func(o object) {
			unset(o, "spec", "approvers")
			autoOnly(o)
		}},
		{name: "accepts approvers alongside autoApprove entitlements", mutate: autoOnly},
		{name: "rejects two tiers with the same name", mutate: func(o object) {
			set(o, "app-owners", "spec", "approvers", 1, "name")
		}, wantErr: []string{"spec.approvers[1]", "Duplicate value"}},
		{name: "rejects two required tags with the same key", mutate: func(o object) {
			set(o, "owner", "spec", "requiredTags", 1, "key")
		}, wantErr: []string{"spec.requiredTags[1]", "Duplicate value"}},
		{name: "rejects a required tag listing the same value twice", mutate: func(o object) {
			set(o, []any{"temporary", "temporary"}, "spec", "requiredTags", 1, "values")
		}, wantErr: []string{"spec.requiredTags[1].values[1]", "Duplicate value"}},
		{name: "rejects an empty allowed tag value", mutate: func(o object) {
			set(o, []any{""}, "spec", "requiredTags", 1, "values")
		}, wantErr: []string{"spec.requiredTags[1].values[0]"}},
		{name: "rejects requiredApprovals 0", mutate: func(o object) {
			set(o, 0, "spec", "approvers", 0, "requiredApprovals")
		}, wantErr: []string{"spec.approvers[0].requiredApprovals", "greater than or equal to 1"}},
		{name: "rejects requiredApprovals 17", mutate: func(o object) {
			set(o, 17, "spec", "approvers", 0, "requiredApprovals")
		}, wantErr: []string{"spec.approvers[0].requiredApprovals", "less than or equal to 16"}},
		{name: "accepts requiredApprovals 16", mutate: func(o object) {
			set(o, 16, "spec", "approvers", 0, "requiredApprovals")
		}},
		{name: "rejects a tier with no subjects", mutate: func(o object) {
			set(o, []any{}, "spec", "approvers", 0, "subjects")
		}, wantErr: []string{"spec.approvers[0].subjects", "at least 1 items"}},
	})
}

func TestApprovalPolicyPatterns(t *testing.T) {
	utils.RequireEnvtest(t)
	tier := func(name string) func(o object) {
		return func(o object) { set(o, name, "spec", "approvers", 0, "name") }
	}
	tagKey := func(key string) func(o object) {
		return func(o object) { set(o, key, "spec", "requiredTags", 0, "key") }
	}
	tierErr := []string{"spec.approvers[0].name", shouldMatch}
	keyErr := []string{"spec.requiredTags[0].key", shouldMatch}
	runCreateCases(t, policyBase, "", []validationCase{
		{name: "accepts tier name app-owners-2", mutate: tier("app-owners-2")},
		{name: "rejects an upper-case tier name", mutate: tier("App-Owners"), wantErr: tierErr},
		{name: "rejects a tier name with an underscore", mutate: tier("app_owners"), wantErr: tierErr},
		{name: "rejects a tier name starting with a dash", mutate: tier("-owners"), wantErr: tierErr},
		{name: "rejects a tier name ending with a dash", mutate: tier("owners-"), wantErr: tierErr},
		{name: "rejects an empty tier name", mutate: tier(""), wantErr: []string{"spec.approvers[0].name"}},
		{name: "rejects a tier name longer than 63 characters", mutate: tier(strings.Repeat("a", 64)),
			wantErr: []string{"spec.approvers[0].name", "may not be more than 63"}},
		{name: "accepts tag key cost.center_ID-2", mutate: tagKey("cost.center_ID-2")},
		{name: "accepts a one-letter tag key", mutate: tagKey("a")},
		{name: "rejects a tag key with a space", mutate: tagKey("cost center"), wantErr: keyErr},
		{name: "rejects a tag key with a slash", mutate: tagKey("example.com/owner"), wantErr: keyErr},
		{name: "rejects a tag key starting with a dot", mutate: tagKey(".owner"), wantErr: keyErr},
		{name: "rejects a tag key ending with a dash", mutate: tagKey("owner-"), wantErr: keyErr},
		{name: "rejects an empty tag key", mutate: tagKey(""), wantErr: []string{"spec.requiredTags[0].key"}},
	})
}

func TestRequiredFieldsAndLimits(t *testing.T) {
	utils.RequireEnvtest(t)
	t.Run("ApprovalPolicy", func(t *testing.T) {
		var tooManyTags []any
		for i := range 33 {
			tooManyTags = append(tooManyTags, object{"key": fmt.Sprintf("tag%d", i)})
		}
		runCreateCases(t, policyBase, "", []validationCase{
			{name: "rejects a policy without namespaceSelector", mutate: func(o object) {
				unset(o, "spec", "namespaceSelector")
			}, wantErr: []string{"spec.namespaceSelector", required}},
			{name: "accepts an empty namespaceSelector (every namespace)", mutate: func(o object) {
				set(o, object{}, "spec", "namespaceSelector")
			}},
			{name: "rejects a policy without entitlements", mutate: func(o object) {
				unset(o, "spec", "entitlements")
			}, wantErr: []string{"spec.entitlements", required}},
			{name: "rejects an empty entitlements list", mutate: func(o object) {
				set(o, []any{}, "spec", "entitlements")
			}, wantErr: []string{"spec.entitlements", "at least 1 items"}},
			{name: "rejects an entitlement without roleRef", mutate: func(o object) {
				unset(o, "spec", "entitlements", 0, "roleRef")
			}, wantErr: []string{"spec.entitlements[0].roleRef", required}},
			{name: "rejects an entitlement without maxDuration", mutate: func(o object) {
				unset(o, "spec", "entitlements", 0, "maxDuration")
			}, wantErr: []string{"spec.entitlements[0].maxDuration", required}},
			{name: "rejects an entitlement roleRef without name", mutate: func(o object) {
				unset(o, "spec", "entitlements", 0, "roleRef", "name")
			}, wantErr: []string{"spec.entitlements[0].roleRef.name", required}},
			{name: "rejects more than 32 required tags", mutate: func(o object) {
				set(o, tooManyTags, "spec", "requiredTags")
			}, wantErr: []string{"spec.requiredTags", "must have at most 32 items"}},
			{name: "rejects more than 8 approver tiers", mutate: func(o object) {
				var tiers []any
				for i := range 9 {
					tiers = append(tiers, object{"name": fmt.Sprintf("tier-%d", i), "subjects": []any{object{"kind": "User", "name": "alice"}}})
				}
				set(o, tiers, "spec", "approvers")
			}, wantErr: []string{"spec.approvers", "must have at most 8 items"}},
		})
	})

	t.Run("AccessRequest", func(t *testing.T) {
		ns := newNamespace(t)
		tags := func(n int) object {
			m := object{}
			for i := range n {
				m[fmt.Sprintf("tag%d", i)] = "v"
			}
			return m
		}
		runCreateCases(t, requestBase, ns, []validationCase{
			{name: "rejects a request without roleRef", mutate: func(o object) {
				unset(o, "spec", "roleRef")
			}, wantErr: []string{"spec.roleRef", required}},
			{name: "rejects a request without serviceAccount", mutate: func(o object) {
				unset(o, "spec", "serviceAccount")
			}, wantErr: []string{"spec.serviceAccount", required}},
			{name: "rejects a serviceAccount without name", mutate: func(o object) {
				set(o, object{"namespace": "payments"}, "spec", "serviceAccount")
			}, wantErr: []string{"spec.serviceAccount.name", required}},
			{name: "rejects a serviceAccount name that is not a valid name", mutate: func(o object) {
				set(o, "Evil_SA:x", "spec", "serviceAccount", "name")
			}, wantErr: []string{"spec.serviceAccount.name", "name must be a valid ServiceAccount name"}},
			{name: "accepts a dotted serviceAccount name", mutate: func(o object) {
				set(o, "ledger.migrator-2", "spec", "serviceAccount", "name")
			}},
			{name: "rejects a serviceAccount namespace that is not a valid name", mutate: func(o object) {
				set(o, "Kube.System", "spec", "serviceAccount", "namespace")
			}, wantErr: []string{"spec.serviceAccount.namespace", "namespace must be a valid namespace name"}},
			{name: "accepts a justification over several lines", mutate: func(o object) {
				set(o, "CHG-1234:\n\t1. migrate\n\t2. verify", "spec", "justification")
			}},
			{name: "rejects a right-to-left override in the justification", mutate: func(o object) {
				set(o, "ok \u202etxt.exe", "spec", "justification")
			}, wantErr: []string{"spec.justification", "must not contain control characters other than newline and tab"}},
			{name: "rejects a bidirectional isolate in the justification", mutate: func(o object) {
				set(o, "a\u2067b", "spec", "justification")
			}, wantErr: []string{"spec.justification", "bidirectional overrides"}},
			{name: "rejects an escape character in the justification", mutate: func(o object) {
				set(o, "\x1b[2J", "spec", "justification")
			}, wantErr: []string{"spec.justification", "control characters"}},
			{name: "rejects a zero-width space in the justification", mutate: func(o object) {
				set(o, "appro\u200bved", "spec", "justification")
			}, wantErr: []string{"spec.justification", "invisible formatting characters"}},
			{name: "rejects a request without duration", mutate: func(o object) {
				unset(o, "spec", "duration")
			}, wantErr: []string{"spec.duration", required}},
			{name: "rejects a request without spec", mutate: func(o object) {
				unset(o, "spec")
			}, wantErr: []string{"spec", required}},
			{name: "accepts a request without justification or tags (the policy decides)", mutate: func(o object) {
				unset(o, "spec", "justification")
				unset(o, "spec", "tags")
			}},
			{name: "accepts a justification of 1024 characters", mutate: func(o object) {
				set(o, strings.Repeat("j", 1024), "spec", "justification")
			}},
			{name: "rejects a justification longer than 1024 characters", mutate: func(o object) {
				set(o, strings.Repeat("j", 1025), "spec", "justification")
			}, wantErr: []string{"spec.justification", "may not be more than 1024"}},
			{name: "accepts 32 tags", mutate: func(o object) {
				set(o, tags(32), "spec", "tags")
			}},
			{name: "rejects more than 32 tags", mutate: func(o object) {
				set(o, tags(33), "spec", "tags")
			}, wantErr: []string{"spec.tags", "must have at most 32 items"}},
			{name: "rejects a requester without username", mutate: func(o object) {
				unset(o, "spec", "requester", "username")
			}, wantErr: []string{"spec.requester.username", required}},
		})
	})

	t.Run("AccessDecision", func(t *testing.T) {
		ns := newNamespace(t)
		runCreateCases(t, decisionBase, ns, []validationCase{
			{name: "rejects a decision without request", mutate: func(o object) {
				unset(o, "spec", "request")
			}, wantErr: []string{"spec: Invalid value", "set exactly one of spec.request"}},
			{name: "rejects a decision with an empty request", mutate: func(o object) {
				set(o, "", "spec", "request")
			}, wantErr: []string{"spec.request"}},
			{name: "rejects a decision without decision", mutate: func(o object) {
				unset(o, "spec", "decision")
			}, wantErr: []string{"spec.decision", required}},
			{name: "rejects a comment longer than 1024 characters", mutate: func(o object) {
				set(o, strings.Repeat("c", 1025), "spec", "comment")
			}, wantErr: []string{"spec.comment", "may not be more than 1024"}},
		})
	})
}

func TestApprovalPolicyDefaults(t *testing.T) {
	utils.RequireEnvtest(t)
	newPolicy := func() *accessv1alpha1.ApprovalPolicy {
		return &accessv1alpha1.ApprovalPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: uniqueName(t)},
			Spec: accessv1alpha1.ApprovalPolicySpec{
				NamespaceSelector: &metav1.LabelSelector{},
				Entitlements: []accessv1alpha1.Entitlement{{
					RoleRef:     accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "db-migrator"},
					MaxDuration: metav1.Duration{Duration: time.Hour},
				}},
				Approvers: []accessv1alpha1.ApproverTier{{
					Name:     "app-owners",
					Subjects: []accessv1alpha1.Subject{{Kind: accessv1alpha1.SubjectUser, Name: "alice"}},
				}},
			},
		}
	}

	t.Run("defaults entitlement sensitivity to low, requireJustification to true and requiredApprovals to 1", func(t *testing.T) {
		p := newPolicy()
		if err := k8sClient.Create(t.Context(), p); err != nil {
			t.Fatalf("creating policy: %v", err)
		}
		got := &accessv1alpha1.ApprovalPolicy{}
		if err := k8sClient.Get(t.Context(), client.ObjectKeyFromObject(p), got); err != nil {
			t.Fatalf("reading policy back: %v", err)
		}
		if s := got.Spec.Entitlements[0].Sensitivity; s != accessv1alpha1.SensitivityLow {
			t.Errorf("entitlements[0].sensitivity = %q, want %q", s, accessv1alpha1.SensitivityLow)
		}
		if r := got.Spec.RequireJustification; r == nil || !*r {
			t.Errorf("requireJustification = %v, want true", r)
		}
		if n := got.Spec.Approvers[0].RequiredApprovals; n != 1 {
			t.Errorf("approvers[0].requiredApprovals = %d, want 1", n)
		}
		if got.Spec.Entitlements[0].AutoApprove {
			t.Errorf("entitlements[0].autoApprove = true, want false")
		}
	})

	t.Run("keeps an explicit requireJustification false and explicit values", func(t *testing.T) {
		p := newPolicy()
		p.Spec.RequireJustification = new(false)
		p.Spec.Entitlements[0].Sensitivity = accessv1alpha1.SensitivityCritical
		p.Spec.Approvers[0].RequiredApprovals = 3
		if err := k8sClient.Create(t.Context(), p); err != nil {
			t.Fatalf("creating policy: %v", err)
		}
		got := &accessv1alpha1.ApprovalPolicy{}
		if err := k8sClient.Get(t.Context(), client.ObjectKeyFromObject(p), got); err != nil {
			t.Fatalf("reading policy back: %v", err)
		}
		if r := got.Spec.RequireJustification; r == nil || *r {
			t.Errorf("requireJustification = %v, want false", r)
		}
		if s := got.Spec.Entitlements[0].Sensitivity; s != accessv1alpha1.SensitivityCritical {
			t.Errorf("entitlements[0].sensitivity = %q, want critical", s)
		}
		if n := got.Spec.Approvers[0].RequiredApprovals; n != 3 {
			t.Errorf("approvers[0].requiredApprovals = %d, want 3", n)
		}
	})
}

func TestAccessRequestSpecIsImmutable(t *testing.T) {
	utils.RequireEnvtest(t)
	ns := newNamespace(t)
	ctx := t.Context()
	newRequest := func(t *testing.T) *accessv1alpha1.AccessRequest {
		t.Helper()
		r := &accessv1alpha1.AccessRequest{
			ObjectMeta: metav1.ObjectMeta{Name: uniqueName(t), Namespace: ns},
			Spec: accessv1alpha1.AccessRequestSpec{
				ServiceAccount: accessv1alpha1.ServiceAccountReference{Name: "ledger-migrator"},
				RoleRef:        accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "db-migrator"},
				Duration:       metav1.Duration{Duration: time.Hour},
				Justification:  "Run schema migration for CHG-1234",
				Tags:           map[string]string{"owner": "team-ledger"},
				Requester:      &accessv1alpha1.Requester{UserInfo: accessv1alpha1.UserInfo{Username: "alice"}},
			},
		}
		if err := k8sClient.Create(ctx, r); err != nil {
			t.Fatalf("creating request: %v", err)
		}
		return r
	}

	specChanges := []struct {
		name   string
		change func(r *accessv1alpha1.AccessRequest)
	}{
		{"rejects an update of spec.duration", func(r *accessv1alpha1.AccessRequest) { r.Spec.Duration.Duration = 8 * time.Hour }},
		{"rejects an update of spec.roleRef", func(r *accessv1alpha1.AccessRequest) { r.Spec.RoleRef.Name = "admin" }},
		{"rejects adding a tag", func(r *accessv1alpha1.AccessRequest) { r.Spec.Tags["urgency"] = "high" }},
		{"rejects rewriting spec.requester", func(r *accessv1alpha1.AccessRequest) { r.Spec.Requester.Username = "mallory" }},
		{"rejects removing spec.requester", func(r *accessv1alpha1.AccessRequest) { r.Spec.Requester = nil }},
	}
	for _, tc := range specChanges {
		t.Run(tc.name, func(t *testing.T) {
			r := newRequest(t)
			tc.change(r)
			expectInvalid(t, k8sClient.Update(ctx, r), immutableRequest)
		})
	}

	t.Run("rejects a merge patch of spec.duration", func(t *testing.T) {
		r := newRequest(t)
		patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"duration":"2h"}}`))
		expectInvalid(t, k8sClient.Patch(ctx, r, patch), immutableRequest)
	})

	t.Run("accepts label and annotation updates", func(t *testing.T) {
		r := newRequest(t)
		r.Labels = map[string]string{"team": "ledger"}
		r.Annotations = map[string]string{"example.com/ticket": "CHG-1234"}
		if err := k8sClient.Update(ctx, r); err != nil {
			t.Fatalf("updating metadata: %v", err)
		}
	})

	t.Run("accepts adding a finalizer", func(t *testing.T) {
		r := newRequest(t)
		r.Finalizers = append(r.Finalizers, accessv1alpha1.RevokeFinalizer)
		if err := k8sClient.Update(ctx, r); err != nil {
			t.Fatalf("adding the finalizer: %v", err)
		}
		r.Finalizers = nil
		if err := k8sClient.Update(ctx, r); err != nil {
			t.Fatalf("removing the finalizer: %v", err)
		}
	})

	t.Run("accepts status updates through the status subresource", func(t *testing.T) {
		r := newRequest(t)
		now := metav1.NewTime(time.Now().Truncate(time.Second))
		r.Status = accessv1alpha1.AccessRequestStatus{
			ObservedGeneration:   r.Generation,
			Policy:               "payments",
			EffectiveSensitivity: accessv1alpha1.SensitivityHigh,
			Tier:                 "security",
			Approvals: []accessv1alpha1.ApprovalRecord{{
				Reviewer: "carol", Decision: accessv1alpha1.DecisionApprove, Tier: "security", Time: now,
				DecisionRef: "ledger-migrate-4711-carol",
			}},
			GrantedAt:   &now,
			ExpiresAt:   &metav1.Time{Time: now.Add(time.Hour)},
			RoleBinding: "rolegate-ledger-migrate-4711",
		}
		meta.SetStatusCondition(&r.Status.Conditions, metav1.Condition{
			Type: accessv1alpha1.ConditionReady, Status: metav1.ConditionTrue,
			Reason: accessv1alpha1.ReasonGranted, Message: "Access granted", ObservedGeneration: r.Generation,
		})
		if err := k8sClient.Status().Update(ctx, r); err != nil {
			t.Fatalf("updating status: %v", err)
		}
		got := &accessv1alpha1.AccessRequest{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(r), got); err != nil {
			t.Fatalf("reading request back: %v", err)
		}
		if got.Status.RoleBinding != "rolegate-ledger-migrate-4711" || len(got.Status.Conditions) != 1 {
			t.Errorf("status was not stored: %+v", got.Status)
		}
	})

	t.Run("ignores spec changes sent to the status subresource", func(t *testing.T) {
		r := newRequest(t)
		r.Spec.Duration.Duration = 8 * time.Hour
		r.Status.Policy = "payments"
		if err := k8sClient.Status().Update(ctx, r); err != nil {
			t.Fatalf("updating status: %v", err)
		}
		got := &accessv1alpha1.AccessRequest{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(r), got); err != nil {
			t.Fatalf("reading request back: %v", err)
		}
		if got.Spec.Duration.Duration != time.Hour {
			t.Errorf("spec.duration = %v after a status update, want 1h", got.Spec.Duration.Duration)
		}
		if got.Status.Policy != "payments" {
			t.Errorf("status.policy = %q, want payments", got.Status.Policy)
		}
	})

	t.Run("rejects a status with an unknown effectiveSensitivity", func(t *testing.T) {
		r := newRequest(t)
		r.Status.EffectiveSensitivity = "extreme"
		err := k8sClient.Status().Update(ctx, r)
		expectInvalid(t, err, "status.effectiveSensitivity", unsupported)
	})
}

func TestAccessDecisionSpecIsImmutable(t *testing.T) {
	utils.RequireEnvtest(t)
	ns := newNamespace(t)
	ctx := t.Context()
	newDecision := func(t *testing.T) *accessv1alpha1.AccessDecision {
		t.Helper()
		d := &accessv1alpha1.AccessDecision{
			ObjectMeta: metav1.ObjectMeta{Name: uniqueName(t), Namespace: ns},
			Spec: accessv1alpha1.AccessDecisionSpec{
				Request:  "ledger-migrate-4711",
				Decision: accessv1alpha1.DecisionApprove,
				Comment:  "ok for CHG-1234",
				Reviewer: &accessv1alpha1.UserInfo{Username: "carol", Groups: []string{"security-oncall"}},
			},
		}
		if err := k8sClient.Create(ctx, d); err != nil {
			t.Fatalf("creating decision: %v", err)
		}
		return d
	}

	specChanges := []struct {
		name   string
		change func(d *accessv1alpha1.AccessDecision)
	}{
		{"rejects turning an Approve into a Deny", func(d *accessv1alpha1.AccessDecision) { d.Spec.Decision = accessv1alpha1.DecisionDeny }},
		{"rejects pointing the decision at another request", func(d *accessv1alpha1.AccessDecision) { d.Spec.Request = "other" }},
		{"rejects editing the comment", func(d *accessv1alpha1.AccessDecision) { d.Spec.Comment = "changed my mind" }},
		{"rejects rewriting spec.reviewer", func(d *accessv1alpha1.AccessDecision) {
			d.Spec.Reviewer.Groups = append(d.Spec.Reviewer.Groups, "admins")
		}},
	}
	for _, tc := range specChanges {
		t.Run(tc.name, func(t *testing.T) {
			d := newDecision(t)
			tc.change(d)
			expectInvalid(t, k8sClient.Update(ctx, d), immutableDecision)
		})
	}

	t.Run("accepts label updates", func(t *testing.T) {
		d := newDecision(t)
		d.Labels = map[string]string{"reviewed": "yes"}
		if err := k8sClient.Update(ctx, d); err != nil {
			t.Fatalf("updating labels: %v", err)
		}
	})

	t.Run("accepts status updates through the status subresource", func(t *testing.T) {
		d := newDecision(t)
		meta.SetStatusCondition(&d.Status.Conditions, metav1.Condition{
			Type: accessv1alpha1.ConditionCounted, Status: metav1.ConditionFalse,
			Reason: accessv1alpha1.ReasonNotEligible, Message: "carol is not in tier security",
			ObservedGeneration: d.Generation,
		})
		d.Status.ObservedGeneration = d.Generation
		if err := k8sClient.Status().Update(ctx, d); err != nil {
			t.Fatalf("updating status: %v", err)
		}
	})
}

// TestSamplesAreAccepted creates every sample in config/samples/ as it is
// documented: the policy, then the request and the decision in namespace
// payments. Decoding is strict, so a misspelt field in a sample fails here
// instead of being dropped silently.
func TestSamplesAreAccepted(t *testing.T) {
	utils.RequireEnvtest(t)
	ctx := t.Context()
	dir := filepath.Join("..", "..", "config", "samples")

	policy := &accessv1alpha1.ApprovalPolicy{}
	request := &accessv1alpha1.AccessRequest{}
	decision := &accessv1alpha1.AccessDecision{}
	samples := []struct {
		file string
		obj  client.Object
	}{
		// Order matters only for reading: the policy first, as a user applies it.
		{"access_v1alpha1_approvalpolicy.yaml", policy},
		{"access_v1alpha1_accessrequest.yaml", request},
		{"access_v1alpha1_accessdecision.yaml", decision},
	}

	// The namespace the samples live in. It may exist already when the test
	// runs more than once (-count); envtest never finishes deleting it.
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "payments", Labels: map[string]string{"team": "payments"}}}
	if err := k8sClient.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating namespace payments: %v", err)
	}

	for _, s := range samples {
		t.Run(s.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, s.file))
			if err != nil {
				t.Fatalf("reading sample: %v", err)
			}
			if err := yaml.UnmarshalStrict(data, s.obj); err != nil {
				t.Fatalf("decoding sample: %v", err)
			}
			if err := k8sClient.Create(ctx, s.obj); err != nil {
				t.Fatalf("the API server rejected the sample: %v", err)
			}
			t.Cleanup(func() {
				// Remove it again so the test can run repeatedly in one process.
				if err := k8sClient.Delete(context.WithoutCancel(ctx), s.obj); client.IgnoreNotFound(err) != nil {
					t.Errorf("deleting sample: %v", err)
				}
			})
		})
	}

	// The samples are meant to tell one story: the policy governs namespace
	// payments and catalogs the requested role, the request carries the
	// policy's required tags, and the decision is about that request.
	if t.Failed() {
		return
	}
	selector, err := metav1.LabelSelectorAsSelector(policy.Spec.NamespaceSelector)
	if err != nil || !selector.Matches(labels.Set(ns.Labels)) {
		t.Errorf("the policy's namespaceSelector does not select namespace payments (err %v)", err)
	}
	var entitlement *accessv1alpha1.Entitlement
	for i, e := range policy.Spec.Entitlements {
		if e.RoleRef == request.Spec.RoleRef {
			entitlement = &policy.Spec.Entitlements[i]
		}
	}
	switch {
	case entitlement == nil:
		t.Errorf("the policy's catalog does not hold the requested %s", request.Spec.RoleRef)
	case request.Spec.Duration.Duration > entitlement.MaxDuration.Duration:
		t.Errorf("the request's duration %v exceeds maxDuration %v", request.Spec.Duration.Duration, entitlement.MaxDuration.Duration)
	}
	for _, tag := range policy.Spec.RequiredTags {
		v, ok := request.Spec.Tags[tag.Key]
		if !ok || v == "" || (len(tag.Values) > 0 && !slices.Contains(tag.Values, v)) {
			t.Errorf("the request's tag %s=%q does not satisfy the policy (allowed %v)", tag.Key, v, tag.Values)
		}
	}
	// Identity is written by admission from the authenticated user; a sample
	// carrying one would be refused.
	if request.Spec.Requester != nil || decision.Spec.Reviewer != nil {
		t.Errorf("samples must not set spec.requester or spec.reviewer; admission refuses client-supplied identity")
	}
	if decision.Spec.Request != request.Name || decision.Namespace != request.Namespace {
		t.Errorf("the decision names request %s/%s, want %s/%s", decision.Namespace, decision.Spec.Request, request.Namespace, request.Name)
	}
}

func TestDecisionsAreSelectableByTheirRequest(t *testing.T) {
	utils.RequireEnvtest(t)
	ns := newNamespace(t)
	for _, request := range []string{"wanted", "other"} {
		d := &accessv1alpha1.AccessDecision{
			ObjectMeta: metav1.ObjectMeta{GenerateName: request + "-", Namespace: ns},
			Spec:       accessv1alpha1.AccessDecisionSpec{Request: request, Decision: accessv1alpha1.DecisionApprove},
		}
		if err := k8sClient.Create(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
	// The API server filters: a plain client (the CLI) needs no index.
	var list accessv1alpha1.AccessDecisionList
	if err := k8sClient.List(t.Context(), &list, client.InNamespace(ns), client.MatchingFields{"spec.request": "wanted"}); err != nil {
		t.Fatalf("listing by spec.request: %v", err)
	}
	if len(list.Items) != 1 || list.Items[0].Spec.Request != "wanted" {
		t.Fatalf("got %d decisions, want only the one for request wanted", len(list.Items))
	}
}

func TestRequestsAreSelectableByWhatTheyExtend(t *testing.T) {
	utils.RequireEnvtest(t)
	ns := newNamespace(t)
	for _, extends := range []string{"original", "other", ""} {
		o := requestBase(t)
		if extends != "" {
			set(o, extends, "spec", "extends")
		}
		if _, err := createObject(t.Context(), o, uniqueName(t), ns); err != nil {
			t.Fatal(err)
		}
	}
	var list accessv1alpha1.AccessRequestList
	if err := k8sClient.List(t.Context(), &list, client.InNamespace(ns), client.MatchingFields{"spec.extends": "original"}); err != nil {
		t.Fatalf("listing by spec.extends: %v", err)
	}
	if len(list.Items) != 1 || list.Items[0].Spec.Extends != "original" {
		t.Fatalf("got %d requests, want only the one extending original", len(list.Items))
	}
}

func TestBreakGlassExtensionNotificationAndScheduleFields(t *testing.T) {
	utils.RequireEnvtest(t)
	runCreateCases(t, policyBase, "", []validationCase{
		{name: "rejects allowPersistenceRisk without a reason", mutate: func(o object) {
			set(o, true, "spec", "entitlements", 0, "allowPersistenceRisk")
		}, wantErr: []string{"spec.entitlements[0].persistenceRiskReason", "persistenceRiskReason is required when allowPersistenceRisk is true"}},
		{name: "rejects allowPersistenceRisk with an empty reason", mutate: func(o object) {
			set(o, true, "spec", "entitlements", 0, "allowPersistenceRisk")
			set(o, "", "spec", "entitlements", 0, "persistenceRiskReason")
		}, wantErr: []string{"persistenceRiskReason is required"}},
		{name: "accepts allowPersistenceRisk with a reason", mutate: func(o object) {
			set(o, true, "spec", "entitlements", 0, "allowPersistenceRisk")
			set(o, "migrations create their own Secrets; reviewed in SEC-42", "spec", "entitlements", 0, "persistenceRiskReason")
		}},
		{name: "accepts a break-glass entitlement that notifies a listed target", mutate: func(o object) {
			set(o, []any{object{"name": "oncall", "webhook": object{"url": "https://pager.example.com"}}}, "spec", "notify")
			set(o, object{"maxDuration": "30m", "notify": []any{"oncall"}}, "spec", "entitlements", 0, "breakGlass")
		}},
		{name: "accepts a break-glass entitlement without notify", mutate: func(o object) {
			set(o, object{"maxDuration": "30m"}, "spec", "entitlements", 0, "breakGlass")
		}},
		{name: "rejects break-glass notify naming a target the policy does not list", mutate: func(o object) {
			set(o, []any{object{"name": "chat", "webhook": object{"url": "https://chat.example.com"}}}, "spec", "notify")
			set(o, object{"maxDuration": "30m", "notify": []any{"oncall"}}, "spec", "entitlements", 0, "breakGlass")
		}, wantErr: []string{"spec: Invalid value", "entitlements[].breakGlass.notify must name targets listed in spec.notify"}},
		{name: "rejects break-glass notify when the policy has no targets", mutate: func(o object) {
			set(o, object{"maxDuration": "30m", "notify": []any{"oncall"}}, "spec", "entitlements", 0, "breakGlass")
		}, wantErr: []string{"entitlements[].breakGlass.notify must name targets listed in spec.notify"}},
		{name: "rejects a break-glass maxDuration longer than the entitlement's", mutate: func(o object) {
			set(o, object{"maxDuration": "2h"}, "spec", "entitlements", 0, "breakGlass")
		}, wantErr: []string{"spec.entitlements[0].breakGlass.maxDuration", "must not exceed maxDuration"}},
		{name: "rejects a break-glass without maxDuration", mutate: func(o object) {
			set(o, object{}, "spec", "entitlements", 0, "breakGlass")
		}, wantErr: []string{"spec.entitlements[0].breakGlass.maxDuration", required}},
		{name: "rejects negative maxExtensions", mutate: func(o object) {
			set(o, -1, "spec", "maxExtensions")
		}, wantErr: []string{"spec.maxExtensions", "greater than or equal to 0"}},
		{name: "rejects maxExtensions above 16", mutate: func(o object) {
			set(o, 17, "spec", "maxExtensions")
		}, wantErr: []string{"spec.maxExtensions", "less than or equal to 16"}},
		{name: "accepts a webhook and a slack target", mutate: func(o object) {
			set(o, []any{
				object{"name": "audit-hook", "webhook": object{"url": "https://hooks.example.com/rolegate",
					"signingSecretRef": object{"name": "rolegate-notify", "key": "hmac"}}, "events": []any{"Granted", "Revoked"}},
				object{"name": "chat", "slack": object{"urlSecretRef": object{"name": "rolegate-notify", "key": "slack-url"}}},
			}, "spec", "notify")
		}},
		{name: "rejects a target with neither webhook nor slack", mutate: func(o object) {
			set(o, []any{object{"name": "nothing"}}, "spec", "notify")
		}, wantErr: []string{"spec.notify[0]", "set exactly one of webhook or slack"}},
		{name: "rejects a target with both webhook and slack", mutate: func(o object) {
			set(o, []any{object{"name": "both", "webhook": object{"url": "https://a.example"},
				"slack": object{"urlSecretRef": object{"name": "s", "key": "k"}}}}, "spec", "notify")
		}, wantErr: []string{"spec.notify[0]", "set exactly one of webhook or slack"}},
		{name: "rejects a webhook URL that is not http(s)", mutate: func(o object) {
			set(o, []any{object{"name": "ftp", "webhook": object{"url": "ftp://a.example"}}}, "spec", "notify")
		}, wantErr: []string{"spec.notify[0].webhook.url", shouldMatch}},
		{name: "rejects an unknown notification event", mutate: func(o object) {
			set(o, []any{object{"name": "x", "webhook": object{"url": "https://a.example"}, "events": []any{"Created"}}}, "spec", "notify")
		}, wantErr: []string{"spec.notify[0].events[0]", unsupported}},
		{name: "rejects two targets with the same name", mutate: func(o object) {
			target := object{"name": "x", "webhook": object{"url": "https://a.example"}}
			set(o, []any{target, target}, "spec", "notify")
		}, wantErr: []string{"spec.notify[1]", "Duplicate value"}},
	})
	ns := newNamespace(t)
	runCreateCases(t, requestBase, ns, []validationCase{
		{name: "accepts extends and startTime", mutate: func(o object) {
			set(o, "ledger-migrate-4711", "spec", "extends")
			set(o, "2026-12-01T09:00:00Z", "spec", "startTime")
		}},
	})
	t.Run("rejects a request that extends itself", func(t *testing.T) {
		o := requestBase(t)
		name := uniqueName(t)
		set(o, name, "spec", "extends")
		_, err := createObject(t.Context(), o, name, ns)
		expectInvalid(t, err, "spec.extends", "a request cannot extend itself")
	})
	runCreateCases(t, decisionBase, ns, []validationCase{
		{name: "accepts an Acknowledge decision", mutate: func(o object) {
			set(o, "Acknowledge", "spec", "decision")
		}},
	})
}
