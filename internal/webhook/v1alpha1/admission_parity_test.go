package v1alpha1_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/app"
	"rolegate.dev/rolegate/test/utils"
)

// asWarned is as, with the warnings the user's writes receive.
func asWarned(t *testing.T, user string, groups ...string) (client.Client, *utils.Warnings) {
	t.Helper()
	w := &utils.Warnings{}
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	cfg.WarningHandler = w
	c, err := client.New(cfg, client.Options{Scheme: app.Scheme})
	utils.Must(t, err)
	return c, w
}

func TestWhatMayExistLaterIsAdmittedWithAWarning(t *testing.T) {
	tm := newTeam(t, func(p *accessv1alpha1.ApprovalPolicy) {
		p.Spec.Entitlements = append(p.Spec.Entitlements, accessv1alpha1.Entitlement{
			RoleRef:     accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "applied-later"},
			MaxDuration: metav1.Duration{Duration: time.Hour}, Sensitivity: accessv1alpha1.SensitivityHigh})
	})

	t.Run("a ServiceAccount not created yet", func(t *testing.T) {
		alice, w := asWarned(t, "alice", devs...)
		r := tm.requestObject("for-a-new-sa")
		r.Spec.ServiceAccount.Name = "created-by-gitops"
		utils.Must(t, alice.Create(t.Context(), r))
		want := fmt.Sprintf("spec.serviceAccount: ServiceAccount %s/created-by-gitops does not exist yet; the request is admitted", tm.ns)
		if !strings.Contains(w.All(), want) {
			t.Fatalf("warnings %q, want %q", w.All(), want)
		}
		// The existing ServiceAccount of the team draws no warning.
		alice, w = asWarned(t, "alice", devs...)
		utils.Must(t, alice.Create(t.Context(), tm.requestObject("for-an-existing-sa")))
		if w.All() != "" {
			t.Errorf("warnings %q for a request that waits for nothing", w.All())
		}
	})

	t.Run("a Role not created yet", func(t *testing.T) {
		alice, w := asWarned(t, "alice", devs...)
		r := tm.requestObject("for-a-new-role")
		r.Spec.RoleRef.Name = "applied-later"
		utils.Must(t, alice.Create(t.Context(), r))
		want := "spec.roleRef: Role/applied-later does not exist in namespace " + tm.ns
		if !containsAll(w.All(), want, "stays Invalid (RoleNotFound)", "until the role exists; then it goes to approval") {
			t.Fatalf("warnings %q, want %q and what happens until then", w.All(), want)
		}
		// What the warning said happens: invalid until the role exists, then pending.
		tm.waitReady(t, "for-a-new-role", accessv1alpha1.ReasonInvalid)
		utils.Must(t, admin.Create(t.Context(), &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "applied-later", Namespace: tm.ns},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}}}}))
		tm.waitReady(t, "for-a-new-role", accessv1alpha1.ReasonPendingApproval)
	})
}

func TestDeceptiveTextIsRefused(t *testing.T) {
	tm := newTeam(t)
	cases := []struct {
		name   string
		mutate func(*accessv1alpha1.AccessRequest)
		want   []string
	}{
		{"a right-to-left override in the justification", func(r *accessv1alpha1.AccessRequest) {
			r.Spec.Justification = "Run migration \u202Etxt.exe"
		}, []string{"spec.justification", "bidirectional overrides"}},
		{"an escape sequence in the justification", func(r *accessv1alpha1.AccessRequest) {
			r.Spec.Justification = "\x1b[2Jall good"
		}, []string{"spec.justification", "control characters other than newline and tab"}},
		{"a bidirectional isolate in a tag value", func(r *accessv1alpha1.AccessRequest) {
			r.Spec.Tags["owner"] = "team-\u2066ledger"
		}, []string{"spec.tags.owner: Invalid value: character 6 is the invisible formatting character U+2066"}},
		{"a newline in a tag value", func(r *accessv1alpha1.AccessRequest) {
			r.Spec.Tags["owner"] = "team\nledger"
		}, []string{"spec.tags.owner: Invalid value: character 5 is the control character U+000A; control characters are not allowed"}},
		{"a tag value longer than 253 characters", func(r *accessv1alpha1.AccessRequest) {
			r.Spec.Tags["owner"] = strings.Repeat("x", 254)
		}, []string{"spec.tags"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tm.requestObject("deceptive")
			tc.mutate(r)
			refused(t, as(t, "alice", devs...).Create(t.Context(), r), tc.want...)
		})
	}
	// Newlines and tabs are fine in a justification.
	r := tm.requestObject("multiline")
	r.Spec.Justification = "CHG-1234:\n\t1. migrate\n\t2. verify"
	utils.Must(t, as(t, "alice", devs...).Create(t.Context(), r))
}

func TestInvalidServiceAccountNamesAreRefused(t *testing.T) {
	tm := newTeam(t)
	for _, name := range []string{"Evil_SA:x", "UPPER", "-leading-dash"} {
		r := tm.requestObject("bad-sa")
		r.Spec.ServiceAccount.Name = name
		refused(t, as(t, "alice", devs...).Create(t.Context(), r), "spec.serviceAccount.name", "valid ServiceAccount name")
	}
	r := tm.requestObject("bad-sa-namespace")
	r.Spec.ServiceAccount.Namespace = "Kube_System"
	refused(t, as(t, "alice", devs...).Create(t.Context(), r), "spec.serviceAccount.namespace", "valid namespace name")
}

func TestValuesThatDoNotDecodeAreRefusedNamingTheField(t *testing.T) {
	tm := newTeam(t, func(p *accessv1alpha1.ApprovalPolicy) { p.Spec.Requesters = nil })
	manifest := func(field string, value any) *unstructured.Unstructured {
		spec := map[string]any{
			"serviceAccount": map[string]any{"name": "ledger-migrator"},
			"roleRef":        map[string]any{"kind": "Role", "name": "db-migrator"},
			"duration":       "1h", "justification": "Run schema migration for CHG-1234",
			"tags": map[string]any{"type": "temporary", "sensitivity": "high", "owner": "team-ledger"},
		}
		spec[field] = value
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": accessv1alpha1.GroupVersion.String(), "kind": "AccessRequest",
			"metadata": map[string]any{"name": "typed", "namespace": tm.ns}, "spec": spec,
		}}
	}
	cases := []struct {
		name  string
		field string
		value any
		want  []string
	}{
		{"a number for duration", "duration", int64(3), []string{"spec.duration", "must be a Go duration such as 30m or 8h"}},
		{"days for duration", "duration", "3d", []string{"spec.duration", "must be a Go duration such as 30m or 8h"}},
		{"tags as a list", "tags", []any{"type=temporary"}, []string{"spec.tags", "must be a map of key: value pairs"}},
		{"a time that is not RFC 3339", "startTime", "next monday", []string{"spec.startTime", "must be an RFC 3339 time"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := as(t, "alice", devs...).Create(t.Context(), manifest(tc.field, tc.value))
			refused(t, err, tc.want...)
			if strings.Contains(err.Error(), "json: cannot unmarshal") || strings.Contains(err.Error(), "type conversion error") {
				t.Errorf("the refusal leaks a decoder error: %v", err)
			}
		})
	}
}

func TestAnExtensionPastMaxExtensionsIsRefusedAtAdmission(t *testing.T) {
	tm := newTeam(t, func(p *accessv1alpha1.ApprovalPolicy) {
		p.Spec.MaxExtensions = 1
		p.Spec.Entitlements[0].AutoApprove = true
	})
	alice := as(t, "alice", devs...)
	tm.open(t, "migrate", "alice", devs...)
	tm.waitReady(t, "migrate", accessv1alpha1.ReasonGranted)
	extension := func(name string) *accessv1alpha1.AccessRequest {
		r := tm.requestObject(name)
		r.Spec.Extends = "migrate"
		r.Spec.Duration = metav1.Duration{Duration: 10 * time.Minute}
		return r
	}
	utils.Must(t, alice.Create(t.Context(), extension("more-1")))
	utils.Eventually(t, wait, func() error {
		if got := tm.get(t, "migrate").Status.Extensions; len(got) != 1 {
			return fmt.Errorf("extensions = %+v, want more-1 applied", got)
		}
		return nil
	})
	want := []string{"spec.extends: Forbidden: migrate cannot be extended: " +
		"the grant already has the 1 extension(s) the policy allows (maxExtensions); request new access when it ends"}
	// Admission judges from its cache, which sees the applied extension shortly.
	utils.Eventually(t, wait, func() error {
		if err := alice.Create(t.Context(), extension("more-2"), client.DryRunAll); err == nil || !containsAll(err.Error(), want...) {
			return fmt.Errorf("second extension: %w, want refused with %q", err, want)
		}
		return nil
	})
	refused(t, alice.Create(t.Context(), extension("more-2")), want...)
}

func TestAnOverlappingPolicyIsAdmittedWithAWarning(t *testing.T) {
	tm := newTeam(t)
	c, w := asWarned(t, "platform-admin", "system:masters")
	weaker := &accessv1alpha1.ApprovalPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: tm.policy + "-fast"},
		Spec: accessv1alpha1.ApprovalPolicySpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": tm.ns}},
			Entitlements: []accessv1alpha1.Entitlement{{
				RoleRef:     accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "db-migrator"},
				MaxDuration: metav1.Duration{Duration: 8 * time.Hour}, AutoApprove: true}},
		},
	}
	utils.Must(t, c.Create(t.Context(), weaker))
	t.Cleanup(func() { _ = admin.Delete(context.Background(), weaker) })
	want := []string{
		fmt.Sprintf(`spec.entitlements: ApprovalPolicy %q also offers Role/db-migrator in namespace(s) %s; `, tm.policy, tm.ns),
		"must name one in spec.policy",
		fmt.Sprintf(`%q is weaker: it grants without approval (autoApprove) where %q requires approval, allows maxDuration 8h0m0s where %q allows 1h0m0s`,
			weaker.Name, tm.policy, tm.policy),
		fmt.Sprintf(`does not require tag(s) type, sensitivity, owner that %q requires`, tm.policy),
	}
	if !containsAll(w.All(), want...) {
		t.Fatalf("warnings %q, want %q", w.All(), want)
	}
}
