package v1alpha1

import (
	"context"
	"fmt"
	"slices"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
)

// ValidatePolicyPath is the ApprovalPolicy webhook's path, as the generated
// webhook configuration names it.
const ValidatePolicyPath = "/validate-access-rolegate-dev-v1alpha1-approvalpolicy"

// The policy webhook mostly warns, and its failurePolicy is Ignore: a
// platform team must be able to apply or tighten a policy while the manager
// is down (or before it first starts, as a GitOps bootstrap does). The one
// thing it refuses, broken required tags, the request webhook (which fails
// closed) catches again on every request under the policy.
// +kubebuilder:webhook:path=/validate-access-rolegate-dev-v1alpha1-approvalpolicy,mutating=false,failurePolicy=ignore,sideEffects=None,groups=access.rolegate.dev,resources=approvalpolicies,verbs=create;update,versions=v1alpha1,name=vapprovalpolicy.access.rolegate.dev,admissionReviewVersions=v1,timeoutSeconds=5

// PolicyValidator refuses an ApprovalPolicy whose required tags cannot be
// checked or linked (policy.ValidateRequiredTags: a pattern that is not
// RE2, a link template without {value} or not http(s)), and admits every
// other policy the CRD schema admits, with a warning for each other policy
// that offers one of its roles in namespaces they both govern, saying which
// of the two is weaker. While the webhook is down such a policy can be
// stored; requests under it are then refused with a message that names the
// broken pattern.
type PolicyValidator struct {
	// Reader serves policies and namespaces (the manager's cache).
	Reader  client.Reader
	Decoder admission.Decoder
}

// Handle refuses broken required tags and warns about overlapping policies.
func (v PolicyValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return admission.Allowed("")
	}
	p := &accessv1alpha1.ApprovalPolicy{}
	if err := v.Decoder.DecodeRaw(req.Object, p); err != nil {
		// The CRD schema has already judged the object; this webhook only advises.
		return admission.Allowed("").WithWarnings("rolegate could not check this ApprovalPolicy for overlaps: " + err.Error())
	}
	if vs := policy.ValidateRequiredTags(p); len(vs) > 0 {
		return invalid(p, violationErrors(vs))
	}
	warnings, err := v.overlapWarnings(ctx, p)
	if err != nil {
		return admission.Allowed("").WithWarnings("rolegate could not check this ApprovalPolicy for overlaps: " + err.Error())
	}
	return admission.Allowed("").WithWarnings(warnings...)
}

func (v PolicyValidator) overlapWarnings(ctx context.Context, p *accessv1alpha1.ApprovalPolicy) ([]string, error) {
	var policies accessv1alpha1.ApprovalPolicyList
	if err := v.Reader.List(ctx, &policies); err != nil {
		return nil, fmt.Errorf("listing ApprovalPolicies: %w", err)
	}
	var namespaces corev1.NamespaceList
	if err := v.Reader.List(ctx, &namespaces); err != nil {
		return nil, fmt.Errorf("listing namespaces: %w", err)
	}
	slices.SortFunc(policies.Items, func(a, b accessv1alpha1.ApprovalPolicy) int { return strings.Compare(a.Name, b.Name) })
	var out []string
	for i := range policies.Items {
		other := &policies.Items[i]
		for _, o := range policy.Overlaps(p, other, namespaces.Items) {
			out = append(out, "spec.entitlements: "+o.String(p.Name, other.Name))
		}
	}
	return out, nil
}
