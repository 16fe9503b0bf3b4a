package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DecisionType is what a reviewer decides.
// +kubebuilder:validation:Enum=Approve;Deny;Revoke;Acknowledge;Attest
type DecisionType string

// Decision types.
const (
	// DecisionApprove counts towards the request's approval threshold.
	DecisionApprove DecisionType = "Approve"
	// DecisionDeny ends a pending request.
	DecisionDeny DecisionType = "Deny"
	// DecisionRevoke ends an active grant early.
	DecisionRevoke DecisionType = "Revoke"
	// DecisionAcknowledge reviews a break-glass grant after the fact.
	DecisionAcknowledge DecisionType = "Acknowledge"
	// DecisionAttest recertifies the ApprovalPolicy named by spec.policy.
	DecisionAttest DecisionType = "Attest"
)

// AccessDecisionSpec is a reviewer's decision on an AccessRequest in the same
// namespace, or an attestation of an ApprovalPolicy's review. It is
// immutable once created.
// +kubebuilder:validation:XValidation:rule="has(self.request) != has(self.policy)",message="set exactly one of spec.request (a decision on an AccessRequest) or spec.policy (an attestation of an ApprovalPolicy)"
// +kubebuilder:validation:XValidation:rule="has(self.policy) == (self.decision == 'Attest')",message="decision Attest is made on a policy (spec.policy); Approve, Deny, Revoke and Acknowledge are made on a request (spec.request)",fieldPath=".decision"
type AccessDecisionSpec struct {
	// request is the name of the AccessRequest in this namespace. Required
	// unless spec.policy is set.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Request string `json:"request,omitempty"`

	// policy is the name of the ApprovalPolicy an Attest decision
	// recertifies. The attestation lives in a namespace the policy
	// governs, where its reviewers already make decisions.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Policy string `json:"policy,omitempty"`

	// decision is Approve, Deny, Revoke, Acknowledge (the review of a
	// break-glass grant), or Attest (the review of the policy named by
	// spec.policy).
	// +required
	Decision DecisionType `json:"decision"`

	// comment explains the decision.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Comment string `json:"comment,omitempty"`

	// requestUID is the UID of the AccessRequest the decision was made
	// for. It is written at admission, like reviewer: a client-supplied
	// value is rejected unless it is the request's UID. A decision counts
	// only for the request object with this UID, never for a later request
	// of the same name (Counted=False, reason RequestReplaced). A decision
	// without it (made before rolegate recorded it) counts only when it was
	// created no earlier than the request.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	RequestUID string `json:"requestUID,omitempty"`

	// reviewer is who decided. It is written at admission from the
	// authenticated user; a decision without a reviewer never counts.
	// +optional
	Reviewer *UserInfo `json:"reviewer,omitempty"`
}

// AccessDecisionStatus tells the reviewer whether the decision took effect.
type AccessDecisionStatus struct {
	// observedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions hold Counted: True when the decision took effect, False
	// with a reason (NotEligible, SelfApproval, Duplicate,
	// RequestNotPending, RequestNotFound, RequestReplaced) when it did not.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// AccessDecision approves, denies, revokes or acknowledges an AccessRequest,
// or attests an ApprovalPolicy.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=adec,categories=rolegate
// +kubebuilder:selectablefield:JSONPath=`.spec.request`
// +kubebuilder:selectablefield:JSONPath=`.spec.policy`
// +kubebuilder:printcolumn:name="Request",type=string,JSONPath=`.spec.request`
// +kubebuilder:printcolumn:name="Policy",type=string,JSONPath=`.spec.policy`,priority=1
// +kubebuilder:printcolumn:name="Decision",type=string,JSONPath=`.spec.decision`
// +kubebuilder:printcolumn:name="Reviewer",type=string,JSONPath=`.spec.reviewer.username`
// +kubebuilder:printcolumn:name="Counted",type=string,JSONPath=`.status.conditions[?(@.type=="Counted")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.spec == oldSelf.spec",message="spec is immutable; create a new AccessDecision instead",fieldPath=".spec"
type AccessDecision struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the decision; immutable.
	// +required
	Spec AccessDecisionSpec `json:"spec"`

	// status tells whether the decision counted.
	// +optional
	Status AccessDecisionStatus `json:"status,omitempty"`
}

// AccessDecisionList is a list of AccessDecision.
//
// +kubebuilder:object:root=true
type AccessDecisionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AccessDecision `json:"items"`
}
