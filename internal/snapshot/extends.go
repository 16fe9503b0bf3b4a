package snapshot

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// Request reads an AccessRequest; nil when it does not exist.
func Request(ctx context.Context, c client.Reader, namespace, name string) (*accessv1alpha1.AccessRequest, error) {
	ar := &accessv1alpha1.AccessRequest{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, ar); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading AccessRequest %s/%s: %w", namespace, name, err)
	}
	return ar, nil
}

// Extends reads the request an extension names in spec.extends; nil for a
// request that extends nothing or names one that does not exist.
func Extends(ctx context.Context, c client.Reader, ar *accessv1alpha1.AccessRequest) (*accessv1alpha1.AccessRequest, error) {
	if ar.Spec.Extends == "" {
		return nil, nil
	}
	return Request(ctx, c, ar.Namespace, ar.Spec.Extends)
}
