// Package v1alpha1 contains the rolegate API: ApprovalPolicy, AccessRequest
// and AccessDecision in the access.rolegate.dev group.
//
// +kubebuilder:object:generate=true
// +groupName=access.rolegate.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of the rolegate API.
	GroupVersion = schema.GroupVersion{Group: "access.rolegate.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the rolegate kinds with a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the rolegate kinds to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
