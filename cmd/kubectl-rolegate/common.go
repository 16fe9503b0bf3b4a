package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
	"rolegate.dev/rolegate/internal/report"
)

// Resource names as kubectl prints them ("accessrequest.access.rolegate.dev/x created").
var (
	requestResource  = "accessrequest." + accessv1alpha1.GroupVersion.Group
	decisionResource = "accessdecision." + accessv1alpha1.GroupVersion.Group
)

// connect returns a context to use (ctx, or a background one), the
// namespace the command works in ("" for all namespaces) and a client.
func connect(ctx context.Context, f clientFactory, allNamespaces bool) (context.Context, string, client.Client, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	ns := ""
	if !allNamespaces {
		var err error
		if ns, err = f.Namespace(); err != nil {
			return ctx, "", nil, err
		}
	}
	c, err := f.Client()
	return ctx, ns, c, err
}

// whoAmI asks the API server who the client authenticates as
// (authentication.k8s.io/v1 SelfSubjectReview), impersonation included.
func whoAmI(ctx context.Context, c client.Client) (accessv1alpha1.UserInfo, error) {
	review := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(ctx, review); err != nil {
		return accessv1alpha1.UserInfo{}, fmt.Errorf("asking the API server who you are (SelfSubjectReview): %w", err)
	}
	u := review.Status.UserInfo
	if u.Username == "" {
		return accessv1alpha1.UserInfo{}, fmt.Errorf("the API server's SelfSubjectReview named no user")
	}
	return accessv1alpha1.UserInfo{Username: u.Username, UID: u.UID, Groups: u.Groups}, nil
}

// readyCondition is the request's Ready condition, or nil.
func readyCondition(ar *accessv1alpha1.AccessRequest) *metav1.Condition {
	return meta.FindStatusCondition(ar.Status.Conditions, accessv1alpha1.ConditionReady)
}

// readyReason is the Ready condition's reason, or "-" before the controller saw the request.
func readyReason(ar *accessv1alpha1.AccessRequest) string {
	if c := readyCondition(ar); c != nil && c.Reason != "" {
		return c.Reason
	}
	return "-"
}

// requestPolicy is the name of the policy that governs the request: the
// controller's status.policy, else spec.policy.
func requestPolicy(ar *accessv1alpha1.AccessRequest) string {
	if ar.Status.Policy != "" {
		return ar.Status.Policy
	}
	return ar.Spec.Policy
}

func requesterName(ar *accessv1alpha1.AccessRequest) string {
	if r := ar.Spec.Requester; r != nil && r.Username != "" {
		if r.Via != "" {
			return r.Username + " (via " + r.Via + ")"
		}
		return r.Username
	}
	return "-"
}

// serviceAccountName is NAME, or NAMESPACE/NAME for a service account of another namespace.
func serviceAccountName(ar *accessv1alpha1.AccessRequest) string {
	if ns := policy.ServiceAccountNamespace(ar); ns != ar.Namespace {
		return ns + "/" + ar.Spec.ServiceAccount.Name
	}
	return ar.Spec.ServiceAccount.Name
}

// age is how long ago t was, kubectl-style but compact: 5m, 2h, 3d4h.
func age(now, t time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return report.FormatDuration(now.Sub(t))
}

// relative renders t against now: "in 42m" or "3m ago".
func relative(now, t time.Time) string {
	if t.After(now) {
		return "in " + report.FormatDuration(t.Sub(now))
	}
	return report.FormatDuration(now.Sub(t)) + " ago"
}

// newTable is the tab writer every table uses.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 6, 4, 3, ' ', 0)
}

func row(w io.Writer, cells ...string) {
	fmt.Fprintln(w, strings.Join(cells, "\t"))
}

// describePolicy prints what a policy requires of a request, indented.
func describePolicy(w io.Writer, p *accessv1alpha1.ApprovalPolicy) {
	fmt.Fprintf(w, "ApprovalPolicy %q requires:\n", p.Name)
	if len(p.Spec.Requesters) > 0 {
		fmt.Fprintf(w, "  requesters: %s\n", policy.FormatSubjects(p.Spec.Requesters))
	}
	if policy.JustificationRequired(p) {
		fmt.Fprintln(w, "  justification: required (--reason)")
	}
	if len(p.Spec.RequiredTags) > 0 {
		fmt.Fprintln(w, "  tags (--tag KEY=VALUE):")
		for i := range p.Spec.RequiredTags {
			t := &p.Spec.RequiredTags[i]
			fmt.Fprintf(w, "    %s: %s\n", t.Key, policy.DescribeTag(t))
		}
	}
	fmt.Fprintln(w, "  roles (--role, with --for up to maxDuration):")
	for _, e := range p.Spec.Entitlements {
		line := fmt.Sprintf("    %s  maxDuration %s", e.RoleRef, e.MaxDuration.Duration)
		if e.Sensitivity != "" {
			line += "  sensitivity " + string(e.Sensitivity)
		}
		if e.AutoApprove {
			line += "  auto-approved"
		}
		fmt.Fprintln(w, line)
	}
	if len(p.Spec.Approvers) > 0 {
		fmt.Fprintln(w, "  approvers:")
		for i := range p.Spec.Approvers {
			fmt.Fprintf(w, "    %s\n", describeTier(&p.Spec.Approvers[i]))
		}
	}
}

// describeTier is one line about an approver tier: name, bounds, subjects.
func describeTier(t *accessv1alpha1.ApproverTier) string {
	var notes []string
	if t.MaxSensitivity != "" {
		notes = append(notes, "up to "+string(t.MaxSensitivity))
	}
	notes = append(notes, fmt.Sprintf("%d approval(s)", policy.RequiredApprovals(t)))
	if t.EscalateAfter != nil {
		notes = append(notes, "escalates after "+t.EscalateAfter.Duration.String())
	}
	return fmt.Sprintf("%s (%s): %s", t.Name, strings.Join(notes, ", "), policy.FormatSubjects(t.Subjects))
}

// approversFrom says who may decide a request that the tier decides: the
// subjects of that tier and every later one.
func approversFrom(p *accessv1alpha1.ApprovalPolicy, tier int) string {
	if tier < 0 {
		return "nobody: no approver tier may decide this request"
	}
	return policy.FormatSubjects(policy.ApproversFrom(p, tier))
}
