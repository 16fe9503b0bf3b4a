package policy

import (
	"fmt"
	"slices"
	"strings"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// SensitivityTag is the tag whose value raises a request's sensitivity.
const SensitivityTag = "sensitivity"

// ServiceAccountNamespace is the namespace of the service account that
// receives access: spec.serviceAccount.namespace, or the request's own.
func ServiceAccountNamespace(req *accessv1alpha1.AccessRequest) string {
	if ns := req.Spec.ServiceAccount.Namespace; ns != "" {
		return ns
	}
	return req.Namespace
}

// JustificationRequired reports whether the policy demands a justification
// (the default).
func JustificationRequired(p *accessv1alpha1.ApprovalPolicy) bool {
	return p.Spec.RequireJustification == nil || *p.Spec.RequireJustification
}

// EffectiveSensitivity is the higher of the request's sensitivity tag and
// the entitlement's floor, so under-tagging never lowers the bar. An absent
// or unknown tag counts as the floor (an unknown value is a violation of its own).
func EffectiveSensitivity(req *accessv1alpha1.AccessRequest, e *accessv1alpha1.Entitlement) accessv1alpha1.Sensitivity {
	floor := e.Sensitivity
	if floor.Rank() < 0 {
		floor = accessv1alpha1.SensitivityLow
	}
	tag := accessv1alpha1.Sensitivity(req.Spec.Tags[SensitivityTag])
	if tag.Rank() > floor.Rank() {
		return tag
	}
	return floor
}

// Validate checks a request against the policy that governs it: requester,
// service account, catalog, duration, justification, tags, and that some
// approver tier may decide it, after the policy-independent checks of
// ValidateInput. It returns every violation, in field order, so one round
// trip shows everything to fix.
func Validate(p *accessv1alpha1.ApprovalPolicy, req *accessv1alpha1.AccessRequest) []Violation {
	out := ValidateInput(req)
	add := func(reason, field, format string, args ...any) {
		out = append(out, Violation{Reason: reason, Field: field, Message: fmt.Sprintf(format, args...)})
	}

	out = append(out, validateRequester(p, req)...)

	saNS := ServiceAccountNamespace(req)
	if saNS != req.Namespace && !slices.Contains(p.Spec.ServiceAccountNamespaces, saNS) {
		allowed := "none"
		if len(p.Spec.ServiceAccountNamespaces) > 0 {
			allowed = strings.Join(p.Spec.ServiceAccountNamespaces, ", ")
		}
		add(accessv1alpha1.ReasonServiceAccountNotAllowed, "spec.serviceAccount.namespace",
			"service accounts of namespace %s may not receive access under ApprovalPolicy %q "+
				"(other namespaces allowed: %s); use a service account in %s",
			saNS, p.Name, allowed, req.Namespace)
	}

	e := FindEntitlement(p, req.Spec.RoleRef)
	if e == nil {
		add(accessv1alpha1.ReasonRoleNotInCatalog, FieldRoleRef,
			"%s is not in the catalog of ApprovalPolicy %q; request one of: %s", req.Spec.RoleRef, p.Name, catalog(p))
	} else if bg := BreakGlassOf(e, req); bg != nil && req.Spec.Duration.Duration > MaxDuration(e, req) {
		add(accessv1alpha1.ReasonDurationTooLong, "spec.duration",
			"%s exceeds the break-glass maxDuration %s of %s in ApprovalPolicy %q; ask for %s or less, "+
				"or drop the type: break-glass tag to go through approval",
			req.Spec.Duration.Duration, MaxDuration(e, req), e.RoleRef, p.Name, MaxDuration(e, req))
	} else if req.Spec.Duration.Duration > e.MaxDuration.Duration {
		add(accessv1alpha1.ReasonDurationTooLong, "spec.duration",
			"%s exceeds the maxDuration %s of %s in ApprovalPolicy %q; ask for %s or less",
			req.Spec.Duration.Duration, e.MaxDuration.Duration, e.RoleRef, p.Name, e.MaxDuration.Duration)
	}

	if strings.TrimSpace(req.Spec.Justification) == "" {
		if BreakGlassOf(e, req) != nil {
			add(accessv1alpha1.ReasonJustificationRequired, "spec.justification",
				"break-glass access is granted without approval and always needs a justification; say what the emergency is")
		} else if JustificationRequired(p) {
			add(accessv1alpha1.ReasonJustificationRequired, "spec.justification",
				"required by ApprovalPolicy %q; say why the access is needed (for example a change ticket)", p.Name)
		}
	}

	out = append(out, validateTags(p, e, req)...)

	if req.Spec.StartTime != nil {
		switch {
		case req.Spec.Extends != "":
			add(accessv1alpha1.ReasonStartTimeNotAllowed, "spec.startTime",
				"an extension continues the grant it extends without a gap; remove startTime")
		case BreakGlassOf(e, req) != nil:
			add(accessv1alpha1.ReasonStartTimeNotAllowed, "spec.startTime",
				"break-glass access starts at once; remove startTime, or drop the type: break-glass tag to schedule an approved grant")
		}
	}

	if e != nil && !e.AutoApprove {
		sens := EffectiveSensitivity(req, e)
		if _, ok := DecidingTier(p, sens); !ok {
			add(accessv1alpha1.ReasonNoApproverTier, "spec.tags.sensitivity",
				"no approver tier of ApprovalPolicy %q may decide sensitivity %s; "+
					"ask the platform team to add a tier without maxSensitivity or with maxSensitivity %s",
				p.Name, sens, sens)
		}
	}
	return out
}

func validateRequester(p *accessv1alpha1.ApprovalPolicy, req *accessv1alpha1.AccessRequest) []Violation {
	r := req.Spec.Requester
	if r == nil || r.Username == "" {
		return []Violation{{
			Reason: accessv1alpha1.ReasonRequesterMissing, Field: "spec.requester",
			Message: "no requester is recorded; create the request through the API server so that admission records who asked",
		}}
	}
	var out []Violation
	if len(p.Spec.Requesters) > 0 && !MatchesAny(p.Spec.Requesters, r.UserInfo) {
		out = append(out, Violation{
			Reason: accessv1alpha1.ReasonRequesterNotAllowed, Field: "spec.requester",
			Message: fmt.Sprintf("%s may not open requests under ApprovalPolicy %q; allowed requesters: %s",
				r.Username, p.Name, FormatSubjects(p.Spec.Requesters)),
		})
	}
	if r.Via != "" && !IsTrustedSubmitter(p, r.Via) {
		out = append(out, Violation{
			Reason: accessv1alpha1.ReasonRequesterNotAllowed, Field: "spec.requester.via",
			Message: fmt.Sprintf("%s is not a trusted submitter of ApprovalPolicy %q; "+
				"create the request as %s or add the submitter to trustedSubmitters", r.Via, p.Name, r.Username),
		})
	}
	return out
}

// IsTrustedSubmitter reports whether the username is one of the policy's
// trusted submitters. Submitters are matched by username only: their groups
// are not recorded on the request.
func IsTrustedSubmitter(p *accessv1alpha1.ApprovalPolicy, username string) bool {
	return MatchesAny(p.Spec.TrustedSubmitters, accessv1alpha1.UserInfo{Username: username})
}

// validateTags checks the request's tags against the policy's required
// tags: presence (from a tag's minSensitivity up, at the request's
// effective sensitivity under e, which may be nil), allowed values and
// pattern.
func validateTags(p *accessv1alpha1.ApprovalPolicy, e *accessv1alpha1.Entitlement, req *accessv1alpha1.AccessRequest) []Violation {
	if e == nil {
		e = &accessv1alpha1.Entitlement{}
	}
	sens := EffectiveSensitivity(req, e)
	var out []Violation
	checkedSensitivity := false
	for i := range p.Spec.RequiredTags {
		t := &p.Spec.RequiredTags[i]
		field := FieldTags + "." + t.Key
		v, ok := req.Spec.Tags[t.Key]
		if t.Key == SensitivityTag {
			checkedSensitivity = true
		}
		present := ok && strings.TrimSpace(v) != ""
		switch {
		case !present && !TagRequired(t, sens):
		case !present:
			out = append(out, Violation{Reason: accessv1alpha1.ReasonMissingTag, Field: field, Message: missingTagMessage(p, t, sens)})
		case len(t.Values) > 0 && !slices.Contains(t.Values, v):
			out = append(out, Violation{
				Reason: accessv1alpha1.ReasonTagValueNotAllowed, Field: field,
				Message: fmt.Sprintf("%q is not allowed by ApprovalPolicy %q; allowed: %s", v, p.Name, strings.Join(t.Values, ", ")),
			})
		case patternViolation(p, t, v) != nil:
			out = append(out, *patternViolation(p, t, v))
		case t.Key == SensitivityTag && accessv1alpha1.Sensitivity(v).Rank() < 0:
			out = append(out, sensitivityViolation(v))
		}
	}
	if v, ok := req.Spec.Tags[SensitivityTag]; ok && !checkedSensitivity && accessv1alpha1.Sensitivity(v).Rank() < 0 {
		out = append(out, sensitivityViolation(v))
	}
	return out
}

// missingTagMessage says which policy requires the tag, from which
// sensitivity, and what to set.
func missingTagMessage(p *accessv1alpha1.ApprovalPolicy, t *accessv1alpha1.RequiredTag, sens accessv1alpha1.Sensitivity) string {
	msg := fmt.Sprintf("required by ApprovalPolicy %q", p.Name)
	if t.MinSensitivity != "" {
		msg += fmt.Sprintf(" from sensitivity %s up (this request is %s)", t.MinSensitivity, sens)
	}
	switch {
	case len(t.Values) > 0:
		msg += "; allowed: " + strings.Join(t.Values, ", ")
	case t.Pattern != "":
		msg += "; set a value matching " + t.Pattern
	default:
		msg += "; set any non-empty value"
	}
	return msg
}

func sensitivityViolation(v string) Violation {
	return Violation{
		Reason: accessv1alpha1.ReasonTagValueNotAllowed, Field: "spec.tags." + SensitivityTag,
		Message: fmt.Sprintf("%q is not a sensitivity; use one of: low, medium, high, critical", v),
	}
}
