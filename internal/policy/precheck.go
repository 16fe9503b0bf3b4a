package policy

import (
	"fmt"
	"strings"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// PrecheckInput is what a client (the kubectl plugin) could read before it
// creates a request: admission decides with the same rules, so the checks
// live here rather than in the client.
type PrecheckInput struct {
	Policies        []accessv1alpha1.ApprovalPolicy
	NamespaceLabels map[string]string
	// Request is the request about to be created. Its spec.requester is
	// ignored: the server records it from User.
	Request *accessv1alpha1.AccessRequest
	// User is who is creating the request; nil when the client could not
	// tell, in which case the requesters rule is left to the server.
	User *accessv1alpha1.UserInfo
	// RoleExists says whether the requested role exists; nil when unknown.
	RoleExists *bool
}

// PrecheckResult is what admission would say about the request.
type PrecheckResult struct {
	// Policy is the governing policy; nil when none was selected.
	Policy     *accessv1alpha1.ApprovalPolicy
	Violations []Violation
	// Explain are the policies whose requirements explain the violations:
	// the governing policy, or, when none was selected, every policy that
	// could have governed the request.
	Explain []*accessv1alpha1.ApprovalPolicy
}

// Precheck runs admission's policy checks on a request that does not exist
// yet: policy selection, Validate with the creating user as requester, the
// trusted-submitter rule and the role's existence.
func Precheck(in PrecheckInput) PrecheckResult {
	req := in.Request
	p, v := Select(in.Policies, in.NamespaceLabels, req)
	if v != nil {
		res := PrecheckResult{Violations: []Violation{*v}}
		for i := range in.Policies {
			cand := &in.Policies[i]
			if (req.Spec.Policy == "" || cand.Name == req.Spec.Policy) && Governs(cand, in.NamespaceLabels) {
				res.Explain = append(res.Explain, cand)
			}
		}
		return res
	}
	res := PrecheckResult{Policy: p}
	checked := req.DeepCopy()
	user := accessv1alpha1.UserInfo{Username: "unknown"}
	if in.User != nil {
		user = *in.User
	}
	checked.Spec.Requester = &accessv1alpha1.Requester{UserInfo: user}
	for _, v := range Validate(p, checked) {
		if in.User == nil && strings.HasPrefix(v.Field, "spec.requester") {
			continue
		}
		res.Violations = append(res.Violations, v)
	}
	if in.User != nil && IsTrustedSubmitter(p, in.User.Username) {
		res.Violations = append(res.Violations, Violation{
			Reason: accessv1alpha1.ReasonRequesterNotAllowed, Field: "metadata.annotations[" + accessv1alpha1.RequestedByAnnotation + "]",
			Message: fmt.Sprintf("%s is a trusted submitter of ApprovalPolicy %q and must name the user the request is for; "+
				"create it with kubectl apply and the annotation", in.User.Username, p.Name),
		})
	}
	if in.RoleExists != nil && !*in.RoleExists {
		res.Violations = append(res.Violations, RoleMissing(req))
	}
	if len(res.Violations) > 0 {
		res.Explain = []*accessv1alpha1.ApprovalPolicy{p}
	}
	return res
}

// RoleMissing is the violation of a request whose role does not exist.
func RoleMissing(req *accessv1alpha1.AccessRequest) Violation { return roleMissing(req) }

// Route is who decides a valid request under its policy.
type Route struct {
	Entitlement *accessv1alpha1.Entitlement
	// AutoApprove is true when the entitlement needs no review.
	AutoApprove bool
	Sensitivity accessv1alpha1.Sensitivity
	// Tier is the index of the first tier that may decide; -1 when the
	// request is auto-approved.
	Tier int
}

// RouteOf says who decides req under p, as the evaluator counts it: the
// entitlement auto-approves, or the first tier whose maxSensitivity covers
// the request's effective sensitivity decides. ok is false when p offers no
// entitlement for the role or no tier may decide.
func RouteOf(p *accessv1alpha1.ApprovalPolicy, req *accessv1alpha1.AccessRequest) (Route, bool) {
	e := FindEntitlement(p, req.Spec.RoleRef)
	if e == nil {
		return Route{}, false
	}
	if e.AutoApprove {
		return Route{Entitlement: e, AutoApprove: true, Tier: -1}, true
	}
	sens := EffectiveSensitivity(req, e)
	i, ok := DecidingTier(p, sens)
	if !ok {
		return Route{}, false
	}
	return Route{Entitlement: e, Sensitivity: sens, Tier: i}, true
}
