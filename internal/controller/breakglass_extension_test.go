package controller_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/metrics"
	"rolegate.dev/rolegate/test/utils"
)

// gauge reads one sample of a metric from the running manager's registry.
func gauge(t *testing.T, name, policy string) float64 {
	t.Helper()
	v, _, err := utils.MetricValue(registry, name, map[string]string{"policy": policy})
	must(t, err)
	return v
}

func waitMetric(t *testing.T, name, policy string, want float64) {
	t.Helper()
	eventually(t, waitLong, func() error {
		if got := gauge(t, name, policy); got != want {
			return fmt.Errorf("%s{policy=%q} = %v, want %v", name, policy, got, want)
		}
		return nil
	})
}

func conditionReasonOf(r *accessv1alpha1.AccessRequest) string {
	return conditionReason(r.Status.Conditions, accessv1alpha1.ConditionReady)
}

// waitReadyAfter creates a request and waits for its Ready reason.
func (w *world) waitReadyAfter(t *testing.T, name, reason string, opts ...requestOption) *accessv1alpha1.AccessRequest {
	t.Helper()
	w.request(t, name, opts...)
	return w.waitReady(t, name, reason)
}

func breakGlassOn(role string) func(*accessv1alpha1.ApprovalPolicy) {
	return func(p *accessv1alpha1.ApprovalPolicy) {
		for i := range p.Spec.Entitlements {
			if p.Spec.Entitlements[i].RoleRef.Name == role {
				p.Spec.Entitlements[i].BreakGlass = &accessv1alpha1.BreakGlass{MaxDuration: metav1.Duration{Duration: 30 * time.Minute}}
			}
		}
	}
}

func TestBreakGlassIsGrantedAtOnceAndStaysVisibleUntilAcknowledged(t *testing.T) {
	utils.RequireEnvtest(t)
	w := newWorld(t, breakGlassOn("db-migrator"))
	start := time.Now()
	w.request(t, "outage", forRole(accessv1alpha1.RoleKindRole, w.role), lasting(20*time.Minute),
		tagged("type", accessv1alpha1.BreakGlassTagValue), tagged("sensitivity", "high"))
	r := w.waitReady(t, "outage", accessv1alpha1.ReasonGranted)
	t.Logf("break-glass granted %s after creation", time.Since(start).Round(time.Millisecond))
	if c := condition(t, r, accessv1alpha1.ConditionBreakGlass); c.Status != metav1.ConditionTrue {
		t.Errorf("BreakGlass = %+v", c)
	}
	if c := condition(t, r, accessv1alpha1.ConditionReviewed); c.Status != metav1.ConditionFalse || c.Reason != accessv1alpha1.ReasonReviewPending {
		t.Errorf("Reviewed = %+v, want False/ReviewPending", c)
	}
	if c := condition(t, r, accessv1alpha1.ConditionApproved); c.Reason != accessv1alpha1.ReasonBreakGlass {
		t.Errorf("Approved = %+v, want reason BreakGlass", c)
	}
	if len(w.bindings(t, "outage")) != 1 {
		t.Fatal("no RoleBinding for the break-glass grant")
	}
	if !r.Status.ExpiresAt.Time.Equal(r.Status.GrantedAt.Add(20 * time.Minute)) {
		t.Errorf("expiresAt %s, want grantedAt + 20m", r.Status.ExpiresAt)
	}
	waitMetric(t, metrics.BreakGlassTotal, w.policy, 1)
	waitMetric(t, metrics.UnreviewedBreakGlass, w.policy, 1)
	waitEvent(t, w, "outage", accessv1alpha1.ReasonBreakGlass)
	waitAudit(t, "outage", accessv1alpha1.ReasonBreakGlass)

	// The requester cannot review their own emergency; a reviewer below the
	// deciding tier cannot either.
	self := w.decide(t, "outage", "dave", security, accessv1alpha1.DecisionAcknowledge)
	low := w.decide(t, "outage", "olivia", owners, accessv1alpha1.DecisionAcknowledge)
	waitCounted(t, w, self, accessv1alpha1.ReasonSelfApproval)
	waitCounted(t, w, low, accessv1alpha1.ReasonNotEligible)
	if gauge(t, metrics.UnreviewedBreakGlass, w.policy) != 1 {
		t.Error("an ineligible acknowledgement cleared the unreviewed gauge")
	}

	ack := w.decide(t, "outage", "carol", security, accessv1alpha1.DecisionAcknowledge)
	waitCounted(t, w, ack, accessv1alpha1.ReasonCounted)
	eventually(t, waitLong, func() error {
		c := condition(t, w.get(t, "outage"), accessv1alpha1.ConditionReviewed)
		if c.Status != metav1.ConditionTrue || c.Reason != accessv1alpha1.ReasonAcknowledged || !strings.Contains(c.Message, "carol") {
			return fmt.Errorf("Reviewed = %+v", c)
		}
		return nil
	})
	waitMetric(t, metrics.UnreviewedBreakGlass, w.policy, 0)
	if got := conditionReasonOf(w.get(t, "outage")); got != accessv1alpha1.ReasonGranted {
		t.Errorf("acknowledging changed the grant: Ready %s", got)
	}
}

func TestBreakGlassReviewStaysOpenAfterExpiry(t *testing.T) {
	utils.RequireEnvtest(t)
	w := newWorld(t, breakGlassOn("db-migrator"))
	w.request(t, "short", forRole(accessv1alpha1.RoleKindRole, w.role), lasting(2*time.Second),
		tagged("type", accessv1alpha1.BreakGlassTagValue), tagged("sensitivity", "high"))
	w.waitReady(t, "short", accessv1alpha1.ReasonExpired)
	w.waitNoBindings(t, "short")
	waitMetric(t, metrics.UnreviewedBreakGlass, w.policy, 1)
	ack := w.decide(t, "short", "erin", security, accessv1alpha1.DecisionAcknowledge)
	waitCounted(t, w, ack, accessv1alpha1.ReasonCounted)
	waitMetric(t, metrics.UnreviewedBreakGlass, w.policy, 0)
	r := w.get(t, "short")
	if conditionReasonOf(r) != accessv1alpha1.ReasonExpired || r.Status.RevokedAt == nil || len(w.bindings(t, "short")) != 0 {
		t.Errorf("the late review reopened the grant: Ready %s", conditionReasonOf(r))
	}
}

func TestBreakGlassTooLongIsRefused(t *testing.T) {
	utils.RequireEnvtest(t)
	w := newWorld(t, breakGlassOn("db-migrator"))
	w.request(t, "long", forRole(accessv1alpha1.RoleKindRole, w.role), lasting(45*time.Minute),
		tagged("type", accessv1alpha1.BreakGlassTagValue), tagged("sensitivity", "high"))
	r := w.waitReady(t, "long", accessv1alpha1.ReasonInvalid)
	if c := condition(t, r, accessv1alpha1.ConditionValidated); c.Reason != accessv1alpha1.ReasonDurationTooLong ||
		!strings.Contains(c.Message, "break-glass maxDuration") {
		t.Errorf("Validated = %+v", c)
	}
	if len(w.bindings(t, "long")) != 0 {
		t.Error("an invalid break-glass request was granted")
	}
}

func allowExtensions(n int32) func(*accessv1alpha1.ApprovalPolicy) {
	return func(p *accessv1alpha1.ApprovalPolicy) { p.Spec.MaxExtensions = n }
}

func extending(target string) requestOption {
	return func(r *accessv1alpha1.AccessRequest) { r.Spec.Extends = target }
}

func TestExtensionContinuesTheSameBinding(t *testing.T) {
	utils.RequireEnvtest(t)
	w := newWorld(t, allowExtensions(1))
	orig := w.waitReadyAfter(t, "base", accessv1alpha1.ReasonGranted, lasting(time.Hour))
	rb := w.binding(t, orig.Status.RoleBinding)

	w.request(t, "base-more", extending("base"), lasting(30*time.Minute))
	ext := w.waitReady(t, "base-more", accessv1alpha1.ReasonExtended)
	want := orig.Status.ExpiresAt.Add(30 * time.Minute)
	eventually(t, waitLong, func() error {
		got := w.get(t, "base")
		if got.Status.ExpiresAt == nil || !got.Status.ExpiresAt.Time.Equal(want) || len(got.Status.Extensions) != 1 {
			return fmt.Errorf("expiresAt %v extensions %v, want %s", got.Status.ExpiresAt, got.Status.Extensions, want)
		}
		after := w.binding(t, orig.Status.RoleBinding)
		if after.UID != rb.UID {
			return fmt.Errorf("binding was re-created: uid %s, was %s", after.UID, rb.UID)
		}
		if a := after.Annotations[accessv1alpha1.ExpiresAtAnnotation]; a != want.UTC().Format(time.RFC3339) {
			return fmt.Errorf("binding expires-at annotation %s, want %s", a, want.UTC().Format(time.RFC3339))
		}
		return nil
	})
	if !ext.Status.ExpiresAt.Time.Equal(want) || ext.Status.RoleBinding != orig.Status.RoleBinding || len(w.bindings(t, "base-more")) != 0 {
		t.Errorf("extension status expiresAt %v binding %q, own bindings %d", ext.Status.ExpiresAt, ext.Status.RoleBinding, len(w.bindings(t, "base-more")))
	}

	// maxExtensions is 1: a second extension is approved but refused.
	w.request(t, "base-again", extending("base"), lasting(30*time.Minute))
	again := w.waitReady(t, "base-again", accessv1alpha1.ReasonInvalid)
	if c := condition(t, again, accessv1alpha1.ConditionValidated); c.Reason != accessv1alpha1.ReasonExtensionLimitReached ||
		!strings.Contains(c.Message, "maxExtensions") {
		t.Errorf("Validated = %+v, want ExtensionLimitReached", c)
	}
	if got := w.get(t, "base"); !got.Status.ExpiresAt.Time.Equal(want) {
		t.Errorf("the refused extension moved expiresAt to %s", got.Status.ExpiresAt)
	}
}

func TestExtendedGrantEndsAtTheExtendedExpiry(t *testing.T) {
	utils.RequireEnvtest(t)
	w := newWorld(t, allowExtensions(2))
	// The extension must be approved while the grant runs: leave room for a
	// busy machine.
	w.waitReadyAfter(t, "tiny", accessv1alpha1.ReasonGranted, lasting(8*time.Second))
	w.request(t, "tiny-more", extending("tiny"), lasting(3*time.Second))
	w.waitReady(t, "tiny-more", accessv1alpha1.ReasonExtended)
	orig := w.waitReady(t, "tiny", accessv1alpha1.ReasonExpired)
	if len(orig.Status.Extensions) != 1 || !orig.Status.ExpiresAt.Time.Equal(orig.Status.GrantedAt.Add(11*time.Second)) {
		t.Errorf("expired at %s after grant at %s with %v, want 11s later", orig.Status.ExpiresAt, orig.Status.GrantedAt, orig.Status.Extensions)
	}
	if orig.Status.RevokedAt.Before(orig.Status.ExpiresAt) {
		t.Errorf("revoked at %s, before the extended expiry %s", orig.Status.RevokedAt, orig.Status.ExpiresAt)
	}
	w.waitNoBindings(t, "tiny")
	w.waitReady(t, "tiny-more", accessv1alpha1.ReasonExpired)

	// Extending a grant that ended is refused.
	w.request(t, "tiny-late", extending("tiny"), lasting(3*time.Second))
	late := w.waitReady(t, "tiny-late", accessv1alpha1.ReasonInvalid)
	if c := condition(t, late, accessv1alpha1.ConditionValidated); c.Reason != accessv1alpha1.ReasonExtendsInvalid {
		t.Errorf("Validated = %+v, want ExtendsInvalid", c)
	}
	if len(w.bindings(t, "tiny")) != 0 {
		t.Error("a late extension brought the grant back")
	}
}

func TestExtensionsAreOffByDefault(t *testing.T) {
	utils.RequireEnvtest(t)
	w := newWorld(t)
	w.waitReadyAfter(t, "plain", accessv1alpha1.ReasonGranted)
	w.request(t, "plain-more", extending("plain"))
	r := w.waitReady(t, "plain-more", accessv1alpha1.ReasonInvalid)
	if c := condition(t, r, accessv1alpha1.ConditionValidated); c.Reason != accessv1alpha1.ReasonExtensionsNotAllowed {
		t.Errorf("Validated = %+v, want ExtensionsNotAllowed", c)
	}
}
