package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AccessRequestSpec asks for a role for a service account, for a bounded
// time. It is immutable once created.
type AccessRequestSpec struct {
	// serviceAccount receives the role.
	// +required
	ServiceAccount ServiceAccountReference `json:"serviceAccount"`

	// roleRef is the Role (in this namespace) or ClusterRole (bound in this
	// namespace) asked for; it must be in the policy's catalog.
	// +required
	RoleRef RoleRef `json:"roleRef"`

	// duration is how long the access should last once granted, for example
	// 1h; at most the entitlement's maxDuration.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$')",message="duration must be a Go duration such as 30m or 8h (units h, m, s, ms; days are not a unit: write 72h for 3 days)"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$') || duration(self) > duration('0s')",message="duration must be positive"
	Duration metav1.Duration `json:"duration"`

	// justification says why the access is needed; required unless the
	// policy sets requireJustification: false. At most 1024 characters;
	// newlines and tabs are allowed, other control characters and invisible
	// formatting characters (such as bidirectional overrides) are not.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule=`!self.matches('[\\x00-\\x08\\x0B-\\x1F\\x7F-\\x9F\\x{061C}\\x{200B}-\\x{200F}\\x{202A}-\\x{202E}\\x{2060}-\\x{2069}\\x{FEFF}]')`,message="justification must not contain control characters other than newline and tab, nor invisible formatting characters such as bidirectional overrides (U+202A-U+202E, U+2066-U+2069)"
	Justification string `json:"justification,omitempty"`

	// tags classify the request; the policy names the mandatory ones and
	// their allowed values. The sensitivity tag (low, medium, high,
	// critical) raises the bar for approval. Keys and values must not hold
	// control characters or invisible formatting characters (admission
	// refuses them).
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(k) <= 63 && k.matches('^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$') && size(self[k]) <= 253)",message="tag keys must be at most 63 characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit; values at most 253 characters"
	Tags map[string]string `json:"tags,omitempty"`

	// policy names the ApprovalPolicy to use; required only when more than
	// one policy allows the role in this namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Policy string `json:"policy,omitempty"`

	// extends names a granted AccessRequest in this namespace whose grant
	// this request prolongs. It goes through the same validation and
	// approval; once approved, the existing RoleBinding stays and its
	// expiresAt moves by this request's duration. The policy's
	// maxExtensions must allow it.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Extends string `json:"extends,omitempty"`

	// startTime schedules the grant: an approved request is granted at this
	// time, and expiresAt is startTime plus duration.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// requester is who opened the request. It is written at admission from
	// the authenticated user; a request without a requester is never granted.
	// +optional
	Requester *Requester `json:"requester,omitempty"`
}

// ApprovalRecord is one decision that counted towards a request.
type ApprovalRecord struct {
	// reviewer is the username of who decided, or ApprovalPolicy/<name>
	// when the policy approved automatically.
	// +required
	// +kubebuilder:validation:MaxLength=512
	Reviewer string `json:"reviewer"`

	// decision is what the reviewer decided.
	// +required
	Decision DecisionType `json:"decision"`

	// tier is the approver tier the reviewer decided for.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Tier string `json:"tier,omitempty"`

	// time is when the decision was made.
	// +required
	Time metav1.Time `json:"time"`

	// comment is the reviewer's comment.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Comment string `json:"comment,omitempty"`

	// decisionRef is the name of the AccessDecision, empty for automatic approval.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	DecisionRef string `json:"decisionRef,omitempty"`
}

// ExtensionRecord is an extension that moved a grant's expiresAt.
type ExtensionRecord struct {
	// request is the name of the extending AccessRequest.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Request string `json:"request"`

	// duration is how much time it added.
	// +required
	// +kubebuilder:validation:Type=string
	Duration metav1.Duration `json:"duration"`

	// approvedAt is when the extension was approved.
	// +required
	ApprovedAt metav1.Time `json:"approvedAt"`
}

// AccessRequestStatus is the observed state of an AccessRequest. It is an
// output: the controller recomputes it from the policy and the decisions on
// every reconcile and reads it back only to keep access from lengthening.
type AccessRequestStatus struct {
	// observedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions are Validated, Approved, Escalated, Granted, Expired,
	// Ready, Stalled, and for break-glass requests BreakGlass and Reviewed;
	// Ready's reason is the lifecycle state (PendingApproval, Scheduled,
	// Granted, Extended, Expired, Revoked, Denied, TimedOut, Invalid).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// policy is the ApprovalPolicy that governs the request.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Policy string `json:"policy,omitempty"`

	// effectiveSensitivity is the higher of the sensitivity tag and the
	// entitlement's sensitivity.
	// +optional
	EffectiveSensitivity Sensitivity `json:"effectiveSensitivity,omitempty"`

	// tier is the approver tier that decides the request now.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Tier string `json:"tier,omitempty"`

	// approvals are the decisions that counted, in order.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Approvals []ApprovalRecord `json:"approvals,omitempty"`

	// grantedAt is when the RoleBinding was first created.
	// +optional
	GrantedAt *metav1.Time `json:"grantedAt,omitempty"`

	// expiresAt is when access ends: grantedAt plus duration, never later
	// than the policy allows now.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`

	// revokedAt is when access ended (expiry, revocation or policy change).
	// A request whose access ended is never granted again.
	// +optional
	RevokedAt *metav1.Time `json:"revokedAt,omitempty"`

	// roleBinding is the name of the RoleBinding that carries the grant.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	RoleBinding string `json:"roleBinding,omitempty"`

	// serviceAccountUID is the UID of the ServiceAccount that received the
	// grant, recorded when it was granted. A ServiceAccount deleted, or
	// replaced by a new one of the same name (another UID), ends the grant:
	// a new ServiceAccount never inherits it.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	ServiceAccountUID string `json:"serviceAccountUID,omitempty"`

	// extensions are the approved extensions that moved expiresAt, in order.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Extensions []ExtensionRecord `json:"extensions,omitempty"`
}

// AccessRequest asks for a role for a service account for a bounded time.
// It lives in the namespace where the access is granted.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=areq,categories=rolegate
// +kubebuilder:selectablefield:JSONPath=`.spec.extends`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Policy",type=string,JSONPath=`.status.policy`
// +kubebuilder:printcolumn:name="ServiceAccount",type=string,JSONPath=`.spec.serviceAccount.name`
// +kubebuilder:printcolumn:name="Role",type=string,JSONPath=`.spec.roleRef.name`
// +kubebuilder:printcolumn:name="Tier",type=string,JSONPath=`.status.tier`,priority=1
// +kubebuilder:printcolumn:name="Requester",type=string,JSONPath=`.spec.requester.username`,priority=1
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.status.expiresAt`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.spec == oldSelf.spec",message="spec is immutable; create a new AccessRequest instead",fieldPath=".spec"
// +kubebuilder:validation:XValidation:rule="!has(self.spec.extends) || self.spec.extends != self.metadata.name",message="a request cannot extend itself; name the granted request to extend",fieldPath=".spec.extends"
type AccessRequest struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the request; immutable.
	// +required
	Spec AccessRequestSpec `json:"spec"`

	// status is the request's observed state.
	// +optional
	Status AccessRequestStatus `json:"status,omitempty"`
}

// AccessRequestList is a list of AccessRequest.
//
// +kubebuilder:object:root=true
type AccessRequestList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AccessRequest `json:"items"`
}
