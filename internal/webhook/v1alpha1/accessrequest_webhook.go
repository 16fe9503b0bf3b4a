// Package v1alpha1 holds rolegate's admission webhooks. They write who
// asked and who decided from the identity the API server authenticated,
// refuse client-supplied identity and spec changes, and refuse at the door
// every request and decision the controller would refuse, using the same
// internal/policy functions.
package v1alpha1

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	jsonpatch "gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/metrics"
	"rolegate.dev/rolegate/internal/policy"
	"rolegate.dev/rolegate/internal/snapshot"
)

// Webhook paths, as the generated webhook configurations name them.
const (
	MutateRequestPath    = "/mutate-access-rolegate-dev-v1alpha1-accessrequest"
	ValidateRequestPath  = "/validate-access-rolegate-dev-v1alpha1-accessrequest"
	MutateDecisionPath   = "/mutate-access-rolegate-dev-v1alpha1-accessdecision"
	ValidateDecisionPath = "/validate-access-rolegate-dev-v1alpha1-accessdecision"
)

const requestedByField = "metadata.annotations[" + accessv1alpha1.RequestedByAnnotation + "]"

// +kubebuilder:webhook:path=/mutate-access-rolegate-dev-v1alpha1-accessrequest,mutating=true,failurePolicy=fail,sideEffects=None,groups=access.rolegate.dev,resources=accessrequests,verbs=create,versions=v1alpha1,name=maccessrequest.access.rolegate.dev,admissionReviewVersions=v1,timeoutSeconds=10
// +kubebuilder:webhook:path=/validate-access-rolegate-dev-v1alpha1-accessrequest,mutating=false,failurePolicy=fail,sideEffects=None,groups=access.rolegate.dev,resources=accessrequests,verbs=create;update,versions=v1alpha1,name=vaccessrequest.access.rolegate.dev,admissionReviewVersions=v1,timeoutSeconds=10

// RequestWebhook admits AccessRequests.
type RequestWebhook struct {
	// Reader serves policies, namespaces, decisions by index, Roles and ClusterRoles (the manager's cache).
	Reader  client.Reader
	Decoder admission.Decoder
	Clock   clock.PassiveClock
	// Metrics counts refusals; nil counts nothing.
	Metrics *metrics.Recorder
}

// Stamper writes spec.requester, and the revoke finalizer, on create.
type Stamper struct{ *RequestWebhook }

// Validator refuses forged identity, spec changes and requests the policy refuses.
type Validator struct{ *RequestWebhook }

// Handle stamps the requester.
func (s Stamper) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create {
		return admission.Allowed("")
	}
	ar := &accessv1alpha1.AccessRequest{}
	if err := s.Decoder.Decode(req, ar); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if ar.Spec.Requester != nil {
		return admission.Denied("spec.requester: is written by rolegate from the authenticated user; remove it from the manifest")
	}
	requester, denial := s.requesterFor(ctx, ar, req.UserInfo)
	if denial != "" {
		return admission.Denied(denial)
	}
	resp := stamp("/spec/requester", requester)
	// The revoke finalizer is set at creation, which saves the controller a
	// write per request; the controller still adds it to a request admitted
	// without this webhook.
	if !controllerutil.ContainsFinalizer(ar, accessv1alpha1.RevokeFinalizer) {
		if len(ar.Finalizers) == 0 {
			resp.Patches = append(resp.Patches, jsonpatch.NewOperation("add", "/metadata/finalizers", []string{accessv1alpha1.RevokeFinalizer}))
		} else {
			resp.Patches = append(resp.Patches, jsonpatch.NewOperation("add", "/metadata/finalizers/-", accessv1alpha1.RevokeFinalizer))
		}
	}
	return resp
}

// Handle validates creates and updates.
func (v Validator) Handle(ctx context.Context, req admission.Request) admission.Response {
	ar := &accessv1alpha1.AccessRequest{}
	if err := v.Decoder.Decode(req, ar); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	switch req.Operation {
	case admissionv1.Update:
		old := &accessv1alpha1.AccessRequest{}
		if err := v.Decoder.DecodeRaw(req.OldObject, old); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		if !equality.Semantic.DeepEqual(old.Spec, ar.Spec) {
			return admission.Denied("spec: is immutable; create a new AccessRequest instead")
		}
		return admission.Allowed("")
	case admissionv1.Create:
	default:
		return admission.Allowed("")
	}

	want, denial := v.requesterFor(ctx, ar, req.UserInfo)
	if denial != "" {
		return admission.Denied(denial)
	}
	if ar.Spec.Requester == nil || !equality.Semantic.DeepEqual(*ar.Spec.Requester, *want) {
		return admission.Denied("spec.requester: does not match the authenticated user; rolegate writes it at admission, " +
			"remove it from the manifest")
	}
	snap, err := snapshot.Read(ctx, v.Reader, ar)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	now := v.Clock.Now()
	res := policy.Evaluate(snap.Input(ar, time.Time{}, now))
	if len(res.Violations) > 0 {
		v.Metrics.Rejected(res.Violations[0].Reason)
		return admission.Denied(joinViolations(res.Violations))
	}
	if st := ar.Spec.StartTime; st != nil && res.Entitlement != nil &&
		!now.Before(policy.ExpiresAt(st.Time, ar.Spec.Duration.Duration, policy.MaxDuration(res.Entitlement, ar))) {
		return admission.Denied(fmt.Sprintf("spec.startTime: the window from %s for %s has already ended; "+
			"set a later startTime, or remove it to start once approved", st.UTC().Format(time.RFC3339), ar.Spec.Duration.Duration))
	}
	return admission.Allowed("")
}

// requesterFor is the requester admission records for a request created by
// user: the user itself, or, when the user is a trusted submitter of the
// governing policy, the person named in the requested-by annotation, with
// the submitter recorded in via. It returns a denial message instead when
// the annotation is used by someone not trusted, or missing where required.
func (w *RequestWebhook) requesterFor(
	ctx context.Context, ar *accessv1alpha1.AccessRequest, user authenticationv1.UserInfo,
) (*accessv1alpha1.Requester, string) {
	self := &accessv1alpha1.Requester{UserInfo: userInfo(user)}
	onBehalfOf, annotated := ar.Annotations[accessv1alpha1.RequestedByAnnotation]
	snap, err := snapshot.Read(ctx, w.Reader, ar)
	if err != nil {
		return nil, "rolegate could not read the policies to admit this request: " + err.Error()
	}
	p, _ := policy.Select(snap.Policies, snap.NamespaceLabels, ar)
	trusted := p != nil && policy.IsTrustedSubmitter(p, user.Username)
	switch {
	case annotated && !trusted:
		return nil, fmt.Sprintf("%s: only a trusted submitter of the governing ApprovalPolicy may open requests on someone's behalf; "+
			"remove the annotation to request as %s", requestedByField, user.Username)
	case annotated && strings.TrimSpace(onBehalfOf) == "":
		return nil, requestedByField + ": must name the user the request is for"
	case annotated:
		return &accessv1alpha1.Requester{UserInfo: accessv1alpha1.UserInfo{Username: onBehalfOf}, Via: user.Username}, ""
	case trusted:
		return nil, fmt.Sprintf("%s: required when trusted submitter %s opens a request under ApprovalPolicy %q; "+
			"set it to the user the request is for", requestedByField, user.Username, p.Name)
	default:
		return self, ""
	}
}

func userInfo(u authenticationv1.UserInfo) accessv1alpha1.UserInfo {
	return accessv1alpha1.UserInfo{Username: u.Username, UID: u.UID, Groups: u.Groups}
}

func joinViolations(vs []policy.Violation) string {
	msgs := make([]string, 0, len(vs))
	for _, v := range vs {
		msgs = append(msgs, v.Error())
	}
	return strings.Join(msgs, "; ")
}
