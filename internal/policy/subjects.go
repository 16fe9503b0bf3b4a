package policy

import (
	"fmt"
	"slices"
	"strings"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// ServiceAccountUsername is the username a service account authenticates as.
func ServiceAccountUsername(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// MatchesSubject reports whether an authenticated user is the subject.
func MatchesSubject(s accessv1alpha1.Subject, user accessv1alpha1.UserInfo) bool {
	switch s.Kind {
	case accessv1alpha1.SubjectUser:
		return user.Username == s.Name
	case accessv1alpha1.SubjectGroup:
		return slices.Contains(user.Groups, s.Name)
	case accessv1alpha1.SubjectServiceAccount:
		return user.Username == ServiceAccountUsername(s.Namespace, s.Name)
	default:
		return false
	}
}

// MatchesAny reports whether the user is any of the subjects.
func MatchesAny(subjects []accessv1alpha1.Subject, user accessv1alpha1.UserInfo) bool {
	return slices.ContainsFunc(subjects, func(s accessv1alpha1.Subject) bool { return MatchesSubject(s, user) })
}

// FormatSubject renders a subject the way kubectl describes RBAC subjects:
// "Group payments-owners", "ServiceAccount argocd/deployer". A service
// account without a namespace (invalid in a stored policy) shows its name
// alone rather than an empty namespace.
func FormatSubject(s accessv1alpha1.Subject) string {
	if s.Kind == accessv1alpha1.SubjectServiceAccount && s.Namespace != "" {
		return fmt.Sprintf("ServiceAccount %s/%s", s.Namespace, s.Name)
	}
	return fmt.Sprintf("%s %s", s.Kind, s.Name)
}

// FormatSubjects renders a list of subjects for messages.
func FormatSubjects(subjects []accessv1alpha1.Subject) string {
	out := make([]string, 0, len(subjects))
	for _, s := range subjects {
		out = append(out, FormatSubject(s))
	}
	return strings.Join(out, ", ")
}
