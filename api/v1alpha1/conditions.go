package v1alpha1

// Condition types on AccessRequest.
const (
	// ConditionValidated is True when the request passes every check of its policy.
	ConditionValidated = "Validated"
	// ConditionApproved is True when the approval threshold is met, Unknown
	// while approval is pending, and False when denied or timed out.
	ConditionApproved = "Approved"
	// ConditionEscalated is True when the request moved past its first deciding tier.
	ConditionEscalated = "Escalated"
	// ConditionGranted is True while the RoleBinding exists and is correct.
	ConditionGranted = "Granted"
	// ConditionExpired is True when access ended because its time was up.
	ConditionExpired = "Expired"
	// ConditionReady summarises the request; its reason is the lifecycle state.
	ConditionReady = "Ready"
	// ConditionStalled is True when the request cannot make progress without
	// a change by a person (denied, timed out, invalid, binding conflict): kstatus and Flux
	// report it as Failed rather than in progress.
	ConditionStalled = "Stalled"
	// ConditionBreakGlass is True on a request granted as break-glass access.
	ConditionBreakGlass = "BreakGlass"
	// ConditionReviewed is False (ReviewPending) on a break-glass request
	// until an eligible reviewer acknowledges it, then True (Acknowledged).
	ConditionReviewed = "Reviewed"
)

// Condition type on ApprovalPolicy.
const (
	// ConditionNotificationsDelivered is False while a notification target
	// of the policy fails to receive notifications.
	ConditionNotificationsDelivered = "NotificationsDelivered"
)

// Condition type on AccessDecision.
const (
	// ConditionCounted is True when the decision took effect on its request.
	ConditionCounted = "Counted"
)

// Validation reasons (Validated=False). Each names the check that failed.
const (
	ReasonValid                    = "Valid"
	ReasonMissingTag               = "MissingTag"
	ReasonTagValueNotAllowed       = "TagValueNotAllowed"
	ReasonRoleNotInCatalog         = "RoleNotInCatalog"
	ReasonRoleNotFound             = "RoleNotFound"
	ReasonDurationTooLong          = "DurationTooLong"
	ReasonNoMatchingPolicy         = "NoMatchingPolicy"
	ReasonAmbiguousPolicy          = "AmbiguousPolicy"
	ReasonPolicyNotFound           = "PolicyNotFound"
	ReasonServiceAccountNotAllowed = "ServiceAccountNotAllowed"
	ReasonRequesterMissing         = "RequesterMissing"
	ReasonRequesterNotAllowed      = "RequesterNotAllowed"
	ReasonJustificationRequired    = "JustificationRequired"
	ReasonNoApproverTier           = "NoApproverTier"
	// ReasonEntitlementAllowsPersistence: the role lets a holder outlive or
	// widen its grant, and the entitlement does not accept that risk.
	ReasonEntitlementAllowsPersistence = "EntitlementAllowsPersistence"
	ReasonExtensionsNotAllowed         = "ExtensionsNotAllowed"
	ReasonExtendsInvalid               = "ExtendsInvalid"
	ReasonExtensionLimitReached        = "ExtensionLimitReached"
	ReasonStartTimeNotAllowed          = "StartTimeNotAllowed"
)

// Approval reasons (Approved condition).
const (
	ReasonPendingApproval = "PendingApproval"
	ReasonApproved        = "Approved"
	ReasonAutoApproved    = "AutoApproved"
	ReasonDenied          = "Denied"
	ReasonTimedOut        = "TimedOut"
	ReasonBreakGlass      = "BreakGlass"
)

// Break-glass review reasons (Reviewed condition).
const (
	ReasonReviewPending = "ReviewPending"
	ReasonAcknowledged  = "Acknowledged"
)

// Escalation reasons (Escalated condition).
const (
	ReasonFirstTier = "FirstTier"
	ReasonEscalated = "Escalated"
)

// Grant reasons (Granted condition) and Ready reasons.
const (
	ReasonGranted         = "Granted"
	ReasonNotGranted      = "NotGranted"
	ReasonBindingConflict = "BindingConflict"
	ReasonExpired         = "Expired"
	ReasonRevoked         = "Revoked"
	ReasonPolicyChanged   = "PolicyChanged"
	ReasonInvalid         = "Invalid"
	ReasonNotExpired      = "NotExpired"
	// ReasonScheduled: approved, waiting for spec.startTime.
	ReasonScheduled = "Scheduled"
	// ReasonExtended: an approved extension moved another request's expiresAt.
	ReasonExtended = "Extended"
)

// Decision reasons (Counted condition on AccessDecision).
const (
	ReasonCounted           = "Counted"
	ReasonNotEligible       = "NotEligible"
	ReasonSelfApproval      = "SelfApproval"
	ReasonDuplicate         = "Duplicate"
	ReasonRequestNotPending = "RequestNotPending"
	ReasonRequestNotFound   = "RequestNotFound"
	ReasonReviewerMissing   = "ReviewerMissing"
	ReasonNotBreakGlass     = "NotBreakGlass"
)

// Policy readiness reasons (Ready condition on ApprovalPolicy).
const (
	ReasonPolicyReady = "Ready"
	// Notification delivery reasons (NotificationsDelivered condition).
	ReasonDelivered      = "Delivered"
	ReasonDeliveryFailed = "DeliveryFailed"
	// ReasonRoleNotFound (shared with requests) is used when a catalog role does not exist.
)

// AccessRequestConditions lists every condition an AccessRequest carries.
var AccessRequestConditions = []string{
	ConditionValidated, ConditionApproved, ConditionEscalated,
	ConditionGranted, ConditionExpired, ConditionReady, ConditionStalled,
	ConditionBreakGlass, ConditionReviewed,
}
