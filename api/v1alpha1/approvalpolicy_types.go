package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RequiredTag is a tag every request under the policy must carry.
type RequiredTag struct {
	// key is the tag's name, as used in an AccessRequest's spec.tags.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`
	Key string `json:"key"`

	// values are the allowed values; empty means any non-empty value.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	Values []string `json:"values,omitempty"`

	// pattern is an RE2 regular expression the value must match, for
	// example ^CHG-[0-9]+$ for a change ticket. Anchor it with ^ and $ to
	// match the whole value. An invalid expression is refused at admission.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Pattern string `json:"pattern,omitempty"`

	// link is a URL template for the value, with {value} where the value
	// goes, for example https://tickets.example/browse/{value}. The rendered
	// link is shown to approvers (pending, explain, notifications) and
	// recorded in the audit log. It must be an http or https URL containing
	// {value}.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Link string `json:"link,omitempty"`

	// minSensitivity requires the tag only on requests whose effective
	// sensitivity is at least this, for example a ticket from high up.
	// Unset means every request. A request below it may still carry the
	// tag, and then its value is checked.
	// +optional
	MinSensitivity Sensitivity `json:"minSensitivity,omitempty"`
}

// Entitlement is one role in a policy's catalog.
// +kubebuilder:validation:XValidation:rule="!has(self.allowPersistenceRisk) || !self.allowPersistenceRisk || (has(self.persistenceRiskReason) && size(self.persistenceRiskReason) > 0)",message="persistenceRiskReason is required when allowPersistenceRisk is true: record why the risk is accepted",fieldPath=".persistenceRiskReason"
// +kubebuilder:validation:XValidation:rule="!has(self.breakGlass) || !self.maxDuration.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$') || !self.breakGlass.maxDuration.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$') || duration(self.breakGlass.maxDuration) <= duration(self.maxDuration)",message="breakGlass.maxDuration must not exceed maxDuration",fieldPath=".breakGlass.maxDuration"
type Entitlement struct {
	// roleRef is the Role or ClusterRole that may be requested. A Role is
	// looked up in the request's namespace.
	// +required
	RoleRef RoleRef `json:"roleRef"`

	// maxDuration is the longest a grant of this role may last, for example 1h.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$')",message="maxDuration must be a Go duration such as 30m or 8h (units h, m, s, ms; days are not a unit: write 72h for 3 days)"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$') || duration(self) > duration('0s')",message="maxDuration must be positive"
	MaxDuration metav1.Duration `json:"maxDuration"`

	// sensitivity is the floor for a request's sensitivity: a request is
	// handled at the higher of this and its sensitivity tag.
	// +optional
	// +kubebuilder:default=low
	Sensitivity Sensitivity `json:"sensitivity,omitempty"`

	// autoApprove grants the role without human review once the request is
	// valid; the approval is recorded as given by the policy.
	// +optional
	AutoApprove bool `json:"autoApprove,omitempty"`

	// allowPersistenceRisk accepts a role whose rules let a holder outlive
	// or widen its grant (bind, escalate, impersonate; creating tokens,
	// Secrets, bindings or CertificateSigningRequests; writing webhook
	// configurations; wildcards). Without it such a role makes the policy
	// Ready=False (EntitlementAllowsPersistence) and requests for it are
	// refused. Requires persistenceRiskReason.
	// +optional
	AllowPersistenceRisk bool `json:"allowPersistenceRisk,omitempty"`

	// persistenceRiskReason records why the risk is accepted; required when
	// allowPersistenceRisk is true.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	PersistenceRiskReason string `json:"persistenceRiskReason,omitempty"`

	// breakGlass lets a request tagged type: break-glass be granted at once,
	// without approval, for at most breakGlass.maxDuration. The grant is
	// reviewed afterwards with an Acknowledge decision.
	// +optional
	BreakGlass *BreakGlass `json:"breakGlass,omitempty"`
}

// BreakGlassTagValue is the value of the type tag that asks for break-glass access.
const BreakGlassTagValue = "break-glass"

// BreakGlassTag is the tag whose value BreakGlassTagValue asks for break-glass access.
const BreakGlassTag = "type"

// BreakGlass is emergency access: granted at once, reviewed afterwards.
type BreakGlass struct {
	// maxDuration is the longest a break-glass grant may last; at most the
	// entitlement's maxDuration.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$')",message="breakGlass.maxDuration must be a Go duration such as 30m or 8h (units h, m, s, ms; days are not a unit: write 72h for 3 days)"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$') || duration(self) > duration('0s')",message="breakGlass.maxDuration must be positive"
	MaxDuration metav1.Duration `json:"maxDuration"`

	// notify names the policy's notification targets told about a
	// break-glass grant; empty means every target.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=63
	Notify []string `json:"notify,omitempty"`
}

// NotificationEvent is a moment in a request's life that targets hear about.
// +kubebuilder:validation:Enum=Pending;Escalated;Granted;BreakGlass;Expiring;Revoked
type NotificationEvent string

// Notification events.
const (
	// NotifyPending: a request waits for the deciding tier.
	NotifyPending NotificationEvent = "Pending"
	// NotifyEscalated: a request moved to the next tier.
	NotifyEscalated NotificationEvent = "Escalated"
	// NotifyGranted: access was granted.
	NotifyGranted NotificationEvent = "Granted"
	// NotifyBreakGlass: break-glass access was granted and awaits review.
	NotifyBreakGlass NotificationEvent = "BreakGlass"
	// NotifyExpiring: access ends within the target's expiringLeadTime.
	NotifyExpiring NotificationEvent = "Expiring"
	// NotifyRevoked: access ended (expired, revoked or cut by policy).
	NotifyRevoked NotificationEvent = "Revoked"
)

// NotificationEvents lists every notification event.
var NotificationEvents = []NotificationEvent{NotifyPending, NotifyEscalated, NotifyGranted, NotifyBreakGlass, NotifyExpiring, NotifyRevoked}

// SecretKeySelector names a key of a Secret in the namespace rolegate runs in.
type SecretKeySelector struct {
	// name is the Secret's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key is the key within the Secret's data.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// WebhookTarget posts a JSON document to a URL.
type WebhookTarget struct {
	// url receives a POST per notification.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://`
	URL string `json:"url"`

	// signingSecretRef holds the HMAC-SHA256 key; each body is signed in the
	// X-Rolegate-Signature header as sha256=<hex>.
	// +optional
	SigningSecretRef *SecretKeySelector `json:"signingSecretRef,omitempty"`
}

// SlackTarget posts a Slack-compatible incoming-webhook payload.
type SlackTarget struct {
	// urlSecretRef holds the incoming-webhook URL, which is itself a credential.
	// +required
	URLSecretRef SecretKeySelector `json:"urlSecretRef"`
}

// NotificationTarget is somewhere approvers and owners hear about requests.
// +kubebuilder:validation:XValidation:rule="has(self.webhook) != has(self.slack)",message="set exactly one of webhook or slack"
type NotificationTarget struct {
	// name identifies the target in metrics and conditions.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// webhook posts a signed JSON document.
	// +optional
	Webhook *WebhookTarget `json:"webhook,omitempty"`

	// slack posts a Slack-compatible message.
	// +optional
	Slack *SlackTarget `json:"slack,omitempty"`

	// events are what the target hears about; empty means every event.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=6
	Events []NotificationEvent `json:"events,omitempty"`

	// expiringLeadTime is how long before expiresAt the Expiring
	// notification is sent.
	// +optional
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$')",message="expiringLeadTime must be a Go duration such as 30m or 8h (units h, m, s, ms; days are not a unit: write 72h for 3 days)"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$') || duration(self) > duration('0s')",message="expiringLeadTime must be positive"
	ExpiringLeadTime *metav1.Duration `json:"expiringLeadTime,omitempty"`
}

// ApproverTier is one level of reviewers. Tiers are ordered: a request is
// decided by the first tier whose maxSensitivity covers it, and reviewers
// of later tiers may approve as well.
type ApproverTier struct {
	// name identifies the tier in status and events.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// subjects are the users, groups and service accounts that may decide
	// for this tier.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Subjects []Subject `json:"subjects"`

	// requiredApprovals is how many distinct reviewers must approve when
	// this tier decides.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=16
	RequiredApprovals int32 `json:"requiredApprovals,omitempty"`

	// maxSensitivity is this tier's authority bound: it does not decide
	// requests above it. Unset means no bound.
	// +optional
	MaxSensitivity Sensitivity `json:"maxSensitivity,omitempty"`

	// escalateAfter passes an undecided request to the next tier after this
	// long. Unset means the tier decides until pendingTimeout.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$')",message="escalateAfter must be a Go duration such as 30m or 8h (units h, m, s, ms; days are not a unit: write 72h for 3 days)"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$') || duration(self) > duration('0s')",message="escalateAfter must be positive"
	EscalateAfter *metav1.Duration `json:"escalateAfter,omitempty"`
}

// ApprovalPolicySpec is what the platform team allows: which roles can be
// asked for where, with which tags, by whom, and who must approve.
// +kubebuilder:validation:XValidation:rule="self.entitlements.all(e, self.entitlements.exists_one(f, f.roleRef.kind == e.roleRef.kind && f.roleRef.name == e.roleRef.name))",message="entitlements must not list the same roleRef twice"
// +kubebuilder:validation:XValidation:rule="(has(self.approvers) && size(self.approvers) > 0) || self.entitlements.all(e, has(e.autoApprove) && e.autoApprove)",message="approvers are required unless every entitlement sets autoApprove"
// +kubebuilder:validation:XValidation:rule="self.entitlements.all(e, !has(e.breakGlass) || !has(e.breakGlass.notify) || e.breakGlass.notify.all(n, has(self.notify) && self.notify.exists(t, t.name == n)))",message="entitlements[].breakGlass.notify must name targets listed in spec.notify"
// +kubebuilder:validation:XValidation:rule="!has(self.review) || !has(self.review.reviewers.tier) || (has(self.approvers) && self.approvers.exists(t, t.name == self.review.reviewers.tier))",message="review.reviewers.tier must name one of spec.approvers",fieldPath=".review.reviewers.tier"
type ApprovalPolicySpec struct {
	// namespaceSelector selects the namespaces whose requests this policy
	// governs; {} selects every namespace.
	// +required
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector"`

	// requesters may open requests under this policy. Empty means anyone
	// whom RBAC lets create AccessRequests.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Requesters []Subject `json:"requesters,omitempty"`

	// serviceAccountNamespaces are the namespaces whose service accounts may
	// receive access. Empty means only the request's own namespace.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=63
	ServiceAccountNamespaces []string `json:"serviceAccountNamespaces,omitempty"`

	// requiredTags are the tags every request must carry (or, with
	// minSensitivity, every request from that sensitivity up), with their
	// allowed values, pattern and link.
	// +optional
	// +listType=map
	// +listMapKey=key
	// +kubebuilder:validation:MaxItems=32
	RequiredTags []RequiredTag `json:"requiredTags,omitempty"`

	// requireJustification makes spec.justification mandatory on requests.
	// +optional
	// +kubebuilder:default=true
	RequireJustification *bool `json:"requireJustification,omitempty"`

	// entitlements is the catalog: the only roles that can be requested
	// under this policy.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=128
	Entitlements []Entitlement `json:"entitlements"`

	// approvers are the ordered tiers of reviewers.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=8
	Approvers []ApproverTier `json:"approvers,omitempty"`

	// pendingTimeout closes a request that is still undecided after this
	// long as TimedOut. Unset means requests wait until decided or deleted.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$')",message="pendingTimeout must be a Go duration such as 30m or 8h (units h, m, s, ms; days are not a unit: write 72h for 3 days)"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$') || duration(self) > duration('0s')",message="pendingTimeout must be positive"
	PendingTimeout *metav1.Duration `json:"pendingTimeout,omitempty"`

	// trustedSubmitters are controllers (for example Argo CD) allowed to
	// submit requests on someone's behalf, named in the
	// access.rolegate.dev/requested-by annotation.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	TrustedSubmitters []Subject `json:"trustedSubmitters,omitempty"`

	// maxExtensions is how many times a grant may be extended by an
	// AccessRequest with spec.extends; the time added never exceeds the
	// entitlement's maxDuration times maxExtensions. 0 turns extensions off.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=16
	MaxExtensions int32 `json:"maxExtensions,omitempty"`

	// notify are the targets told about requests under this policy.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=8
	Notify []NotificationTarget `json:"notify,omitempty"`

	// review makes the policy's owners re-attest it on a schedule
	// (recertification), with an AccessDecision whose spec.policy names it.
	// +optional
	Review *PolicyReview `json:"review,omitempty"`
}

// ApprovalPolicyStatus is the observed state of an ApprovalPolicy.
type ApprovalPolicyStatus struct {
	// observedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions hold Ready, False with a reason when the policy is unusable
	// (for example a catalog role does not exist or lets a holder make its
	// grant permanent), and NotificationsDelivered, False while a
	// notification target fails.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// lastReviewed is when the policy was last attested by a reviewer of
	// spec.review.
	// +optional
	LastReviewed *metav1.Time `json:"lastReviewed,omitempty"`

	// lastReviewedBy is the reviewer who made that attestation.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	LastReviewedBy string `json:"lastReviewedBy,omitempty"`

	// reviewDueAt is when the next review is due; unset without spec.review.
	// +optional
	ReviewDueAt *metav1.Time `json:"reviewDueAt,omitempty"`
}

// ApprovalPolicy decides which roles can be requested in which namespaces,
// which tags are mandatory, who may ask and who must approve.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=apol,categories=rolegate
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Review-Due",type=string,JSONPath=`.status.reviewDueAt`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ApprovalPolicy struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the policy.
	// +required
	Spec ApprovalPolicySpec `json:"spec"`

	// status is the policy's observed state.
	// +optional
	Status ApprovalPolicyStatus `json:"status,omitempty"`
}

// ApprovalPolicyList is a list of ApprovalPolicy.
//
// +kubebuilder:object:root=true
type ApprovalPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ApprovalPolicy `json:"items"`
}
