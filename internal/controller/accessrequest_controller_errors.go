package controller

import (
	"context"
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// actionError is a failure to act on a request, with the reason the
// request's Ready condition, its Warning event and
// rolegate_reconcile_errors_total give it. Its message names the object
// and the cause.
type actionError struct {
	reason string
	err    error
}

func (e actionError) Error() string { return e.err.Error() }
func (e actionError) Unwrap() error { return e.err }

// failureReason is the reason of an action error; errors that are not
// (reading what the request depends on) are ReadFailed.
func failureReason(err error) string {
	var ae actionError
	if errors.As(err, &ae) {
		return ae.reason
	}
	return accessv1alpha1.ReasonReadFailed
}

// reportable reports whether a reconcile error is worth a condition, an
// event and a metric: a lost optimistic-lock race is retried quietly, and a
// stopping manager is not a failure of the request.
func reportable(err error) bool {
	return err != nil && !apierrors.IsConflict(err) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// setFailed records in Ready that acting on the request failed and is
// retried. Granted keeps what it said: it changes only when access does.
func setFailed(ar *accessv1alpha1.AccessRequest, err error) {
	setCondition(ar, accessv1alpha1.ConditionReady, metav1.ConditionFalse, failureReason(err),
		conditionMessage(err.Error()+"; retrying with backoff"))
}
