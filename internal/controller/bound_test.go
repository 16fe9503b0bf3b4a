package controller_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/metrics"
	"rolegate.dev/rolegate/test/utils"
)

// Envtest tests for issue 12: names of any length, failures that explain
// themselves, offboarding, and decisions and policies bound to what they
// judged.

// managedBindings lists the RoleBindings of a request the way rolegate
// finds them: by label value, then by the full name in the annotation.
func (w *world) managedBindings(t *testing.T, request string) []rbacv1.RoleBinding {
	t.Helper()
	var list rbacv1.RoleBindingList
	must(t, k8s.List(t.Context(), &list, client.InNamespace(w.ns),
		client.MatchingLabels{accessv1alpha1.RequestLabel: accessv1alpha1.RequestLabelValue(request)}))
	var out []rbacv1.RoleBinding
	for _, rb := range list.Items {
		if accessv1alpha1.RequestNameOf(rb.Labels, rb.Annotations) == request {
			out = append(out, rb)
		}
	}
	return out
}

func (w *world) waitNoManagedBindings(t *testing.T, request string) {
	t.Helper()
	eventually(t, waitLong, func() error {
		if n := len(w.managedBindings(t, request)); n != 0 {
			return fmt.Errorf("%d bindings remain for %s", n, request)
		}
		return nil
	})
}

// decideAs records a decision with a fixed name (generateName would not
// fit after a 253-character request name), stamped as admission would.
func (w *world) decideAs(t *testing.T, name, request string, uid string, reviewer string, groups []string, d accessv1alpha1.DecisionType) {
	t.Helper()
	must(t, k8s.Create(t.Context(), &accessv1alpha1.AccessDecision{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.ns},
		Spec: accessv1alpha1.AccessDecisionSpec{Request: request, Decision: d, RequestUID: uid,
			Reviewer: &accessv1alpha1.UserInfo{Username: reviewer, Groups: groups}},
	}))
}

func waitGone(t *testing.T, obj client.Object) {
	t.Helper()
	eventually(t, waitLong, func() error { return notFound(k8s.Get(t.Context(), client.ObjectKeyFromObject(obj), obj)) })
}

func metricValue(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	v, _, err := utils.MetricValue(registry, name, labels)
	must(t, err)
	return v
}

func TestRequestNamesOfAnyValidLengthAreGrantedAndRevoked(t *testing.T) {
	w := newWorld(t)
	for _, n := range []int{63, 64, 253} {
		t.Run(fmt.Sprintf("%d characters", n), func(t *testing.T) {
			prefix := fmt.Sprintf("name-%d-", n)
			name := prefix + strings.Repeat("x", n-len(prefix))
			r := w.request(t, name)
			w.waitReady(t, name, accessv1alpha1.ReasonGranted)

			bindings := w.managedBindings(t, name)
			if len(bindings) != 1 {
				t.Fatalf("%d bindings, want 1", len(bindings))
			}
			rb := bindings[0]
			if errs := validation.IsDNS1123Subdomain(rb.Name); len(errs) > 0 {
				t.Errorf("binding name %q is not a valid name: %v", rb.Name, errs)
			}
			value := rb.Labels[accessv1alpha1.RequestLabel]
			if errs := validation.IsValidLabelValue(value); len(errs) > 0 {
				t.Errorf("label value %q is not valid: %v", value, errs)
			}
			if n <= 63 && value != name {
				t.Errorf("label value = %q, want the name itself", value)
			}
			if got := rb.Annotations[accessv1alpha1.RequestNameAnnotation]; got != name {
				t.Errorf("annotation %s = %q, want the full name", accessv1alpha1.RequestNameAnnotation, got)
			}
			waitEvent(t, w, name, accessv1alpha1.ReasonGranted)

			w.decideAs(t, fmt.Sprintf("revoke-%d", n), name, string(r.UID), "dave", nil, accessv1alpha1.DecisionRevoke)
			ended := w.waitReady(t, name, accessv1alpha1.ReasonRevoked)
			w.waitNoManagedBindings(t, name)
			waitEvent(t, w, name, accessv1alpha1.ReasonRevoked)
			eventually(t, waitLong, func() error {
				ended = w.get(t, name)
				if controllerutil.ContainsFinalizer(ended, accessv1alpha1.RevokeFinalizer) {
					return fmt.Errorf("the ended request still holds its finalizer")
				}
				return nil
			})
			// Nothing holds an ended request: it goes at once.
			must(t, k8s.Delete(t.Context(), ended))
			waitGone(t, ended)
		})
	}
}

// denyBindingsTo installs a ValidatingAdmissionPolicy that refuses every
// RoleBinding to the ClusterRole, and returns a function that lifts it.
func denyBindingsTo(t *testing.T, clusterRole string) func() {
	t.Helper()
	ctx := t.Context()
	name := "deny-" + clusterRole
	vap := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
					Rule: admissionregistrationv1.Rule{APIGroups: []string{rbacv1.GroupName}, APIVersions: []string{"v1"},
						Resources: []string{"rolebindings"}},
				}}}},
			Validations: []admissionregistrationv1.Validation{{
				Expression: fmt.Sprintf("object.roleRef.name != '%s'", clusterRole),
				Message:    "bindings to " + clusterRole + " are frozen",
			}},
		},
	}
	must(t, k8s.Create(ctx, vap))
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}},
	}
	must(t, k8s.Create(ctx, binding))
	lift := func() {
		_ = k8s.Delete(t.Context(), binding)
		_ = k8s.Delete(t.Context(), vap)
	}
	t.Cleanup(lift)
	// The API server takes the policy up asynchronously: wait until it refuses.
	eventually(t, waitLong, func() error {
		probe := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Namespace: notifyNamespace},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole}}
		if err := k8s.Create(ctx, probe, client.DryRunAll); err == nil {
			return fmt.Errorf("the ValidatingAdmissionPolicy does not refuse bindings yet")
		}
		return nil
	})
	return lift
}

func TestARefusedRoleBindingSurfacesAsAConditionAndAnEvent(t *testing.T) {
	w := newWorld(t)
	lift := denyBindingsTo(t, w.clusterRole)
	before := metricValue(t, metrics.ReconcileErrors, map[string]string{"reason": accessv1alpha1.ReasonBindingFailed})
	w.request(t, "frozen")
	r := w.waitReady(t, "frozen", accessv1alpha1.ReasonBindingFailed)
	c := condition(t, r, accessv1alpha1.ConditionReady)
	for _, want := range []string{"RoleBinding " + w.ns + "/rolegate-frozen-", "bindings to " + w.clusterRole + " are frozen"} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("Ready message %q lacks %q", c.Message, want)
		}
	}
	if c.Status != metav1.ConditionFalse || r.Status.GrantedAt != nil {
		t.Errorf("Ready = %+v, grantedAt %v; want False and nothing granted", c, r.Status.GrantedAt)
	}
	// The failure is about the current spec, which was not acted on yet.
	if c.ObservedGeneration != r.Generation || r.Status.ObservedGeneration == r.Generation {
		t.Errorf("Ready for generation %d, status.observedGeneration %d, generation %d; want Ready current and the status behind",
			c.ObservedGeneration, r.Status.ObservedGeneration, r.Generation)
	}
	waitEvent(t, w, "frozen", accessv1alpha1.ReasonBindingFailed)
	if after := metricValue(t, metrics.ReconcileErrors, map[string]string{"reason": accessv1alpha1.ReasonBindingFailed}); after <= before {
		t.Errorf("%s{reason=BindingFailed} = %v, want more than %v", metrics.ReconcileErrors, after, before)
	}

	// Once the refusal is lifted, a retry grants.
	lift()
	eventually(t, waitLong, func() error {
		// Wake the request rather than wait out the backoff.
		fresh := w.get(t, "frozen")
		patch := client.MergeFrom(fresh.DeepCopy())
		metav1.SetMetaDataAnnotation(&fresh.ObjectMeta, "test/poke", time.Now().Format(time.RFC3339Nano))
		if err := k8s.Patch(t.Context(), fresh, patch); err != nil {
			return err
		}
		if reason := conditionReason(w.get(t, "frozen").Status.Conditions, accessv1alpha1.ConditionReady); reason != accessv1alpha1.ReasonGranted {
			return fmt.Errorf("Ready = %s, want Granted", reason)
		}
		return nil
	})
	if r = w.get(t, "frozen"); r.Status.ObservedGeneration != r.Generation {
		t.Errorf("granted: status.observedGeneration %d, want the generation %d", r.Status.ObservedGeneration, r.Generation)
	}
}

func TestARecreatedRequestIsNotApprovedByTheOldDecisions(t *testing.T) {
	w := newWorld(t)
	old := w.request(t, "migrate", forRole(accessv1alpha1.RoleKindRole, w.role), tagged("sensitivity", "high"))
	// One decision as admission records it today, one from before requestUID existed.
	w.decideAs(t, "migrate-carol", "migrate", string(old.UID), "carol", security, accessv1alpha1.DecisionApprove)
	w.decideAs(t, "migrate-erin", "migrate", "", "erin", security, accessv1alpha1.DecisionApprove)
	w.waitReady(t, "migrate", accessv1alpha1.ReasonGranted)

	must(t, k8s.Delete(t.Context(), old))
	waitGone(t, old)
	w.waitNoBindings(t, "migrate")
	// Creation times have one-second resolution: let the new request be
	// strictly younger than the decision without a UID.
	time.Sleep(1100 * time.Millisecond)

	again := w.request(t, "migrate", forRole(accessv1alpha1.RoleKindRole, w.role), tagged("sensitivity", "high"), lasting(time.Hour))
	if again.UID == old.UID {
		t.Fatal("the re-created request has the old UID")
	}
	waitCounted(t, w, "migrate-carol", accessv1alpha1.ReasonRequestReplaced)
	waitCounted(t, w, "migrate-erin", accessv1alpha1.ReasonRequestReplaced)
	r := w.waitReady(t, "migrate", accessv1alpha1.ReasonPendingApproval)
	if len(r.Status.Approvals) != 0 {
		t.Errorf("approvals = %+v, want none: the old decisions do not count", r.Status.Approvals)
	}
	consistently(t, 2*time.Second, func() error {
		if n := len(w.bindings(t, "migrate")); n != 0 {
			return fmt.Errorf("%d bindings for a request nobody approved", n)
		}
		return nil
	})
}

// waitOverlapping waits until a policy's Overlapping condition has the
// status and its message the given parts.
func waitOverlapping(t *testing.T, name string, status metav1.ConditionStatus, parts ...string) {
	t.Helper()
	eventually(t, waitLong, func() error {
		p := &accessv1alpha1.ApprovalPolicy{}
		if err := k8s.Get(t.Context(), client.ObjectKey{Name: name}, p); err != nil {
			return err
		}
		c := meta.FindStatusCondition(p.Status.Conditions, accessv1alpha1.ConditionOverlapping)
		if c == nil || c.Status != status {
			return fmt.Errorf("Overlapping = %+v, want %s", c, status)
		}
		for _, part := range parts {
			if !strings.Contains(c.Message, part) {
				return fmt.Errorf("Overlapping message %q lacks %q", c.Message, part)
			}
		}
		return nil
	})
}

func TestAnOverlappingPolicyDoesNotRevokeActiveGrants(t *testing.T) {
	w := newWorld(t)
	w.request(t, "view")
	granted := w.waitReady(t, "view", accessv1alpha1.ReasonGranted)
	w.request(t, "migrate", forRole(accessv1alpha1.RoleKindRole, w.role), tagged("sensitivity", "high"))
	w.waitReady(t, "migrate", accessv1alpha1.ReasonPendingApproval)
	waitOverlapping(t, w.policy, metav1.ConditionFalse)

	// A second policy allows the same roles in the same namespace, weaker.
	second := &accessv1alpha1.ApprovalPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: w.policy + "-lenient"},
		Spec: accessv1alpha1.ApprovalPolicySpec{
			NamespaceSelector:    &metav1.LabelSelector{MatchLabels: map[string]string{"world": w.ns}},
			RequireJustification: new(bool),
			Entitlements: []accessv1alpha1.Entitlement{
				{RoleRef: accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: w.clusterRole},
					MaxDuration: metav1.Duration{Duration: 8 * time.Hour}, AutoApprove: true},
				{RoleRef: accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: w.role},
					MaxDuration: metav1.Duration{Duration: 8 * time.Hour}, AutoApprove: true},
			},
		},
	}
	must(t, k8s.Create(t.Context(), second))
	t.Cleanup(func() { _ = k8s.Delete(t.Context(), second) })

	waitOverlapping(t, w.policy, metav1.ConditionTrue, `ApprovalPolicy "`+second.Name+`" also offers Role/`+w.role, w.ns,
		`"`+second.Name+`" is weaker: it grants without approval`)
	waitOverlapping(t, second.Name, metav1.ConditionTrue, `ApprovalPolicy "`+w.policy+`" also offers`,
		`"`+second.Name+`" is weaker: it grants without approval`)

	consistently(t, 2*time.Second, func() error {
		r := w.get(t, "view")
		if reason := conditionReason(r.Status.Conditions, accessv1alpha1.ConditionReady); reason != accessv1alpha1.ReasonGranted ||
			r.Status.Policy != w.policy || r.Status.RevokedAt != nil {
			return fmt.Errorf("grant: Ready %s, policy %s, revokedAt %v; want Granted under %s", reason, r.Status.Policy, r.Status.RevokedAt, w.policy)
		}
		if n := len(w.bindings(t, "view")); n != 1 {
			return fmt.Errorf("%d bindings for the active grant", n)
		}
		p := w.get(t, "migrate")
		if reason := conditionReason(p.Status.Conditions, accessv1alpha1.ConditionReady); reason != accessv1alpha1.ReasonPendingApproval ||
			p.Status.Policy != w.policy {
			return fmt.Errorf("pending request: Ready %s, policy %s; want PendingApproval under %s", reason, p.Status.Policy, w.policy)
		}
		return nil
	})
	if r := w.get(t, "view"); !r.Status.GrantedAt.Equal(granted.Status.GrantedAt) {
		t.Errorf("grantedAt moved from %v to %v", granted.Status.GrantedAt, r.Status.GrantedAt)
	}
	// A new request has to choose.
	w.request(t, "view-new")
	w.waitReady(t, "view-new", accessv1alpha1.ReasonInvalid)
	if c := condition(t, w.get(t, "view-new"), accessv1alpha1.ConditionValidated); c.Reason != accessv1alpha1.ReasonAmbiguousPolicy {
		t.Errorf("Validated = %+v, want AmbiguousPolicy", c)
	}

	// The overlap ends with the second policy.
	must(t, k8s.Delete(t.Context(), second))
	waitOverlapping(t, w.policy, metav1.ConditionFalse)
}

func TestDeletingTheServiceAccountRevokesItsGrant(t *testing.T) {
	w := newWorld(t)
	w.request(t, "offboard")
	r := w.waitReady(t, "offboard", accessv1alpha1.ReasonGranted)
	sa := &corev1.ServiceAccount{}
	must(t, k8s.Get(t.Context(), client.ObjectKey{Namespace: w.ns, Name: w.sa}, sa))
	if r.Status.ServiceAccountUID != string(sa.UID) {
		t.Fatalf("serviceAccountUID = %q, want %q recorded at grant time", r.Status.ServiceAccountUID, sa.UID)
	}

	must(t, k8s.Delete(t.Context(), sa))
	r = w.waitReady(t, "offboard", accessv1alpha1.ReasonRevoked)
	if c := condition(t, r, accessv1alpha1.ConditionGranted); c.Reason != accessv1alpha1.ReasonServiceAccountDeleted ||
		!strings.Contains(c.Message, w.ns+"/"+w.sa+" was deleted") {
		t.Errorf("Granted = %+v, want ServiceAccountDeleted naming it", c)
	}
	w.waitNoBindings(t, "offboard")
	waitEvent(t, w, "offboard", accessv1alpha1.ReasonRevoked)

	// A new ServiceAccount of the same name inherits nothing.
	must(t, k8s.Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: w.sa, Namespace: w.ns}}))
	consistently(t, 2*time.Second, func() error {
		if n := len(w.bindings(t, "offboard")); n != 0 {
			return fmt.Errorf("%d bindings for the re-created ServiceAccount", n)
		}
		if reason := conditionReason(w.get(t, "offboard").Status.Conditions, accessv1alpha1.ConditionReady); reason != accessv1alpha1.ReasonRevoked {
			return fmt.Errorf("Ready = %s, want Revoked", reason)
		}
		return nil
	})
}

func TestAnApprovedRequestIsGrantedOnceItsServiceAccountExists(t *testing.T) {
	w := newWorld(t)
	w.request(t, "early", func(r *accessv1alpha1.AccessRequest) { r.Spec.ServiceAccount.Name = "not-yet" })
	r := w.waitReady(t, "early", accessv1alpha1.ReasonServiceAccountNotFound)
	if c := condition(t, r, accessv1alpha1.ConditionReady); !strings.Contains(c.Message, w.ns+"/not-yet does not exist") {
		t.Errorf("Ready message %q does not name the missing ServiceAccount", c.Message)
	}
	waitEvent(t, w, "early", accessv1alpha1.ReasonServiceAccountNotFound)
	must(t, k8s.Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "not-yet", Namespace: w.ns}}))
	w.waitReady(t, "early", accessv1alpha1.ReasonGranted)
}

func TestRemovingTheNamespaceLabelRevokes(t *testing.T) {
	w := newWorld(t)
	w.request(t, "labelled")
	w.waitReady(t, "labelled", accessv1alpha1.ReasonGranted)
	ns := &corev1.Namespace{}
	must(t, k8s.Get(t.Context(), client.ObjectKey{Name: w.ns}, ns))
	patch := client.MergeFrom(ns.DeepCopy())
	delete(ns.Labels, "world")
	must(t, k8s.Patch(t.Context(), ns, patch))
	r := w.waitReady(t, "labelled", accessv1alpha1.ReasonRevoked)
	if c := condition(t, r, accessv1alpha1.ConditionGranted); c.Reason != accessv1alpha1.ReasonPolicyChanged {
		t.Errorf("Granted = %+v, want PolicyChanged", c)
	}
	w.waitNoBindings(t, "labelled")
}

func TestDeletingThePolicyRevokes(t *testing.T) {
	w := newWorld(t)
	w.request(t, "orphaned")
	w.waitReady(t, "orphaned", accessv1alpha1.ReasonGranted)
	must(t, k8s.Delete(t.Context(), &accessv1alpha1.ApprovalPolicy{ObjectMeta: metav1.ObjectMeta{Name: w.policy}}))
	r := w.waitReady(t, "orphaned", accessv1alpha1.ReasonRevoked)
	if c := condition(t, r, accessv1alpha1.ConditionGranted); c.Reason != accessv1alpha1.ReasonPolicyChanged {
		t.Errorf("Granted = %+v, want PolicyChanged", c)
	}
	w.waitNoBindings(t, "orphaned")
}

func TestDeletingTheNamespaceRevokesAtOnce(t *testing.T) {
	w := newWorld(t)
	w.request(t, "doomed")
	w.waitReady(t, "doomed", accessv1alpha1.ReasonGranted)
	// envtest runs no namespace controller: the namespace stays Terminating
	// with its contents, so only rolegate can end the grant.
	must(t, k8s.Delete(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: w.ns}}))
	r := w.waitReady(t, "doomed", accessv1alpha1.ReasonRevoked)
	if c := condition(t, r, accessv1alpha1.ConditionGranted); c.Reason != accessv1alpha1.ReasonNamespaceDeleted {
		t.Errorf("Granted = %+v, want NamespaceDeleted", c)
	}
	w.waitNoBindings(t, "doomed")
}
