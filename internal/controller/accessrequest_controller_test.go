package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/controller"
	"rolegate.dev/rolegate/test/utils"
)

func TestAutoApprovedEntitlementIsGranted(t *testing.T) {
	utils.RequireEnvtest(t)
	w := newWorld(t)
	w.request(t, "view-1")
	r := w.waitReady(t, "view-1", accessv1alpha1.ReasonGranted)

	if c := condition(t, r, accessv1alpha1.ConditionApproved); c.Status != metav1.ConditionTrue || c.Reason != accessv1alpha1.ReasonAutoApproved {
		t.Errorf("Approved = %+v, want True/AutoApproved", c)
	}
	if c := condition(t, r, accessv1alpha1.ConditionValidated); c.Status != metav1.ConditionTrue {
		t.Errorf("Validated = %+v", c)
	}
	if r.Status.Policy != w.policy || r.Status.GrantedAt == nil || r.Status.ExpiresAt == nil {
		t.Fatalf("status = %+v, want policy, grantedAt and expiresAt", r.Status)
	}
	if got := r.Status.ExpiresAt.Sub(r.Status.GrantedAt.Time); got != time.Hour {
		t.Errorf("expiresAt - grantedAt = %s, want the requested 1h", got)
	}
	if len(r.Status.Approvals) != 1 || r.Status.Approvals[0].Reviewer != "ApprovalPolicy/"+w.policy {
		t.Errorf("approvals = %+v, want one by the policy", r.Status.Approvals)
	}
	if r.Status.ObservedGeneration != r.Generation {
		t.Errorf("observedGeneration = %d, want %d", r.Status.ObservedGeneration, r.Generation)
	}

	rb := w.binding(t, r.Status.RoleBinding)
	if rb.Name != controller.BindingName(r) {
		t.Errorf("binding name = %s, want the deterministic %s", rb.Name, controller.BindingName(r))
	}
	if rb.Labels[accessv1alpha1.ManagedByLabel] != "rolegate" || rb.Labels[accessv1alpha1.RequestLabel] != "view-1" {
		t.Errorf("labels = %v", rb.Labels)
	}
	if ref := metav1.GetControllerOf(rb); ref == nil || ref.UID != r.UID || ref.Kind != "AccessRequest" {
		t.Errorf("controller reference = %+v, want the request", ref)
	}
	want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: w.sa, Namespace: w.ns}}
	if fmt.Sprint(rb.Subjects) != fmt.Sprint(want) {
		t.Errorf("subjects = %+v, want exactly %+v", rb.Subjects, want)
	}
	if rb.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: w.clusterRole}) {
		t.Errorf("roleRef = %+v", rb.RoleRef)
	}
	if !controllerHasFinalizer(r) {
		t.Errorf("finalizers = %v, want %s", r.Finalizers, accessv1alpha1.RevokeFinalizer)
	}
	waitEvent(t, w, "view-1", "Granted")
	waitAudit(t, "view-1", "Granted")
}

func controllerHasFinalizer(r *accessv1alpha1.AccessRequest) bool {
	for _, f := range r.Finalizers {
		if f == accessv1alpha1.RevokeFinalizer {
			return true
		}
	}
	return false
}

func TestTwoApprovalTierNeedsTwoDistinctReviewers(t *testing.T) {
	utils.RequireEnvtest(t)
	w := newWorld(t)
	w.request(t, "migrate", forRole(accessv1alpha1.RoleKindRole, w.role), tagged("sensitivity", "high"))
	r := w.waitReady(t, "migrate", accessv1alpha1.ReasonPendingApproval)
	if r.Status.Tier != "security" || r.Status.EffectiveSensitivity != accessv1alpha1.SensitivityHigh {
		t.Errorf("tier = %q, sensitivity = %q; want security, high", r.Status.Tier, r.Status.EffectiveSensitivity)
	}
	if c := condition(t, r, accessv1alpha1.ConditionApproved); c.Status != metav1.ConditionUnknown {
		t.Errorf("Approved = %+v, want Unknown while pending", c)
	}

	first := w.decide(t, "migrate", "carol", security, accessv1alpha1.DecisionApprove)
	waitCounted(t, w, first, accessv1alpha1.ReasonCounted)
	again := w.decide(t, "migrate", "carol", security, accessv1alpha1.DecisionApprove)
	// Decisions made within the same second are ordered by name, so either
	// of carol's two may be the one that counts; exactly one must.
	eventually(t, waitLong, func() error {
		got := map[string]int{}
		for _, name := range []string{first, again} {
			got[countedReason(t, w, name)]++
		}
		if got[accessv1alpha1.ReasonCounted] != 1 || got[accessv1alpha1.ReasonDuplicate] != 1 {
			return fmt.Errorf("carol's decisions = %v, want one Counted and one Duplicate", got)
		}
		return nil
	})
	self := w.decide(t, "migrate", "dave", security, accessv1alpha1.DecisionApprove)
	waitCounted(t, w, self, accessv1alpha1.ReasonSelfApproval)
	lower := w.decide(t, "migrate", "bob", owners, accessv1alpha1.DecisionApprove)
	waitCounted(t, w, lower, accessv1alpha1.ReasonNotEligible)
	consistently(t, time.Second, func() error {
		if n := len(w.bindings(t, "migrate")); n != 0 {
			return fmt.Errorf("%d bindings after one distinct approval", n)
		}
		return nil
	})
	if r := w.get(t, "migrate"); condition(t, r, accessv1alpha1.ConditionReady).Reason != accessv1alpha1.ReasonPendingApproval {
		t.Fatalf("a second approval by the same reviewer, self-approval or a lower tier must not approve: %s", describe(r.Status.Conditions))
	}

	second := w.decide(t, "migrate", "erin", security, accessv1alpha1.DecisionApprove)
	r = w.waitReady(t, "migrate", accessv1alpha1.ReasonGranted)
	waitCounted(t, w, second, accessv1alpha1.ReasonCounted)
	var reviewers []string
	for _, a := range r.Status.Approvals {
		reviewers = append(reviewers, a.Reviewer+"@"+a.Tier)
	}
	if strings.Join(reviewers, ",") != "carol@security,erin@security" {
		t.Errorf("approvals = %v", reviewers)
	}
	if rb := w.binding(t, r.Status.RoleBinding); rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != w.role {
		t.Errorf("roleRef = %+v", rb.RoleRef)
	}
}

func TestDenyEndsTheRequest(t *testing.T) {
	utils.RequireEnvtest(t)
	w := newWorld(t)
	w.request(t, "denied", forRole(accessv1alpha1.RoleKindRole, "config-editor"), tagged("sensitivity", "medium"))
	w.waitReady(t, "denied", accessv1alpha1.ReasonPendingApproval)
	w.decide(t, "denied", "bob", owners, accessv1alpha1.DecisionDeny)
	r := w.waitReady(t, "denied", accessv1alpha1.ReasonDenied)
	if c := condition(t, r, accessv1alpha1.ConditionApproved); c.Status != metav1.ConditionFalse || c.Reason != accessv1alpha1.ReasonDenied {
		t.Errorf("Approved = %+v, want False/Denied", c)
	}
	late := w.decide(t, "denied", "frank", owners, accessv1alpha1.DecisionApprove)
	waitCounted(t, w, late, accessv1alpha1.ReasonRequestNotPending)
	consistently(t, time.Second, func() error {
		if n := len(w.bindings(t, "denied")); n != 0 {
			return fmt.Errorf("a denied request got %d bindings", n)
		}
		return nil
	})
	waitEvent(t, w, "denied", "Denied")
}

func TestGrantIsRevokedAtExpiry(t *testing.T) {
	utils.RequireEnvtest(t)
	w := newWorld(t)
	w.request(t, "short", lasting(3*time.Second))
	r := w.waitReady(t, "short", accessv1alpha1.ReasonGranted)
	name := r.Status.RoleBinding
	r = w.waitReady(t, "short", accessv1alpha1.ReasonExpired)
	if c := condition(t, r, accessv1alpha1.ConditionExpired); c.Status != metav1.ConditionTrue {
		t.Errorf("Expired = %+v, want True", c)
	}
	if c := condition(t, r, accessv1alpha1.ConditionGranted); c.Status != metav1.ConditionFalse || c.Reason != accessv1alpha1.ReasonExpired {
		t.Errorf("Granted = %+v, want False/Expired", c)
	}
	if r.Status.RevokedAt == nil || r.Status.RevokedAt.Before(r.Status.ExpiresAt) {
		t.Errorf("revokedAt = %v, expiresAt = %v: revocation must not precede expiry", r.Status.RevokedAt, r.Status.ExpiresAt)
	}
	if lag := r.Status.RevokedAt.Sub(r.Status.ExpiresAt.Time); lag > 2*time.Second {
		t.Errorf("revoked %s after expiry, want within 2s (RequeueAfter, not a resync)", lag)
	}
	eventually(t, waitLong, func() error {
		return notFound(k8s.Get(t.Context(), client.ObjectKey{Namespace: w.ns, Name: name}, &rbacv1.RoleBinding{}))
	})
	waitEvent(t, w, "short", "Expired")
	waitAudit(t, "short", "Expired")
}

func TestDeletingARequestRemovesItsBinding(t *testing.T) {
	utils.RequireEnvtest(t)
	w := newWorld(t)
	r := w.request(t, "bye")
	r = w.waitReady(t, r.Name, accessv1alpha1.ReasonGranted)
	must(t, k8s.Delete(t.Context(), r))
	eventually(t, waitLong, func() error {
		return notFound(k8s.Get(t.Context(), client.ObjectKeyFromObject(r), &accessv1alpha1.AccessRequest{}))
	})
	w.waitNoBindings(t, "bye")
	waitAudit(t, "bye", "Revoked")
	if !strings.Contains(auditLog.String(), `"request":"bye"`) ||
		!strings.Contains(auditLog.String(), `"reason":"RequestDeleted","message":"the AccessRequest was deleted; its RoleBinding was removed"`) {
		t.Errorf("no audit line records the deletion with reason RequestDeleted:\n%s", auditLog.String())
	}
	waitEvent(t, w, "bye", accessv1alpha1.ReasonRevoked)
}

func TestBindingEditedByHandIsRestored(t *testing.T) {
	utils.RequireEnvtest(t)
	w := newWorld(t)
	r := w.waitReady(t, w.request(t, "drift").Name, accessv1alpha1.ReasonGranted)
	rb := w.binding(t, r.Status.RoleBinding)
	uid := rb.UID
	rb.Subjects = append(rb.Subjects, rbacv1.Subject{Kind: "User", Name: "mallory", APIGroup: rbacv1.GroupName})
	must(t, k8s.Update(t.Context(), rb))
	eventually(t, waitLong, func() error {
		rb := w.binding(t, r.Status.RoleBinding)
		if len(rb.Subjects) != 1 || rb.Subjects[0].Name != w.sa {
			return fmt.Errorf("subjects = %+v", rb.Subjects)
		}
		if rb.UID != uid {
			return fmt.Errorf("binding was re-created; a subject change should be restored in place")
		}
		return nil
	})
	waitEvent(t, w, "drift", "Restored")

	// Deleted by hand: re-created while the grant lasts, with the same expiry.
	must(t, k8s.Delete(t.Context(), w.binding(t, r.Status.RoleBinding)))
	eventually(t, waitLong, func() error {
		got := &rbacv1.RoleBinding{}
		if err := k8s.Get(t.Context(), client.ObjectKey{Namespace: w.ns, Name: r.Status.RoleBinding}, got); err != nil {
			return err
		}
		if got.UID == uid {
			return fmt.Errorf("not re-created yet")
		}
		return nil
	})
	if after := w.get(t, "drift"); !after.Status.ExpiresAt.Equal(r.Status.ExpiresAt) {
		t.Errorf("expiresAt moved from %s to %s: restoring must not extend access", r.Status.ExpiresAt, after.Status.ExpiresAt)
	}

	// Stripped of its labels (and so hidden from the label-scoped cache): put back.
	rb = w.binding(t, r.Status.RoleBinding)
	rb.Labels = nil
	must(t, k8s.Update(t.Context(), rb))
	eventually(t, waitLong, func() error {
		got := w.binding(t, r.Status.RoleBinding)
		if got.Labels[accessv1alpha1.ManagedByLabel] != accessv1alpha1.ManagedByValue {
			return fmt.Errorf("labels = %v", got.Labels)
		}
		return nil
	})
}

func TestOrphanManagedBindingIsRemoved(t *testing.T) {
	utils.RequireEnvtest(t)
	w := newWorld(t)
	orphan := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "rolegate-ghost-abcde", Namespace: w.ns, Labels: map[string]string{
			accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue, accessv1alpha1.RequestLabel: "ghost"}},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: w.role},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: w.sa, Namespace: w.ns}},
	}
	must(t, k8s.Create(t.Context(), orphan))
	eventually(t, waitLong, func() error { return notFound(k8s.Get(t.Context(), client.ObjectKeyFromObject(orphan), orphan)) })

	// A stray binding carrying a live request's label is removed too.
	r := w.waitReady(t, w.request(t, "live").Name, accessv1alpha1.ReasonGranted)
	stray := orphan.DeepCopy()
	stray.ResourceVersion, stray.UID = "", ""
	stray.Name = "rolegate-live-stray"
	stray.Labels[accessv1alpha1.RequestLabel] = "live"
	must(t, k8s.Create(t.Context(), stray))
	eventually(t, waitLong, func() error { return notFound(k8s.Get(t.Context(), client.ObjectKeyFromObject(stray), stray)) })
	if got := w.bindings(t, "live"); len(got) != 1 || got[0].Name != r.Status.RoleBinding {
		t.Errorf("bindings = %d, want only the request's own", len(got))
	}
}

func TestRemovingTheRoleFromTheCatalogRevokesAnActiveGrant(t *testing.T) {
	utils.RequireEnvtest(t)
	w := newWorld(t)
	w.waitReady(t, w.request(t, "cut").Name, accessv1alpha1.ReasonGranted)
	p := &accessv1alpha1.ApprovalPolicy{}
	must(t, k8s.Get(t.Context(), client.ObjectKey{Name: w.policy}, p))
	p.Spec.Entitlements = p.Spec.Entitlements[1:]
	must(t, k8s.Update(t.Context(), p))

	r := w.waitReady(t, "cut", accessv1alpha1.ReasonRevoked)
	if c := condition(t, r, accessv1alpha1.ConditionGranted); c.Reason != accessv1alpha1.ReasonPolicyChanged || !strings.Contains(c.Message, "RoleNotInCatalog") && !strings.Contains(c.Message, "no policy allows") {
		t.Errorf("Granted = %+v, want PolicyChanged naming the catalog", c)
	}
	w.waitNoBindings(t, "cut")

	// Putting the role back does not bring the grant back.
	must(t, k8s.Get(t.Context(), client.ObjectKey{Name: w.policy}, p))
	p.Spec.Entitlements = append(p.Spec.Entitlements, accessv1alpha1.Entitlement{
		RoleRef: r.Spec.RoleRef, MaxDuration: metav1.Duration{Duration: 8 * time.Hour}, AutoApprove: true})
	must(t, k8s.Update(t.Context(), p))
	consistently(t, 2*time.Second, func() error {
		if n := len(w.bindings(t, "cut")); n != 0 {
			return fmt.Errorf("a revoked grant came back with %d bindings", n)
		}
		return nil
	})
}

func TestShorterMaxDurationCutsAnActiveGrant(t *testing.T) {
	utils.RequireEnvtest(t)
	w := newWorld(t)
	r := w.waitReady(t, w.request(t, "shorten").Name, accessv1alpha1.ReasonGranted)
	p := &accessv1alpha1.ApprovalPolicy{}
	must(t, k8s.Get(t.Context(), client.ObjectKey{Name: w.policy}, p))
	p.Spec.Entitlements[0].MaxDuration = metav1.Duration{Duration: 30 * time.Minute}
	must(t, k8s.Update(t.Context(), p))
	eventually(t, waitLong, func() error {
		got := w.get(t, "shorten")
		if got.Status.ExpiresAt == nil || got.Status.ExpiresAt.Sub(r.Status.GrantedAt.Time) != 30*time.Minute {
			return fmt.Errorf("expiresAt = %v, want grantedAt + 30m", got.Status.ExpiresAt)
		}
		return nil
	})
	if len(w.bindings(t, "shorten")) != 1 {
		t.Errorf("the grant must continue, only shorter")
	}
}

func TestExpiryWhileTheManagerWasStoppedIsRevokedOnStart(t *testing.T) {
	utils.RequireEnvtest(t)
	w := newWorld(t)
	r := w.waitReady(t, w.request(t, "offline", lasting(2*time.Second)).Name, accessv1alpha1.ReasonGranted)
	manager.Stop()
	restarted := false
	defer func() {
		if !restarted {
			manager = startManager()
		}
	}()
	time.Sleep(time.Until(r.Status.ExpiresAt.Time) + time.Second)
	if len(w.bindings(t, "offline")) != 1 {
		t.Fatalf("with the manager stopped the binding should still be there")
	}
	start := time.Now()
	manager, restarted = startManager(), true
	w.waitNoBindings(t, "offline")
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("revoked %s after start, want within seconds", took)
	}
	r = w.waitReady(t, "offline", accessv1alpha1.ReasonExpired)
	if c := condition(t, r, accessv1alpha1.ConditionExpired); c.Status != metav1.ConditionTrue {
		t.Errorf("Expired = %+v", c)
	}
}

func TestRequestsRejectedByPolicyCarryTheReason(t *testing.T) {
	utils.RequireEnvtest(t)
	w := newWorld(t, func(p *accessv1alpha1.ApprovalPolicy) {
		p.Spec.Requesters = []accessv1alpha1.Subject{{Kind: accessv1alpha1.SubjectGroup, Name: "payments-devs"}}
	})
	cases := []struct {
		name   string
		opts   []requestOption
		reason string
		field  string
	}{
		{"cluster-admin", []requestOption{forRole(accessv1alpha1.RoleKindClusterRole, "cluster-admin")},
			accessv1alpha1.ReasonRoleNotInCatalog, "spec.roleRef"},
		{"too-long", []requestOption{forRole(accessv1alpha1.RoleKindRole, w.role), tagged("sensitivity", "high"), lasting(2 * time.Hour)},
			accessv1alpha1.ReasonDurationTooLong, "spec.duration"},
		{"untagged", []requestOption{func(r *accessv1alpha1.AccessRequest) { delete(r.Spec.Tags, "owner") }},
			accessv1alpha1.ReasonMissingTag, "spec.tags.owner"},
		{"bad-tag", []requestOption{tagged("sensitivity", "extreme")},
			accessv1alpha1.ReasonTagValueNotAllowed, "spec.tags.sensitivity"},
		{"no-justification", []requestOption{func(r *accessv1alpha1.AccessRequest) { r.Spec.Justification = "" }},
			accessv1alpha1.ReasonJustificationRequired, "spec.justification"},
		{"other-ns-sa", []requestOption{func(r *accessv1alpha1.AccessRequest) { r.Spec.ServiceAccount.Namespace = "kube-system" }},
			accessv1alpha1.ReasonServiceAccountNotAllowed, "spec.serviceAccount.namespace"},
		{"outsider", []requestOption{func(r *accessv1alpha1.AccessRequest) { r.Spec.Requester.Groups = nil }},
			accessv1alpha1.ReasonRequesterNotAllowed, "spec.requester"},
		{"anonymous", []requestOption{func(r *accessv1alpha1.AccessRequest) { r.Spec.Requester = nil }},
			accessv1alpha1.ReasonRequesterMissing, "spec.requester"},
		{"wrong-policy", []requestOption{func(r *accessv1alpha1.AccessRequest) { r.Spec.Policy = "nope" }},
			accessv1alpha1.ReasonPolicyNotFound, "spec.policy"},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			w.request(t, tc.name, tc.opts...)
			r := w.waitReady(t, tc.name, accessv1alpha1.ReasonInvalid)
			c := condition(t, r, accessv1alpha1.ConditionValidated)
			if c.Status != metav1.ConditionFalse || c.Reason != tc.reason || !strings.HasPrefix(c.Message, tc.field+": ") {
				t.Errorf("Validated = %+v, want False/%s starting with %q", c, tc.reason, tc.field+": ")
			}
			if len(w.bindings(t, tc.name)) != 0 {
				t.Errorf("an invalid request must hold no binding")
			}
		})
	}
	t.Run("RoleNotFound", func(t *testing.T) {
		must(t, k8s.Delete(t.Context(), &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "config-editor", Namespace: w.ns}}))
		w.request(t, "gone-role", forRole(accessv1alpha1.RoleKindRole, "config-editor"), tagged("sensitivity", "medium"))
		r := w.waitReady(t, "gone-role", accessv1alpha1.ReasonInvalid)
		if c := condition(t, r, accessv1alpha1.ConditionValidated); c.Reason != accessv1alpha1.ReasonRoleNotFound {
			t.Errorf("Validated = %+v, want RoleNotFound", c)
		}
	})
	t.Run("NoMatchingPolicy", func(t *testing.T) {
		other := newWorld(t)
		ns := other.ns
		p := &accessv1alpha1.ApprovalPolicy{}
		must(t, k8s.Get(t.Context(), client.ObjectKey{Name: other.policy}, p))
		must(t, k8s.Delete(t.Context(), p))
		other.request(t, "nobody")
		r := other.waitReady(t, "nobody", accessv1alpha1.ReasonInvalid)
		if c := condition(t, r, accessv1alpha1.ConditionValidated); c.Reason != accessv1alpha1.ReasonNoMatchingPolicy ||
			!strings.Contains(c.Message, "in namespace "+ns) {
			t.Errorf("Validated = %+v, want NoMatchingPolicy naming the namespace", c)
		}
	})
	waitEvent(t, w, "cluster-admin", "Rejected")
}

func TestRevokeDecisionEndsAGrantEarly(t *testing.T) {
	utils.RequireEnvtest(t)
	w := newWorld(t)
	w.waitReady(t, w.request(t, "relinquish").Name, accessv1alpha1.ReasonGranted)
	d := w.decide(t, "relinquish", "dave", nil, accessv1alpha1.DecisionRevoke)
	r := w.waitReady(t, "relinquish", accessv1alpha1.ReasonRevoked)
	waitCounted(t, w, d, accessv1alpha1.ReasonCounted)
	if c := condition(t, r, accessv1alpha1.ConditionGranted); c.Reason != accessv1alpha1.ReasonRevoked {
		t.Errorf("Granted = %+v, want Revoked", c)
	}
	w.waitNoBindings(t, "relinquish")
}

func TestDecisionForAMissingRequestIsMarked(t *testing.T) {
	utils.RequireEnvtest(t)
	w := newWorld(t)
	d := w.decide(t, "no-such-request", "carol", security, accessv1alpha1.DecisionApprove)
	waitCounted(t, w, d, accessv1alpha1.ReasonRequestNotFound)
}

func TestApprovalPolicyReportsMissingRoles(t *testing.T) {
	utils.RequireEnvtest(t)
	w := newWorld(t)
	waitPolicy(t, w.policy, metav1.ConditionTrue, "Ready")
	p := &accessv1alpha1.ApprovalPolicy{}
	must(t, k8s.Get(t.Context(), client.ObjectKey{Name: w.policy}, p))
	p.Spec.Entitlements = append(p.Spec.Entitlements, accessv1alpha1.Entitlement{
		RoleRef:     accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: "does-not-exist"},
		MaxDuration: metav1.Duration{Duration: time.Hour}, AutoApprove: true})
	must(t, k8s.Update(t.Context(), p))
	c := waitPolicy(t, w.policy, metav1.ConditionFalse, accessv1alpha1.ReasonRoleNotFound)
	if !strings.Contains(c.Message, "ClusterRole/does-not-exist does not exist") {
		t.Errorf("message = %q, want it to name the role", c.Message)
	}
	// Creating the role makes the policy Ready again.
	must(t, k8s.Create(t.Context(), &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "does-not-exist"}}))
	t.Cleanup(func() {
		_ = k8s.Delete(context.Background(), &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "does-not-exist"}})
	})
	waitPolicy(t, w.policy, metav1.ConditionTrue, "Ready")
}

func waitPolicy(t *testing.T, name string, status metav1.ConditionStatus, reason string) metav1.Condition {
	t.Helper()
	var got metav1.Condition
	eventually(t, waitLong, func() error {
		p := &accessv1alpha1.ApprovalPolicy{}
		if err := k8s.Get(t.Context(), client.ObjectKey{Name: name}, p); err != nil {
			return err
		}
		c := meta.FindStatusCondition(p.Status.Conditions, accessv1alpha1.ConditionReady)
		if c == nil || c.Status != status || c.Reason != reason || p.Status.ObservedGeneration != p.Generation {
			return fmt.Errorf("Ready = %+v (observed %d of %d), want %s/%s", c, p.Status.ObservedGeneration, p.Generation, status, reason)
		}
		got = *c
		return nil
	})
	return got
}

func countedReason(t *testing.T, w *world, decision string) string {
	t.Helper()
	d := &accessv1alpha1.AccessDecision{}
	must(t, k8s.Get(t.Context(), client.ObjectKey{Namespace: w.ns, Name: decision}, d))
	return conditionReason(d.Status.Conditions, accessv1alpha1.ConditionCounted)
}

func conditionReason(conds []metav1.Condition, typ string) string {
	if c := meta.FindStatusCondition(conds, typ); c != nil {
		return c.Reason
	}
	return ""
}

func waitCounted(t *testing.T, w *world, decision, reason string) {
	t.Helper()
	eventually(t, waitLong, func() error {
		d := &accessv1alpha1.AccessDecision{}
		if err := k8s.Get(t.Context(), client.ObjectKey{Namespace: w.ns, Name: decision}, d); err != nil {
			return err
		}
		c := meta.FindStatusCondition(d.Status.Conditions, accessv1alpha1.ConditionCounted)
		if c == nil || c.Reason != reason || (c.Status == metav1.ConditionTrue) != (reason == accessv1alpha1.ReasonCounted) {
			return fmt.Errorf("Counted = %+v, want reason %s", c, reason)
		}
		return nil
	})
}

func waitEvent(t *testing.T, w *world, request, reason string) {
	t.Helper()
	eventually(t, waitLong, func() error {
		var list eventsv1.EventList
		if err := k8s.List(t.Context(), &list, client.InNamespace(w.ns)); err != nil {
			return err
		}
		var seen []string
		for _, e := range list.Items {
			if e.Regarding.Name == request && e.Regarding.Kind == "AccessRequest" {
				if e.Reason == reason {
					return nil
				}
				seen = append(seen, e.Reason)
			}
		}
		return fmt.Errorf("no %s event for %s; saw %v", reason, request, seen)
	})
}

func waitAudit(t *testing.T, request, event string) {
	t.Helper()
	eventually(t, waitLong, func() error {
		for _, line := range strings.Split(auditLog.String(), "\n") {
			if line == "" {
				continue
			}
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				return fmt.Errorf("audit line is not JSON: %q", line)
			}
			if rec["request"] == request && rec["event"] == event {
				if rec["audit"] != "rolegate" || rec["role"] == "" || rec["serviceAccount"] == "" || rec["time"] == nil {
					return fmt.Errorf("audit line lacks fields: %s", line)
				}
				return nil
			}
		}
		return fmt.Errorf("no %s audit line for %s", event, request)
	})
}
