package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
)

// newAttestCmd builds `attest`: a reviewer recertifies an ApprovalPolicy.
func newAttestCmd(f clientFactory, streams genericiooptions.IOStreams) *cobra.Command {
	var comment string
	cmd := &cobra.Command{
		Use:   "attest POLICY [-n NAMESPACE] [-m COMMENT]",
		Short: "Attest (recertify) an ApprovalPolicy whose review is due",
		Long: `Attest that an ApprovalPolicy is still right: its catalog, its approver
tiers and the long grants its review lists (the ReviewDue condition). A
policy with spec.review must be attested every spec.review.every by one of
its reviewers; an overdue review raises an alert and, with onOverdue:
SuspendNewGrants, holds back new grants under the policy until it is
attested.

Creates an AccessDecision with decision Attest and spec.policy POLICY in the
namespace given by -n (or the context's): it must be a namespace the policy
governs, where its reviewers already decide requests. The server records you
as the reviewer and refuses the attestation if it would not count: the
policy has no review, does not govern the namespace, or you are not one of
its reviewers. kubectl rolegate pending lists the reviews you may attest.`,
		Example: `  kubectl rolegate attest payments -n payments -m "catalog and tiers checked; CHG-1234"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return attest(cmd.Context(), f, streams, args[0], comment)
		},
	}
	cmd.Flags().StringVarP(&comment, "message", "m", "", "a comment recorded with the attestation")
	return cmd
}

func attest(ctx context.Context, f clientFactory, streams genericiooptions.IOStreams, policyName, comment string) error {
	ctx, ns, c, err := connect(ctx, f, false)
	if err != nil {
		return err
	}
	d := &accessv1alpha1.AccessDecision{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: policyName + "-review-"},
		Spec:       accessv1alpha1.AccessDecisionSpec{Policy: policyName, Decision: accessv1alpha1.DecisionAttest, Comment: comment},
	}
	if err := c.Create(ctx, d); err != nil {
		return fmt.Errorf("attest ApprovalPolicy %s in namespace %s refused: %w", policyName, ns, err)
	}
	fmt.Fprintf(streams.Out, "%s/%s created (Attest ApprovalPolicy %s)\n", decisionResource, d.Name, policyName)
	// When the next review is due is a courtesy: the attestation is made
	// whether or not the policy can be read.
	p := &accessv1alpha1.ApprovalPolicy{}
	if c.Get(ctx, client.ObjectKey{Name: policyName}, p) == nil && p.Spec.Review != nil {
		fmt.Fprintf(streams.Out, "The next review of %s is due by %s.\n", policyName,
			d.CreationTimestamp.Add(p.Spec.Review.Every.Duration).UTC().Format(time.RFC3339))
	}
	return nil
}

// reviewRow is a policy review the user may attest.
type reviewRow struct {
	p *accessv1alpha1.ApprovalPolicy
	s policy.ReviewState
}

// dueReviews are the policies whose review is open or overdue and that the
// user may attest, the earliest due first. None when the user may not list
// policies (pending says so for the requests already).
func dueReviews(ctx context.Context, c client.Reader, user accessv1alpha1.UserInfo, now time.Time) ([]reviewRow, error) {
	var list accessv1alpha1.ApprovalPolicyList
	if err := c.List(ctx, &list); err != nil {
		if apierrors.IsForbidden(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("listing ApprovalPolicies: %w", err)
	}
	var rows []reviewRow
	for i := range list.Items {
		p := &list.Items[i]
		s := policy.ReviewOfStatus(p, now)
		if (s.Phase == policy.ReviewDue || s.Phase == policy.ReviewOverdue) && policy.MayAttest(p, user) {
			rows = append(rows, reviewRow{p: p, s: s})
		}
	}
	slices.SortFunc(rows, func(a, b reviewRow) int {
		return cmp.Or(a.s.DueAt.Compare(b.s.DueAt), cmp.Compare(a.p.Name, b.p.Name))
	})
	return rows, nil
}

// pendingReviews prints the policy reviews the user may attest, after
// pending's requests.
func pendingReviews(ctx context.Context, f clientFactory, streams genericiooptions.IOStreams, now time.Time) error {
	ctx, _, c, err := connect(ctx, f, true)
	if err != nil {
		return err
	}
	user, err := whoAmI(ctx, c)
	if err != nil {
		return err
	}
	rows, err := dueReviews(ctx, c, user, now)
	if err != nil || len(rows) == 0 {
		return err
	}
	fmt.Fprintln(streams.Out)
	fmt.Fprintln(streams.Out, "Policy reviews you may attest (kubectl rolegate attest POLICY -n NAMESPACE -m COMMENT):")
	return writeReviews(streams.Out, rows, now)
}

func writeReviews(w io.Writer, rows []reviewRow, now time.Time) error {
	tw := newTable(w)
	row(tw, "POLICY", "REVIEW", "DUE", "LAST-REVIEWED", "ON-OVERDUE")
	for _, r := range rows {
		last := "never"
		if lr := r.p.Status.LastReviewed; lr != nil {
			last = relative(now, lr.Time)
			if by := r.p.Status.LastReviewedBy; by != "" {
				last += " by " + cell(by, 32)
			}
		}
		onOverdue := cmp.Or(r.p.Spec.Review.OnOverdue, accessv1alpha1.OverdueWarn)
		row(tw, r.p.Name, string(r.s.Phase), relative(now, r.s.DueAt), last, string(onOverdue))
	}
	return tw.Flush()
}
