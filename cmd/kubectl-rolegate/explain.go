package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
	"rolegate.dev/rolegate/internal/snapshot"
)

func newExplainCmd(f clientFactory, streams genericiooptions.IOStreams, now func() time.Time) *cobra.Command {
	return &cobra.Command{
		Use:   "explain REQUEST",
		Short: "Explain why an AccessRequest is where it is",
		Long: `Explain an AccessRequest: its Ready state and message, and rolegate's
decision logic re-run now from the cluster (policies, the namespace's labels,
the request's AccessDecisions, and whether the role exists and what its rules
allow): every failed validation check, the role's rules that let a holder
outlive or widen the grant and whether the policy accepts them, the deciding
tier and who can approve, the approvals so far, whether each decision counted,
and when the request escalates, times out or its access expires.`,
		Example: `  kubectl rolegate explain payments-api-7xk2p -n payments`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return explain(cmd.Context(), f, streams, args[0], now())
		},
	}
}

func explain(ctx context.Context, f clientFactory, streams genericiooptions.IOStreams, name string, now time.Time) error {
	ctx, ns, c, err := connect(ctx, f, false)
	if err != nil {
		return err
	}
	// A role the user may not read is noted and judged as if it existed
	// without rules: everything else is still explained.
	c = tolerateRoles(c)
	ar := &accessv1alpha1.AccessRequest{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ar); err != nil {
		return err
	}
	w := streams.Out
	explainRequest(w, ar, now)

	snap, err := snapshot.Read(ctx, c, ar)
	if err != nil {
		if apierrors.IsForbidden(err) {
			fmt.Fprintf(w, "\nCannot re-run the policy checks: you may not read ApprovalPolicies, namespace %s or the request's "+
				"AccessDecisions; ask for the %s ClusterRole (cluster-wide) and rolegate-requester or rolegate-viewer here\n",
				ar.Namespace, policyReaderRole)
			return nil
		}
		return err
	}
	var grantedAt time.Time
	if ar.Status.GrantedAt != nil {
		grantedAt = ar.Status.GrantedAt.Time
	}
	in := snap.Input(ar, grantedAt, now)
	if ar.Spec.Extends == "" {
		if in.Extensions, err = snapshot.ApprovedExtensions(ctx, c, ar, snap, now); err != nil && !apierrors.IsForbidden(err) {
			return err
		}
	}
	explainResult(w, ar, policy.Evaluate(in), snap, now)
	return nil
}

// explainRequest prints what the request asks for and its Ready state.
func explainRequest(w io.Writer, ar *accessv1alpha1.AccessRequest, now time.Time) {
	fmt.Fprintf(w, "AccessRequest:   %s/%s\n", ar.Namespace, ar.Name)
	fmt.Fprintf(w, "Service account: %s/%s\n", policy.ServiceAccountNamespace(ar), ar.Spec.ServiceAccount.Name)
	fmt.Fprintf(w, "Role:            %s for %s\n", ar.Spec.RoleRef, ar.Spec.Duration.Duration)
	fmt.Fprintf(w, "Requester:       %s\n", requesterName(ar))
	fmt.Fprintf(w, "Justification:   %s\n", orDash(cell(ar.Spec.Justification, 0)))
	fmt.Fprintf(w, "Tags:            %s\n", orDash(cell(formatTags(ar.Spec.Tags), 0)))
	fmt.Fprintf(w, "Created:         %s ago\n", age(now, ar.CreationTimestamp.Time))
	if ready := readyCondition(ar); ready != nil {
		fmt.Fprintf(w, "Ready:           %s (%s): %s\n", ready.Status, ready.Reason, ready.Message)
	} else {
		fmt.Fprintln(w, "Ready:           unknown (the controller has not reported on this request yet)")
	}
}

// explainResult prints the policy's verdict re-run now: the policy and the
// request's ticket links, the failed checks or the deciding tier, the
// approvals and decisions, the timing and the binding.
func explainResult(w io.Writer, ar *accessv1alpha1.AccessRequest, res policy.Result, snap *snapshot.Snapshot, now time.Time) {
	fmt.Fprintln(w)
	if res.Policy != nil {
		fmt.Fprintf(w, "Policy:          %s\n", res.Policy.Name)
		explainTickets(w, res.Policy, ar)
	}
	if len(res.Violations) > 0 {
		fmt.Fprintln(w, "Validation:      failed")
		for _, v := range res.Violations {
			fmt.Fprintf(w, "  %s (%s)\n", v.Error(), v.Reason)
		}
		explainRisks(w, ar, res, snap.RoleRisks)
		explainDecisions(w, snap.Decisions, res.Tally.Verdicts)
		explainBinding(w, ar)
		return
	}
	fmt.Fprintln(w, "Validation:      passed")
	explainRisks(w, ar, res, snap.RoleRisks)
	fmt.Fprintf(w, "Sensitivity:     %s\n", res.Sensitivity)
	fmt.Fprintf(w, "Outcome now:     %s\n", res.Outcome)
	explainTier(w, res)
	explainApprovals(w, res.Tally.Records)
	explainDecisions(w, snap.Decisions, res.Tally.Verdicts)
	explainTiming(w, now, ar, res)
	explainBinding(w, ar)
}

// explainTickets prints the request's ticket links under its policy.
func explainTickets(w io.Writer, p *accessv1alpha1.ApprovalPolicy, ar *accessv1alpha1.AccessRequest) {
	for i, l := range policy.TicketLinks(p, ar) {
		label := "Tickets:"
		if i > 0 {
			label = ""
		}
		fmt.Fprintf(w, "%-17s%s %s\n", label, cell(l.Key+"="+l.Value, 0), cell(l.URL, 0))
	}
}

// explainTier says who decides the request: nobody (auto-approved) or the
// deciding tier, how many approvals it needs and has, and its members.
func explainTier(w io.Writer, res policy.Result) {
	p, t := res.Policy, res.Tally
	switch {
	case res.Entitlement != nil && res.Entitlement.AutoApprove:
		fmt.Fprintf(w, "Deciding tier:   none: %s is auto-approved by ApprovalPolicy %q\n", res.Entitlement.RoleRef, p.Name)
	case t.Tier.Index >= 0:
		tier := &p.Spec.Approvers[t.Tier.Index]
		approvals := 0
		for _, r := range t.Records {
			if r.Decision == accessv1alpha1.DecisionApprove {
				approvals++
			}
		}
		fmt.Fprintf(w, "Deciding tier:   %s (needs %d approval(s), %d counted)", tier.Name, policy.RequiredApprovals(tier), approvals)
		if t.Tier.Escalated {
			fmt.Fprint(w, ", escalated")
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "Can approve:     %s\n", approversFrom(p, t.Tier.Index))
	}
}

// explainApprovals lists the approvals and denials that counted.
func explainApprovals(w io.Writer, records []accessv1alpha1.ApprovalRecord) {
	if len(records) == 0 {
		return
	}
	fmt.Fprintln(w, "Approvals:")
	for _, r := range records {
		tier := r.Tier
		if tier == "" {
			tier = "-"
		}
		line := fmt.Sprintf("  %s %s (tier %s) at %s", r.Decision, r.Reviewer, tier, r.Time.UTC().Format(time.RFC3339))
		if r.Comment != "" {
			line += ": " + r.Comment
		}
		fmt.Fprintln(w, line)
	}
}

// explainTiming says when the request's state next changes by time alone:
// escalation and timeout, the start of a scheduled grant, the expiry and
// the extensions that moved it.
func explainTiming(w io.Writer, now time.Time, ar *accessv1alpha1.AccessRequest, res policy.Result) {
	p, t := res.Policy, res.Tally
	switch res.Outcome {
	case policy.OutcomePending:
		if !t.Tier.NextEscalation.IsZero() {
			if next, ok := nextTierName(p, res.Sensitivity, t.Tier.Index); ok {
				fmt.Fprintf(w, "Escalates:       to tier %s %s\n", next, relative(now, t.Tier.NextEscalation))
			}
		}
		if d := p.Spec.PendingTimeout; d != nil {
			fmt.Fprintf(w, "Times out:       %s\n", relative(now, ar.CreationTimestamp.Add(d.Duration)))
		}
	case policy.OutcomeScheduled:
		fmt.Fprintf(w, "Starts:          %s (%s)\n", relative(now, res.StartsAt), res.StartsAt.UTC().Format(time.RFC3339))
		fmt.Fprintf(w, "Expires:         %s (%s)\n", relative(now, res.ExpiresAt), res.ExpiresAt.UTC().Format(time.RFC3339))
	case policy.OutcomeExtended:
		fmt.Fprintf(w, "Extends:         %s; approved, so the grant of %s lasts %s longer (see kubectl rolegate explain %s)\n",
			ar.Spec.Extends, ar.Spec.Extends, ar.Spec.Duration.Duration, ar.Spec.Extends)
	case policy.OutcomeGrant, policy.OutcomeExpired:
		fmt.Fprintf(w, "Expires:         %s (%s)\n", relative(now, res.ExpiresAt), res.ExpiresAt.UTC().Format(time.RFC3339))
		for _, x := range res.Extensions {
			fmt.Fprintf(w, "  extended by %s: +%s, approved at %s\n", x.Request, x.Duration.Duration, x.ApprovedAt.UTC().Format(time.RFC3339))
		}
		for _, name := range slices.Sorted(maps.Keys(res.RefusedExtensions)) {
			fmt.Fprintf(w, "  not extended by %s: %s\n", name, res.RefusedExtensions[name])
		}
	}
}

// explainRisks lists the requested role's rules that let a holder outlive
// or widen the grant, and whether the entitlement accepts them (and why).
func explainRisks(w io.Writer, ar *accessv1alpha1.AccessRequest, res policy.Result, risks []policy.Risk) {
	if len(risks) == 0 || res.Policy == nil || res.Entitlement == nil {
		return
	}
	e := res.Entitlement
	if e.AllowPersistenceRisk {
		fmt.Fprintf(w, "Role risks:      %s lets its holder outlive or widen a temporary grant; accepted by ApprovalPolicy %q: %s\n",
			ar.Spec.RoleRef, res.Policy.Name, e.PersistenceRiskReason)
	} else {
		fmt.Fprintf(w, "Role risks:      %s lets its holder outlive or widen a temporary grant; not accepted by ApprovalPolicy %q, "+
			"so the request is refused; to fix it, %s\n", ar.Spec.RoleRef, res.Policy.Name, policy.PersistenceRiskFix)
	}
	for _, r := range risks {
		fmt.Fprintf(w, "  %s\n", r)
	}
}

func nextTierName(p *accessv1alpha1.ApprovalPolicy, s accessv1alpha1.Sensitivity, after int) (string, bool) {
	if i, ok := policy.NextDecidingTier(p, s, after); ok {
		return p.Spec.Approvers[i].Name, true
	}
	return "", false
}

func explainDecisions(w io.Writer, decisions []accessv1alpha1.AccessDecision, verdicts map[string]policy.Verdict) {
	if len(decisions) == 0 {
		fmt.Fprintln(w, "Decisions:       none")
		return
	}
	fmt.Fprintln(w, "Decisions:")
	for _, d := range decisions {
		reviewer := "-"
		if d.Spec.Reviewer != nil {
			reviewer = d.Spec.Reviewer.Username
		}
		v := verdicts[d.Name]
		counted := "not counted"
		if v.Counted {
			counted = "counted"
		}
		fmt.Fprintf(w, "  %s: %s by %s: %s (%s): %s\n", d.Name, d.Spec.Decision, reviewer, counted, v.Reason, v.Message)
	}
}

func explainBinding(w io.Writer, ar *accessv1alpha1.AccessRequest) {
	if ar.Status.RoleBinding != "" {
		fmt.Fprintf(w, "RoleBinding:     %s/%s\n", ar.Namespace, ar.Status.RoleBinding)
	} else {
		fmt.Fprintln(w, "RoleBinding:     none")
	}
}
