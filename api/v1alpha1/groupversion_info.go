// Package v1alpha1 contains the rolegate API: ApprovalPolicy, AccessRequest
// and AccessDecision in the access.rolegate.dev group.
//
// +kubebuilder:object:generate=true
// +groupName=access.rolegate.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of the rolegate API.
	GroupVersion = schema.GroupVersion{Group: "access.rolegate.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the rolegate kinds with a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the rolegate kinds to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&ApprovalPolicy{}, &ApprovalPolicyList{},
		&AccessRequest{}, &AccessRequestList{},
		&AccessDecision{}, &AccessDecisionList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
