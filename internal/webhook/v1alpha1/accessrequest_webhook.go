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
	"slices"
	"strings"
	"time"

	jsonpatch "gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
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

var (
	requestedByPath = field.NewPath("metadata", "annotations").Key(accessv1alpha1.RequestedByAnnotation)
	requesterPath   = field.NewPath("spec", "requester")
)

// +kubebuilder:webhook:path=/mutate-access-rolegate-dev-v1alpha1-accessrequest,mutating=true,failurePolicy=fail,sideEffects=None,groups=access.rolegate.dev,resources=accessrequests,verbs=create,versions=v1alpha1,name=maccessrequest.access.rolegate.dev,admissionReviewVersions=v1,timeoutSeconds=10
// +kubebuilder:webhook:path=/validate-access-rolegate-dev-v1alpha1-accessrequest,mutating=false,failurePolicy=fail,sideEffects=None,groups=access.rolegate.dev,resources=accessrequests,verbs=create;update,versions=v1alpha1,name=vaccessrequest.access.rolegate.dev,admissionReviewVersions=v1,timeoutSeconds=10

// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get

// RequestWebhook admits AccessRequests.
type RequestWebhook struct {
	// Reader serves policies, namespaces, decisions by index, Roles and ClusterRoles (the manager's cache).
	Reader client.Reader
	// APIReader reads around the cache; admission reads the requested
	// ServiceAccount's metadata through it, so the manager caches no
	// ServiceAccounts for it. Nil skips that check.
	APIReader client.Reader
	Decoder   admission.Decoder
	Clock     clock.PassiveClock
	// Metrics counts refusals; nil counts nothing.
	Metrics *metrics.Recorder
}

// Stamper writes spec.requester, and the revoke finalizer, on create.
type Stamper struct{ *RequestWebhook }

// Validator refuses forged identity, spec changes and requests the policy
// refuses, and warns about what the request waits for.
type Validator struct{ *RequestWebhook }

// Handle stamps the requester.
func (s Stamper) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create {
		return admission.Allowed("")
	}
	ar := &accessv1alpha1.AccessRequest{}
	if resp := decode(s.Decoder, req.Object, ar, requestShape); resp != nil {
		return *resp
	}
	if ar.Spec.Requester != nil {
		return invalid(ar, field.ErrorList{field.Forbidden(requesterPath,
			"is written by rolegate from the authenticated user; remove it from the manifest")})
	}
	snap, err := snapshot.Read(ctx, s.Reader, ar)
	if err != nil {
		return readFailed(err)
	}
	requester, denial := requesterFor(snap, ar, req.UserInfo)
	if denial != nil {
		return invalid(ar, field.ErrorList{denial})
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
	if resp := decode(v.Decoder, req.Object, ar, requestShape); resp != nil {
		return *resp
	}
	switch req.Operation {
	case admissionv1.Update:
		old := &accessv1alpha1.AccessRequest{}
		if resp := decode(v.Decoder, req.OldObject, old, requestShape); resp != nil {
			return *resp
		}
		if !equality.Semantic.DeepEqual(old.Spec, ar.Spec) {
			return invalid(ar, field.ErrorList{field.Forbidden(field.NewPath("spec"),
				"is immutable; create a new AccessRequest instead")})
		}
		return admission.Allowed("")
	case admissionv1.Create:
	default:
		return admission.Allowed("")
	}

	// One read serves the requester check and the policy's verdict.
	snap, err := snapshot.Read(ctx, v.Reader, ar)
	if err != nil {
		return readFailed(err)
	}
	if err := v.readRoleAroundTheCache(ctx, ar, snap); err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	want, denial := requesterFor(snap, ar, req.UserInfo)
	if denial != nil {
		return invalid(ar, field.ErrorList{denial})
	}
	if ar.Spec.Requester == nil || !equality.Semantic.DeepEqual(*ar.Spec.Requester, *want) {
		return invalid(ar, field.ErrorList{field.Forbidden(requesterPath,
			"does not match the authenticated user; rolegate writes it at admission, remove it from the manifest")})
	}
	now := v.Clock.Now()
	res := policy.Evaluate(snap.Input(ar, time.Time{}, now))
	violations := res.Violations
	if res.Policy == nil {
		// Without a policy Evaluate stops at selection; the spec's own
		// mistakes are worth fixing in the same round trip.
		violations = append(policy.ValidateInput(ar), violations...)
	}
	var warnings []string
	violations = slices.DeleteFunc(violations, func(x policy.Violation) bool {
		if x.Reason != accessv1alpha1.ReasonRoleNotFound {
			return false
		}
		// GitOps may apply the role after the request: admit it, and say
		// what happens until then.
		warnings = append(warnings, x.Error()+"; the request is admitted and stays Invalid (RoleNotFound), "+
			"and cannot be approved, until the role exists; then it goes to approval")
		return true
	})
	if len(violations) > 0 {
		v.Metrics.Rejected(violations[0].Reason)
		return invalid(ar, violationErrors(violations))
	}
	if st := ar.Spec.StartTime; st != nil && res.Entitlement != nil &&
		!now.Before(policy.ExpiresAt(st.Time, ar.Spec.Duration.Duration, policy.MaxDuration(res.Entitlement, ar))) {
		return invalid(ar, field.ErrorList{field.Forbidden(field.NewPath("spec", "startTime"), fmt.Sprintf(
			"the window from %s for %s has already ended; set a later startTime, or remove it to start once approved",
			st.UTC().Format(time.RFC3339), ar.Spec.Duration.Duration))})
	}
	if w := v.serviceAccountWarning(ctx, ar); w != "" {
		warnings = append(warnings, w)
	}
	if s, held := policy.HeldForReview(res.Policy, res.Entitlement, ar, now); held {
		warnings = append(warnings, fmt.Sprintf("the review of ApprovalPolicy %s was due at %s and new grants under it "+
			"are held back (onOverdue: SuspendNewGrants): this request can be approved, and is granted once a reviewer attests the policy",
			res.Policy.Name, s.DueAt.UTC().Format(time.RFC3339)))
	}
	return admission.Allowed("").WithWarnings(warnings...)
}

// readFailed answers a request that admission could not judge because the
// cluster could not be read: a server error, which the API server turns into
// a refusal (failurePolicy Fail).
func readFailed(err error) admission.Response {
	return admission.Errored(http.StatusInternalServerError, fmt.Errorf("rolegate could not read the policies to admit this request: %w", err))
}

// readRoleAroundTheCache reads the requested role through the API reader
// when the cache does not hold it: a role applied a moment before the
// request (as GitOps does) is judged by its rules, not admitted as missing.
func (w *RequestWebhook) readRoleAroundTheCache(ctx context.Context, ar *accessv1alpha1.AccessRequest, snap *snapshot.Snapshot) error {
	if snap.RoleExists || w.APIReader == nil {
		return nil
	}
	rules, found, err := snapshot.RoleRules(ctx, w.APIReader, ar.Spec.RoleRef, ar.Namespace)
	if err != nil {
		return err
	}
	if found {
		snap.RoleExists, snap.RoleRisks = true, policy.PersistenceRisks(rules)
	}
	return nil
}

// serviceAccountWarning says what happens to a request for a ServiceAccount
// that does not exist yet: GitOps may create it after the request, so it
// is no reason to refuse. Only its metadata is read, around the cache.
func (w *RequestWebhook) serviceAccountWarning(ctx context.Context, ar *accessv1alpha1.AccessRequest) string {
	if w.APIReader == nil {
		return ""
	}
	ns, name := policy.ServiceAccountNamespace(ar), ar.Spec.ServiceAccount.Name
	sa := &metav1.PartialObjectMetadata{}
	sa.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ServiceAccount"))
	err := w.APIReader.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, sa)
	switch {
	case err == nil:
		return ""
	case apierrors.IsNotFound(err):
		return fmt.Sprintf("spec.serviceAccount: ServiceAccount %s/%s does not exist yet; the request is admitted because it may "+
			"be created later (for example by GitOps), and access is granted only once it exists", ns, name)
	default:
		return fmt.Sprintf("spec.serviceAccount: rolegate could not check that ServiceAccount %s/%s exists (%v); "+
			"access is granted only once it exists", ns, name, err)
	}
}

// requesterFor is the requester admission records for a request created by
// user: the user itself, or, when the user is a trusted submitter of the
// governing policy, the person named in the requested-by annotation, with
// the submitter recorded in via. It returns a field error instead when
// the annotation is used by someone not trusted, or missing where required.
func requesterFor(
	snap *snapshot.Snapshot, ar *accessv1alpha1.AccessRequest, user authenticationv1.UserInfo,
) (*accessv1alpha1.Requester, *field.Error) {
	self := &accessv1alpha1.Requester{UserInfo: userInfo(user)}
	onBehalfOf, annotated := ar.Annotations[accessv1alpha1.RequestedByAnnotation]
	p, _ := policy.Select(snap.Policies, snap.NamespaceLabels, ar)
	trusted := p != nil && policy.IsTrustedSubmitter(p, user.Username)
	switch {
	case annotated && !trusted:
		return nil, field.Forbidden(requestedByPath, fmt.Sprintf("only a trusted submitter of the governing ApprovalPolicy may open "+
			"requests on someone's behalf; remove the annotation to request as %s", user.Username))
	case annotated && strings.TrimSpace(onBehalfOf) == "":
		return nil, field.Required(requestedByPath, "must name the user the request is for")
	case annotated:
		return &accessv1alpha1.Requester{UserInfo: accessv1alpha1.UserInfo{Username: onBehalfOf}, Via: user.Username}, nil
	case trusted:
		return nil, field.Required(requestedByPath, fmt.Sprintf("required when trusted submitter %s opens a request under "+
			"ApprovalPolicy %q; set it to the user the request is for", user.Username, p.Name))
	default:
		return self, nil
	}
}

func userInfo(u authenticationv1.UserInfo) accessv1alpha1.UserInfo {
	return accessv1alpha1.UserInfo{Username: u.Username, UID: u.UID, Groups: u.Groups}
}
