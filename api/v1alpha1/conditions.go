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

// Condition types on ApprovalPolicy.
const (
	// ConditionOverlapping is True when another ApprovalPolicy allows the
	// same role in at least one namespace this policy governs; its message
	// names the other policies, roles and namespaces.
	ConditionOverlapping = "Overlapping"
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
	// ReasonServiceAccountDeleted (Granted=False): the grantee
	// ServiceAccount was deleted; the grant ended with it.
	ReasonServiceAccountDeleted = "ServiceAccountDeleted"
	// ReasonServiceAccountReplaced (Granted=False): the grantee
	// ServiceAccount was re-created under the same name (another UID); the
	// new one does not inherit the grant.
	ReasonServiceAccountReplaced = "ServiceAccountReplaced"
	// ReasonNamespaceDeleted (Granted=False): the request's namespace is
	// being deleted; the grant ended at once.
	ReasonNamespaceDeleted = "NamespaceDeleted"
)

// Action failure reasons (Ready=False, and Granted=False while nothing is
// granted): acting on the request failed; the controller retries with
// backoff, emits a Warning event and counts rolegate_reconcile_errors_total.
const (
	// ReasonServiceAccountNotFound: approved, but the grantee
	// ServiceAccount does not exist; it is granted when it is created.
	ReasonServiceAccountNotFound = "ServiceAccountNotFound"
	// ReasonBindingFailed: creating or updating the RoleBinding was refused.
	ReasonBindingFailed = "BindingFailed"
	// ReasonRevocationFailed: deleting a RoleBinding was refused; access
	// may remain until a retry succeeds.
	ReasonRevocationFailed = "RevocationFailed"
	// ReasonReadFailed: what the request depends on could not be read.
	ReasonReadFailed = "ReadFailed"
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
	// ReasonRequestReplaced: the decision was made for an earlier request
	// of the same name (its spec.requestUID is another UID), or it predates
	// the request; it never counts for this one.
	ReasonRequestReplaced = "RequestReplaced"
)

// Policy readiness reasons (Ready condition on ApprovalPolicy).
const (
	ReasonPolicyReady = "Ready"
	// Notification delivery reasons (NotificationsDelivered condition).
	ReasonDelivered      = "Delivered"
	ReasonDeliveryFailed = "DeliveryFailed"
	// Overlap reasons (Overlapping condition).
	ReasonOverlapping = "Overlapping"
	ReasonNoOverlap   = "NoOverlap"
	// ReasonRoleNotFound (shared with requests) is used when a catalog role does not exist.
)

// AccessRequestConditions lists every condition an AccessRequest carries.
var AccessRequestConditions = []string{
	ConditionValidated, ConditionApproved, ConditionEscalated,
	ConditionGranted, ConditionExpired, ConditionReady, ConditionStalled,
	ConditionBreakGlass, ConditionReviewed,
}
