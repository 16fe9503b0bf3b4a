package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// newDecideCmd builds `approve`, `deny`, `revoke` or `acknowledge`: each creates one
// AccessDecision; admission stamps the reviewer and refuses decisions that
// would not count, naming the field and the reason.
func newDecideCmd(f clientFactory, streams genericiooptions.IOStreams, decision accessv1alpha1.DecisionType) *cobra.Command {
	verb := strings.ToLower(string(decision))
	short := map[accessv1alpha1.DecisionType]string{
		accessv1alpha1.DecisionApprove:     "Approve a pending AccessRequest",
		accessv1alpha1.DecisionDeny:        "Deny a pending AccessRequest",
		accessv1alpha1.DecisionRevoke:      "Revoke the access an AccessRequest granted",
		accessv1alpha1.DecisionAcknowledge: "Acknowledge (review) a break-glass grant, during or after it",
	}[decision]
	var comment string
	cmd := &cobra.Command{
		Use:   verb + " REQUEST [-m COMMENT]",
		Short: short,
		Long: short + `.

Creates an AccessDecision (named REQUEST-xxxxx) in the request's namespace.
The server records you as the reviewer and refuses the decision if it would
not count: you are the requester (except for revoke), not in the deciding
tier or a later one, the request is not pending, or you already decided.`,
		Example: fmt.Sprintf("  kubectl rolegate %s payments-api-7xk2p -n payments -m \"CHG-1234 reviewed\"", verb),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return decide(cmd.Context(), f, streams, decision, args[0], comment)
		},
	}
	if decision == accessv1alpha1.DecisionAcknowledge {
		cmd.Aliases = []string{"ack"}
		cmd.Long = short + `.

Break-glass access is granted at once, without approval, and stays
Reviewed=False (ReviewPending) until a reviewer of its deciding tier or a
later one acknowledges it. Creates an AccessDecision with decision
Acknowledge; the server refuses it from the requester, from reviewers who
are not eligible, and on requests that are not break-glass.`
	}
	cmd.Flags().StringVarP(&comment, "message", "m", "", "a comment recorded with the decision")
	return cmd
}

func decide(ctx context.Context, f clientFactory, streams genericiooptions.IOStreams,
	decision accessv1alpha1.DecisionType, request, comment string) error {
	ctx, ns, c, err := connect(ctx, f, false)
	if err != nil {
		return err
	}
	d := &accessv1alpha1.AccessDecision{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: request + "-"},
		Spec:       accessv1alpha1.AccessDecisionSpec{Request: request, Decision: decision, Comment: comment},
	}
	if err := c.Create(ctx, d); err != nil {
		return fmt.Errorf("%s AccessRequest %s/%s refused: %w", strings.ToLower(string(decision)), ns, request, err)
	}
	fmt.Fprintf(streams.Out, "%s/%s created (%s %s)\n", decisionResource, d.Name, decision, request)
	return nil
}
