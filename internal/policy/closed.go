package policy

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// Closed reports whether a request reached a final state: its access ended
// (status.revokedAt), or it was denied or timed out. This is the one place
// status is read back, and only to restrict: a closed request never comes
// back, even if the policy returns or the decisions that closed it are
// deleted.
func Closed(ar *accessv1alpha1.AccessRequest) bool {
	if ar.Status.RevokedAt != nil {
		return true
	}
	if c := meta.FindStatusCondition(ar.Status.Conditions, accessv1alpha1.ConditionReady); c != nil {
		return c.Reason == accessv1alpha1.ReasonDenied || c.Reason == accessv1alpha1.ReasonTimedOut
	}
	return false
}

// AwaitsReview reports whether a break-glass request waits for an eligible
// reviewer's Acknowledge: its Reviewed condition is False with reason
// ReviewPending. The review stays open after the access ended.
func AwaitsReview(ar *accessv1alpha1.AccessRequest) bool {
	c := meta.FindStatusCondition(ar.Status.Conditions, accessv1alpha1.ConditionReviewed)
	return c != nil && c.Status == metav1.ConditionFalse && c.Reason == accessv1alpha1.ReasonReviewPending
}
