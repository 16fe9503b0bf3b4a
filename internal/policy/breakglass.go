package policy

import (
	"time"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// BreakGlassOf returns the entitlement's break-glass terms when the request
// asks for break-glass access (tag type: break-glass) and the entitlement
// offers it; nil otherwise. A break-glass tag on an entitlement without
// breakGlass is an ordinary tag: the request goes through approval.
func BreakGlassOf(e *accessv1alpha1.Entitlement, req *accessv1alpha1.AccessRequest) *accessv1alpha1.BreakGlass {
	if e == nil || e.BreakGlass == nil || req.Spec.Extends != "" {
		return nil
	}
	if req.Spec.Tags[accessv1alpha1.BreakGlassTag] != accessv1alpha1.BreakGlassTagValue {
		return nil
	}
	return e.BreakGlass
}

// MaxDuration is the longest the request may be granted for under the
// entitlement: its break-glass maxDuration for a break-glass request.
func MaxDuration(e *accessv1alpha1.Entitlement, req *accessv1alpha1.AccessRequest) time.Duration {
	if bg := BreakGlassOf(e, req); bg != nil {
		return min(bg.MaxDuration.Duration, e.MaxDuration.Duration)
	}
	return e.MaxDuration.Duration
}
