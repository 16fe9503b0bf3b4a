package snapshot

import (
	"context"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
)

// Extensions lists the AccessRequests that extend the named request.
func Extensions(ctx context.Context, c client.Reader, namespace, name string) ([]accessv1alpha1.AccessRequest, error) {
	var list accessv1alpha1.AccessRequestList
	if err := c.List(ctx, &list, client.InNamespace(namespace), client.MatchingFields{ExtendsIndex: name}); err != nil {
		return nil, fmt.Errorf("listing extensions of %s: %w", name, err)
	}
	return list.Items, nil
}

// ApprovedExtensions evaluates every request that extends ar, each from its
// own decisions under the policies of ar's snapshot, and returns the
// approved ones with when they were approved. Extensions already recorded
// in ar's status are marked Applied, so that they keep their place.
func ApprovedExtensions(
	ctx context.Context, c client.Reader, ar *accessv1alpha1.AccessRequest, snap *Snapshot, now time.Time,
) ([]policy.Extension, error) {
	exts, err := Extensions(ctx, c, ar.Namespace, ar.Name)
	if err != nil {
		return nil, err
	}
	var out []policy.Extension
	for i := range exts {
		x := &exts[i]
		if !x.DeletionTimestamp.IsZero() || x.Spec.Extends != ar.Name {
			continue
		}
		decisions, err := Decisions(ctx, c, x.Namespace, x.Name)
		if err != nil {
			return nil, err
		}
		in := snap.Input(x, time.Time{}, now)
		in.Decisions, in.Extends = decisions, ar
		res := policy.Evaluate(in)
		if res.Outcome == policy.OutcomeExtended {
			out = append(out, policy.Extension{Name: x.Name,
				Duration: min(x.Spec.Duration.Duration, res.Entitlement.MaxDuration.Duration), ApprovedAt: res.Tally.DecidedAt,
				Applied: slices.ContainsFunc(ar.Status.Extensions, func(e accessv1alpha1.ExtensionRecord) bool { return e.Request == x.Name })})
		}
	}
	return out, nil
}

// extended reads the request an extension names in spec.extends; nil for a
// request that extends nothing or names one that does not exist.
func extended(ctx context.Context, c client.Reader, ar *accessv1alpha1.AccessRequest) (*accessv1alpha1.AccessRequest, error) {
	if ar.Spec.Extends == "" {
		return nil, nil
	}
	target := &accessv1alpha1.AccessRequest{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ar.Namespace, Name: ar.Spec.Extends}, target); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading AccessRequest %s/%s: %w", ar.Namespace, ar.Spec.Extends, err)
	}
	return target, nil
}
