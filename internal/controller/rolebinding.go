package controller

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
)

const (
	bindingPrefix = "rolegate-"
	// maxNameLength is the longest object name the API server accepts.
	maxNameLength = 253
	hashLength    = 5
)

// BindingName is the deterministic name of a request's RoleBinding:
// rolegate-<request>-<hash of the request's UID>, so that a request
// re-created under the same name never inherits an old binding. A name too
// long for that is cut (and any '-' or '.' it then ends with dropped), so
// the result is a valid object name for a request name of any valid length.
func BindingName(req *accessv1alpha1.AccessRequest) string {
	sum := sha256.Sum256([]byte(req.UID))
	suffix := hex.EncodeToString(sum[:])[:hashLength]
	name := req.Name
	if limit := maxNameLength - len(bindingPrefix) - 1 - hashLength; len(name) > limit {
		name = strings.TrimRight(name[:limit], "-.")
	}
	return bindingPrefix + name + "-" + suffix
}

// ManagedLabels are the labels every rolegate RoleBinding carries; the
// request label's value is accessv1alpha1.RequestLabelValue of its name.
func ManagedLabels(req *accessv1alpha1.AccessRequest) map[string]string {
	return map[string]string{
		accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue,
		accessv1alpha1.RequestLabel:   accessv1alpha1.RequestLabelValue(req.Name),
	}
}

// ManagedAnnotations are the annotations every rolegate RoleBinding
// carries: the request's full name and when the grant expires.
func ManagedAnnotations(req *accessv1alpha1.AccessRequest, expiresAt time.Time) map[string]string {
	return map[string]string{
		accessv1alpha1.RequestNameAnnotation: req.Name,
		accessv1alpha1.ExpiresAtAnnotation:   expiresAt.UTC().Format(time.RFC3339),
	}
}

// BelongsTo reports whether a managed binding found by a request's label
// value belongs to the request of that name: a hashed label value can be
// shared by a short name that equals it, so the full name decides.
func BelongsTo(rb *rbacv1.RoleBinding, namespace, name string) bool {
	return rb.Namespace == namespace && accessv1alpha1.RequestNameOf(rb.Labels, rb.Annotations) == name
}

// DesiredBinding is the RoleBinding that carries a request's grant: exactly
// one ServiceAccount subject, the requested role, the managed labels and a
// controller reference to the request.
func DesiredBinding(req *accessv1alpha1.AccessRequest, expiresAt time.Time) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{
			Name:        BindingName(req),
			Namespace:   req.Namespace,
			Labels:      ManagedLabels(req),
			Annotations: ManagedAnnotations(req, expiresAt),
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion:         accessv1alpha1.GroupVersion.String(),
				Kind:               "AccessRequest",
				Name:               req.Name,
				UID:                req.UID,
				Controller:         ptr.To(true),
				BlockOwnerDeletion: ptr.To(true),
			}},
		},
		RoleRef: rbacv1.RoleRef{
			APIGroup: rbacv1.GroupName,
			Kind:     string(req.Spec.RoleRef.Kind),
			Name:     req.Spec.RoleRef.Name,
		},
		Subjects: []rbacv1.Subject{{
			Kind:      rbacv1.ServiceAccountKind,
			Name:      req.Spec.ServiceAccount.Name,
			Namespace: policy.ServiceAccountNamespace(req),
		}},
	}
}

// ControlledBy reports whether the binding's controller reference is the request.
func ControlledBy(rb *rbacv1.RoleBinding, req *accessv1alpha1.AccessRequest) bool {
	ref := metav1.GetControllerOfNoCopy(rb)
	return ref != nil && ref.UID == req.UID
}

// grantMatches reports whether an existing binding grants exactly what the
// desired one does and carries its labels and owner.
func grantMatches(have, want *rbacv1.RoleBinding) bool {
	return equality.Semantic.DeepEqual(have.RoleRef, want.RoleRef) &&
		equality.Semantic.DeepEqual(have.Subjects, want.Subjects) &&
		containsAll(have.Labels, want.Labels) &&
		equality.Semantic.DeepEqual(have.OwnerReferences, want.OwnerReferences)
}

// bindingMatches reports whether an existing binding needs no change.
func bindingMatches(have, want *rbacv1.RoleBinding) bool {
	return grantMatches(have, want) && containsAll(have.Annotations, want.Annotations)
}

func containsAll(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// restore rewrites an existing binding's mutable parts to the desired ones,
// keeping foreign labels and annotations that do not conflict.
func restore(have, want *rbacv1.RoleBinding) {
	if have.Labels == nil {
		have.Labels = map[string]string{}
	}
	maps.Copy(have.Labels, want.Labels)
	if have.Annotations == nil {
		have.Annotations = map[string]string{}
	}
	maps.Copy(have.Annotations, want.Annotations)
	have.OwnerReferences = want.OwnerReferences
	have.Subjects = want.Subjects
}
