package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// OverdueAction is what an overdue review does to a policy's new grants.
// +kubebuilder:validation:Enum=Warn;SuspendNewGrants
type OverdueAction string

// Overdue actions.
const (
	// OverdueWarn only reports the overdue review (conditions, metric, alert).
	OverdueWarn OverdueAction = "Warn"
	// OverdueSuspendNewGrants also holds back every new grant under the
	// policy until a reviewer attests; active grants continue.
	OverdueSuspendNewGrants OverdueAction = "SuspendNewGrants"
)

// PolicyReview is the recertification of a policy: its owners re-attest,
// on a schedule, that its catalog, tiers and long grants are still right.
type PolicyReview struct {
	// every is how often the policy must be attested, for example 2160h
	// (90 days). The first review is due this long after the policy was
	// created; each attestation starts the period again.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$')",message="review.every must be a Go duration such as 30m or 8h (units h, m, s, ms; days are not a unit: write 2160h for 90 days)"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$') || duration(self) > duration('0s')",message="review.every must be positive"
	Every metav1.Duration `json:"every"`

	// reviewers are who may attest the policy: the subjects of one of its
	// approver tiers, or subjects listed here.
	// +required
	Reviewers PolicyReviewers `json:"reviewers"`

	// onOverdue is what happens once the review is overdue: Warn reports it
	// (ReviewOverdue condition, metric, alert); SuspendNewGrants also holds
	// back new grants under the policy (Ready=False, reason ReviewOverdue,
	// on the request) until a reviewer attests. Active grants continue.
	// +optional
	// +kubebuilder:default=Warn
	OnOverdue OverdueAction `json:"onOverdue,omitempty"`

	// includeGrantsLongerThan lists, in the review, the active grants of the
	// policy that last longer than this, so that reviewers look at them
	// before they attest. Unset lists none.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$')",message="review.includeGrantsLongerThan must be a Go duration such as 30m or 8h (units h, m, s, ms; days are not a unit: write 72h for 3 days)"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$') || duration(self) >= duration('0s')",message="review.includeGrantsLongerThan must not be negative"
	IncludeGrantsLongerThan *metav1.Duration `json:"includeGrantsLongerThan,omitempty"`
}

// PolicyReviewers names who may attest a policy: exactly one of tier or subjects.
// +kubebuilder:validation:XValidation:rule="has(self.tier) != has(self.subjects)",message="set exactly one of review.reviewers.tier (an approver tier's name) or review.reviewers.subjects"
type PolicyReviewers struct {
	// tier is the name of one of the policy's approver tiers; its subjects
	// may attest.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Tier string `json:"tier,omitempty"`

	// subjects are the users, groups and service accounts that may attest.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Subjects []Subject `json:"subjects,omitempty"`
}

// Condition types of a policy's review.
const (
	// ConditionReviewDue is True from when the policy's review opens
	// (ReviewDue) and while it is overdue (ReviewOverdue), False (NotDue)
	// otherwise.
	ConditionReviewDue = "ReviewDue"
	// ConditionReviewOverdue is True once the review's due time passed
	// without an attestation.
	ConditionReviewOverdue = "ReviewOverdue"
)

// Review reasons (ReviewDue and ReviewOverdue conditions on ApprovalPolicy;
// ReviewOverdue also on a request whose grant is held back).
const (
	ReasonReviewDue     = "ReviewDue"
	ReasonReviewOverdue = "ReviewOverdue"
	// ReasonReviewNotDue: the review has not opened yet (attested, or new).
	ReasonReviewNotDue = "NotDue"
	// ReasonAttested: an attestation counted (Counted condition).
	ReasonAttested = "Attested"
	// ReasonReviewNotConfigured: an attestation names a policy without spec.review.
	ReasonReviewNotConfigured = "ReviewNotConfigured"
	// ReasonNamespaceNotGoverned: an attestation was made in a namespace
	// the policy does not govern.
	ReasonNamespaceNotGoverned = "NamespaceNotGoverned"
)
