package v1alpha1

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Well-known names shared by the controller, the admission webhooks and the CLI.
const (
	// ManagedByLabel marks every RoleBinding that rolegate creates.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of ManagedByLabel on rolegate's RoleBindings.
	ManagedByValue = "rolegate"
	// RequestLabel identifies the AccessRequest a managed RoleBinding
	// belongs to. Its value is RequestLabelValue(request name): the name
	// itself when it fits a label value (63 characters), a hash otherwise.
	RequestLabel = "access.rolegate.dev/request"
	// RequestNameAnnotation carries the full name of the AccessRequest a
	// managed RoleBinding belongs to, whatever its length.
	RequestNameAnnotation = "access.rolegate.dev/request-name"
	// RequestedByAnnotation carries the username a trusted submitter (a GitOps
	// controller) opens a request for.
	RequestedByAnnotation = "access.rolegate.dev/requested-by"
	// RevokeFinalizer holds an AccessRequest until its access is revoked.
	RevokeFinalizer = "access.rolegate.dev/revoke"
	// ExpiresAtAnnotation records on a managed RoleBinding when it expires,
	// for people and for the overdue-grants metric. The controller decides
	// expiry from the request; the expiry revoker of every replica that does
	// not lead deletes a binding once this time has passed
	// (controller.ExpiryRevoker), so that access ends on time while a new
	// leader is being elected.
	ExpiresAtAnnotation = "access.rolegate.dev/expires-at"
)

// maxLabelValue is the longest label value the API server accepts.
const maxLabelValue = 63

// requestHashLength is how many hex digits of the name's SHA-256 a hashed
// RequestLabel value ends with.
const requestHashLength = 16

// RequestLabelValue is the RequestLabel value for a request name: the name
// when it is at most 63 characters long (every such AccessRequest name is a
// valid label value), otherwise its first 46 characters (without trailing
// '-' or '.'), '-' and 16 hex digits of the name's SHA-256. Lookups select
// by this value and then keep the RoleBindings whose RequestNameAnnotation
// is the full name (see RequestNameOf).
func RequestLabelValue(name string) string {
	if len(name) <= maxLabelValue {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	prefix := strings.TrimRight(name[:maxLabelValue-requestHashLength-1], "-.")
	return prefix + "-" + hex.EncodeToString(sum[:])[:requestHashLength]
}

// RequestNameOf is the name of the AccessRequest a managed object belongs
// to: its RequestNameAnnotation, or for objects labelled before the
// annotation existed, its RequestLabel value. It is "" when neither is set.
func RequestNameOf(labels, annotations map[string]string) string {
	if name := annotations[RequestNameAnnotation]; name != "" {
		return name
	}
	return labels[RequestLabel]
}

// SubjectKind is the kind of a Kubernetes identity.
// +kubebuilder:validation:Enum=User;Group;ServiceAccount
type SubjectKind string

// Subject kinds.
const (
	SubjectUser           SubjectKind = "User"
	SubjectGroup          SubjectKind = "Group"
	SubjectServiceAccount SubjectKind = "ServiceAccount"
)

// Subject is a Kubernetes identity: a user, a group, or a service account
// (which authenticates as the user system:serviceaccount:<namespace>:<name>).
// +kubebuilder:validation:XValidation:rule="self.kind == 'ServiceAccount' ? has(self.__namespace__) && size(self.__namespace__) > 0 : !has(self.__namespace__) || size(self.__namespace__) == 0",message="namespace is required for kind ServiceAccount and not allowed for User or Group"
type Subject struct {
	// kind is User, Group or ServiceAccount.
	// +required
	Kind SubjectKind `json:"kind"`

	// name is the username, group name or service account name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// namespace is the service account's namespace; set only for kind ServiceAccount.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
}

// RoleKind is the kind of role an entitlement or request refers to.
// +kubebuilder:validation:Enum=Role;ClusterRole
type RoleKind string

// Role kinds.
const (
	RoleKindRole        RoleKind = "Role"
	RoleKindClusterRole RoleKind = "ClusterRole"
)

// RoleRef names a Role (in the request's namespace) or a ClusterRole (bound
// in the request's namespace only; rolegate never creates ClusterRoleBindings).
type RoleRef struct {
	// kind is Role or ClusterRole.
	// +required
	Kind RoleKind `json:"kind"`

	// name is the name of the Role or ClusterRole.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// String renders the reference as Kind/name.
func (r RoleRef) String() string { return string(r.Kind) + "/" + r.Name }

// Sensitivity ranks how much harm a grant could do: low < medium < high < critical.
// +kubebuilder:validation:Enum=low;medium;high;critical
type Sensitivity string

// Sensitivity levels, lowest first.
const (
	SensitivityLow      Sensitivity = "low"
	SensitivityMedium   Sensitivity = "medium"
	SensitivityHigh     Sensitivity = "high"
	SensitivityCritical Sensitivity = "critical"
)

// Sensitivities lists every level in ascending order.
var Sensitivities = []Sensitivity{SensitivityLow, SensitivityMedium, SensitivityHigh, SensitivityCritical}

// Rank orders sensitivities; it returns -1 for an unknown value.
func (s Sensitivity) Rank() int {
	for i, v := range Sensitivities {
		if v == s {
			return i
		}
	}
	return -1
}

// UserInfo is an authenticated Kubernetes identity as the API server saw it.
type UserInfo struct {
	// username is the authenticated user name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Username string `json:"username"`

	// uid is the authenticated user's UID, when the authenticator provides one.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	UID string `json:"uid,omitempty"`

	// groups are the groups the user belonged to when the object was created.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=512
	Groups []string `json:"groups,omitempty"`
}

// Requester is who opened an AccessRequest.
type Requester struct {
	UserInfo `json:",inline"`

	// via is the username of the trusted submitter (for example a GitOps
	// controller) that created the request on the requester's behalf; empty
	// when the requester created it directly.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Via string `json:"via,omitempty"`
}

// ServiceAccountReference names the service account that receives access.
type ServiceAccountReference struct {
	// name is the service account's name: a DNS-1123 subdomain (lowercase
	// letters, digits, '-' and '.').
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="name must be a valid ServiceAccount name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
	Name string `json:"name"`

	// namespace is the service account's namespace; it defaults to the
	// request's namespace. Other namespaces must be listed in the policy's
	// serviceAccountNamespaces.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="namespace must be a valid namespace name: lowercase letters, digits and '-', starting and ending with a letter or digit"
	Namespace string `json:"namespace,omitempty"`
}
