package policy

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// Extension is an approved AccessRequest that asks to prolong another
// request's grant (spec.extends).
type Extension struct {
	Name       string
	Duration   time.Duration
	ApprovedAt time.Time
	// Applied is true when the extended request's status already records
	// the extension: applied extensions keep their place, so a later
	// approval (API times have one-second resolution) never displaces one.
	Applied bool
}

// validateExtends checks an extension against the grant it extends. The
// target's status is read only to refuse: an extension never grants by
// itself, it can only move the expiry of a grant the target still holds.
func validateExtends(p *accessv1alpha1.ApprovalPolicy, req, target *accessv1alpha1.AccessRequest) *Violation {
	name := req.Spec.Extends
	bad := func(reason, format string, args ...any) *Violation {
		return &Violation{Reason: reason, Field: FieldExtends, Message: fmt.Sprintf(format, args...)}
	}
	switch {
	case p.Spec.MaxExtensions == 0:
		return bad(accessv1alpha1.ReasonExtensionsNotAllowed,
			"ApprovalPolicy %q does not allow extensions (maxExtensions is 0); request new access when %s ends, "+
				"or ask the platform team to set maxExtensions", p.Name, name)
	case target == nil:
		return bad(accessv1alpha1.ReasonExtendsInvalid,
			"AccessRequest %s does not exist in namespace %s; name the granted request to extend", name, req.Namespace)
	case target.Spec.Extends != "":
		return bad(accessv1alpha1.ReasonExtendsInvalid,
			"%s is itself an extension; extend the original request %s", name, target.Spec.Extends)
	case target.Spec.RoleRef != req.Spec.RoleRef ||
		ServiceAccountNamespace(target) != ServiceAccountNamespace(req) ||
		target.Spec.ServiceAccount.Name != req.Spec.ServiceAccount.Name:
		return bad(accessv1alpha1.ReasonExtendsInvalid,
			"%s grants %s to ServiceAccount %s/%s; an extension must ask for the same role and service account",
			name, target.Spec.RoleRef, ServiceAccountNamespace(target), target.Spec.ServiceAccount.Name)
	case target.Status.Policy != "" && target.Status.Policy != p.Name:
		return bad(accessv1alpha1.ReasonExtendsInvalid,
			"%s is governed by ApprovalPolicy %q, this request by %q; set spec.policy to %q",
			name, target.Status.Policy, p.Name, target.Status.Policy)
	case target.Status.GrantedAt == nil || Closed(target):
		return bad(accessv1alpha1.ReasonExtendsInvalid,
			"%s does not hold an active grant; only an active grant can be extended, request new access instead", name)
	}
	return extensionRoom(p, req, target)
}

// extensionRoom refuses an extension that applyExtensions would refuse
// once approved, judged from the extensions the target's status already
// records (other than this one): the policy's maxExtensions, and the total
// time extensions may add, maxDuration × maxExtensions. Refusing it here
// keeps an approver from spending time on an extension that cannot apply.
func extensionRoom(p *accessv1alpha1.ApprovalPolicy, req, target *accessv1alpha1.AccessRequest) *Violation {
	var count int
	var added time.Duration
	for _, x := range target.Status.Extensions {
		if x.Request != req.Name {
			count++
			added += x.Duration.Duration
		}
	}
	bad := func(msg string) *Violation {
		return &Violation{Reason: accessv1alpha1.ReasonExtensionLimitReached, Field: FieldExtends,
			Message: fmt.Sprintf("%s cannot be extended: %s", req.Spec.Extends, msg)}
	}
	if count >= int(p.Spec.MaxExtensions) {
		return bad(limitReached(count) + "; request new access when it ends")
	}
	e := FindEntitlement(p, req.Spec.RoleRef)
	if e == nil {
		return nil // RoleNotInCatalog says what is wrong
	}
	budget := e.MaxDuration.Duration * time.Duration(p.Spec.MaxExtensions)
	if d := min(req.Spec.Duration.Duration, e.MaxDuration.Duration); added+d > budget {
		fix := "request new access when it ends"
		if left := budget - added; left > 0 {
			fix = fmt.Sprintf("ask for %s or less", left)
		}
		return bad(overBudget(d, budget) + "; " + fix)
	}
	return nil
}

// limitReached and overBudget say why an extension does not fit, in the
// same words at admission, in the controller and in kubectl rolegate explain.
func limitReached(applied int) string {
	return fmt.Sprintf("the grant already has the %d extension(s) the policy allows (maxExtensions)", applied)
}

func overBudget(d, budget time.Duration) string {
	return fmt.Sprintf("adding %s would extend the grant by more than %s (maxDuration × maxExtensions)", d, budget)
}

// applyExtensions moves a grant's expiry by each approved extension: those
// already applied first, then in the order they were approved. An extension counts only if it was approved
// while the grant was still running, within the policy's maxExtensions, and
// while the time added stays within maxDuration × maxExtensions.
func applyExtensions(
	expires time.Time, exts []Extension, maxExtensions int32, maxDuration time.Duration,
) (time.Time, []accessv1alpha1.ExtensionRecord, map[string]string) {
	exts = slices.Clone(exts)
	slices.SortFunc(exts, func(a, b Extension) int {
		if a.Applied != b.Applied {
			if a.Applied {
				return -1
			}
			return 1
		}
		if c := a.ApprovedAt.Compare(b.ApprovedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	var applied []accessv1alpha1.ExtensionRecord
	refused := map[string]string{}
	budget := maxDuration * time.Duration(maxExtensions)
	var added time.Duration
	for _, x := range exts {
		switch {
		case !x.ApprovedAt.Before(expires):
			refused[x.Name] = fmt.Sprintf("approved at %s, when the grant had already ended at %s",
				x.ApprovedAt.UTC().Format(time.RFC3339), expires.UTC().Format(time.RFC3339))
		case len(applied) >= int(maxExtensions):
			refused[x.Name] = limitReached(len(applied))
		case added+x.Duration > budget:
			refused[x.Name] = overBudget(x.Duration, budget)
		default:
			added += x.Duration
			expires = expires.Add(x.Duration)
			applied = append(applied, accessv1alpha1.ExtensionRecord{
				Request: x.Name, Duration: metav1.Duration{Duration: x.Duration}, ApprovedAt: metav1.NewTime(x.ApprovedAt)})
		}
	}
	return expires, applied, refused
}
