package v1alpha1

import (
	"context"
	"fmt"
	"net/http"
	"time"

	jsonpatch "gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
	"rolegate.dev/rolegate/internal/snapshot"
)

// +kubebuilder:webhook:path=/mutate-access-rolegate-dev-v1alpha1-accessdecision,mutating=true,failurePolicy=fail,sideEffects=None,groups=access.rolegate.dev,resources=accessdecisions,verbs=create,versions=v1alpha1,name=maccessdecision.access.rolegate.dev,admissionReviewVersions=v1,timeoutSeconds=10
// +kubebuilder:webhook:path=/validate-access-rolegate-dev-v1alpha1-accessdecision,mutating=false,failurePolicy=fail,sideEffects=None,groups=access.rolegate.dev,resources=accessdecisions,verbs=create;update,versions=v1alpha1,name=vaccessdecision.access.rolegate.dev,admissionReviewVersions=v1,timeoutSeconds=10

// pendingName stands for a decision being admitted; '~' sorts after every
// character of a Kubernetes name, so among decisions made in the same
// second the new one is judged last, as the controller will judge it.
const pendingName = "~admission"

// DecisionWebhook admits AccessDecisions.
type DecisionWebhook struct {
	// Reader serves policies, namespaces, decisions by index, Roles and ClusterRoles (the manager's cache).
	Reader client.Reader
	// APIReader reads the decided request around the cache, so a request
	// created a moment ago is found.
	APIReader client.Reader
	Decoder   admission.Decoder
	Clock     clock.PassiveClock
}

// DecisionStamper writes spec.reviewer and spec.requestUID on create.
type DecisionStamper struct{ *DecisionWebhook }

// DecisionValidator refuses forged reviewers, spec changes and decisions
// that would not count.
type DecisionValidator struct{ *DecisionWebhook }

// Handle stamps the reviewer, and the UID of the decided request so that
// the decision never counts for a later request of the same name.
func (s DecisionStamper) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create {
		return admission.Allowed("")
	}
	d := &accessv1alpha1.AccessDecision{}
	if resp := decode(s.Decoder, req.Object, d, decisionShape); resp != nil {
		return *resp
	}
	if d.Spec.Reviewer != nil {
		return invalid(d, field.ErrorList{field.Forbidden(reviewerPath,
			"is written by rolegate from the authenticated user; remove it from the manifest")})
	}
	u := userInfo(req.UserInfo)
	ops := []jsonpatch.Operation{jsonpatch.NewOperation("add", "/spec/reviewer", &u)}
	if d.Spec.Request == "" {
		// The CRD's schema refuses it, naming spec.request.
		return admission.Patched("", ops...)
	}
	ar := &accessv1alpha1.AccessRequest{}
	err := s.APIReader.Get(ctx, types.NamespacedName{Namespace: req.Namespace, Name: d.Spec.Request}, ar)
	switch {
	case apierrors.IsNotFound(err):
		// The validating webhook refuses it (RequestNotFound).
	case err != nil:
		return admission.Errored(http.StatusInternalServerError, err)
	case d.Spec.RequestUID != "" && d.Spec.RequestUID != string(ar.UID):
		return invalid(d, field.ErrorList{field.Forbidden(field.NewPath("spec", "requestUID"), fmt.Sprintf(
			"%s is not the UID of AccessRequest %s (%s); rolegate writes it at admission, remove it from the manifest",
			d.Spec.RequestUID, ar.Name, ar.UID))})
	default:
		ops = append(ops, jsonpatch.NewOperation("add", "/spec/requestUID", string(ar.UID)))
	}
	return admission.Patched("", ops...)
}

// Handle validates creates and updates.
func (v DecisionValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	d := &accessv1alpha1.AccessDecision{}
	if resp := decode(v.Decoder, req.Object, d, decisionShape); resp != nil {
		return *resp
	}
	switch req.Operation {
	case admissionv1.Update:
		old := &accessv1alpha1.AccessDecision{}
		if resp := decode(v.Decoder, req.OldObject, old, decisionShape); resp != nil {
			return *resp
		}
		if !equality.Semantic.DeepEqual(old.Spec, d.Spec) {
			return invalid(d, field.ErrorList{field.Forbidden(field.NewPath("spec"), "is immutable; create a new AccessDecision instead")})
		}
		return admission.Allowed("")
	case admissionv1.Create:
	default:
		return admission.Allowed("")
	}

	if d.Spec.Reviewer == nil || !equality.Semantic.DeepEqual(*d.Spec.Reviewer, userInfo(req.UserInfo)) {
		return invalid(d, field.ErrorList{field.Forbidden(reviewerPath,
			"does not match the authenticated user; rolegate writes it at admission, remove it from the manifest")})
	}
	if d.Spec.Policy != "" {
		return v.attestation(ctx, req.Namespace, d)
	}
	ar := &accessv1alpha1.AccessRequest{}
	err := v.APIReader.Get(ctx, types.NamespacedName{Namespace: req.Namespace, Name: d.Spec.Request}, ar)
	if apierrors.IsNotFound(err) {
		return denyDecision(d, accessv1alpha1.ReasonRequestNotFound, fmt.Sprintf(
			"AccessRequest %s does not exist in namespace %s; a decision lives in the namespace of its request",
			d.Spec.Request, req.Namespace))
	}
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	if d.Spec.RequestUID != "" && d.Spec.RequestUID != string(ar.UID) {
		return denyDecision(d, accessv1alpha1.ReasonRequestReplaced, fmt.Sprintf(
			"spec.requestUID %s is not the UID of AccessRequest %s (%s); remove it from the manifest", d.Spec.RequestUID, ar.Name, ar.UID))
	}
	// A break-glass grant is reviewed after the fact, often after it ended.
	reviewAfterEnd := d.Spec.Decision == accessv1alpha1.DecisionAcknowledge && policy.AwaitsReview(ar)
	if policy.Closed(ar) && !reviewAfterEnd {
		reason := ""
		if c := meta.FindStatusCondition(ar.Status.Conditions, accessv1alpha1.ConditionReady); c != nil {
			reason = c.Reason
		}
		return denyDecision(d, accessv1alpha1.ReasonRequestNotPending,
			fmt.Sprintf("AccessRequest %s is closed (%s); open a new request", ar.Name, reason))
	}
	verdict, err := v.judge(ctx, ar, d)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	if !verdict.Counted {
		return denyDecision(d, verdict.Reason, verdict.Message)
	}
	return admission.Allowed(verdict.Message)
}

// judge counts the request's decisions with this one added, exactly as the
// controller will, and returns this decision's verdict.
func (v DecisionValidator) judge(
	ctx context.Context, ar *accessv1alpha1.AccessRequest, d *accessv1alpha1.AccessDecision,
) (policy.Verdict, error) {
	snap, err := snapshot.Read(ctx, v.Reader, ar)
	if err != nil {
		return policy.Verdict{}, err
	}
	now := v.Clock.Now()
	candidate := d.DeepCopy()
	candidate.Name = pendingName
	candidate.CreationTimestamp = metav1.NewTime(now.Truncate(time.Second))
	snap.Decisions = append(snap.Decisions, *candidate)
	var grantedAt time.Time
	if ar.Status.GrantedAt != nil {
		grantedAt = ar.Status.GrantedAt.Time
	}
	res := policy.Evaluate(snap.Input(ar, grantedAt, now))
	return res.Tally.Verdicts[pendingName], nil
}

// attestation admits an Attest decision only when it would count: the
// policy exists and has a review, the namespace is one it governs, and the
// reviewer is one of its review's reviewers.
func (v DecisionValidator) attestation(ctx context.Context, namespace string, d *accessv1alpha1.AccessDecision) admission.Response {
	p := &accessv1alpha1.ApprovalPolicy{}
	switch err := v.Reader.Get(ctx, types.NamespacedName{Name: d.Spec.Policy}, p); {
	case apierrors.IsNotFound(err):
		p = nil
	case err != nil:
		return admission.Errored(http.StatusInternalServerError, err)
	}
	governed := false
	if p != nil {
		ns := &corev1.Namespace{}
		if err := v.Reader.Get(ctx, types.NamespacedName{Name: namespace}, ns); err != nil {
			return admission.Errored(http.StatusInternalServerError, err)
		}
		governed = policy.Governs(p, ns.Labels)
	}
	d.Namespace = namespace
	verdict := policy.JudgeAttestation(p, d, governed)
	if !verdict.Counted {
		return denyDecision(d, verdict.Reason, verdict.Message)
	}
	return admission.Allowed(verdict.Message)
}

var reviewerPath = field.NewPath("spec", "reviewer")

// denyDecision names the field a refused decision is about and the reason
// the controller would record in its Counted condition.
func denyDecision(d *accessv1alpha1.AccessDecision, reason, msg string) admission.Response {
	path := reviewerPath
	switch reason {
	case accessv1alpha1.ReasonRequestNotFound, accessv1alpha1.ReasonRequestNotPending:
		path = field.NewPath("spec", "request")
	case accessv1alpha1.ReasonRequestReplaced:
		path = field.NewPath("spec", "requestUID")
	case accessv1alpha1.ReasonPolicyNotFound, accessv1alpha1.ReasonReviewNotConfigured:
		path = field.NewPath("spec", "policy")
	case accessv1alpha1.ReasonNamespaceNotGoverned:
		path = field.NewPath("metadata", "namespace")
	}
	return invalid(d, field.ErrorList{field.Forbidden(path, fmt.Sprintf("%s (%s)", msg, reason))})
}

// stamp adds one field and touches nothing else: re-encoding the whole
// object would normalise what the user wrote (1h becomes 1h0m0s), and the
// next apply of the same manifest would then look like a spec change.
func stamp(path string, value any) admission.Response {
	return admission.Patched("", jsonpatch.NewOperation("add", path, value))
}
