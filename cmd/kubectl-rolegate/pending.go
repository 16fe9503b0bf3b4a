package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
)

func newPendingCmd(f clientFactory, streams genericiooptions.IOStreams, now func() time.Time) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "pending [-A | -n NAMESPACE]",
		Short: "List the pending requests you may decide now, oldest first",
		Long: `List the AccessRequests waiting for approval that you may approve or deny
now: you are in the tier deciding them at this moment or a later one, you did
not open them, and you have not approved them already. Who you are comes from
the API server (SelfSubjectReview), so --as and --as-group apply.

ESCALATES-IN is when the deciding tier hands the request on to the next.`,
		Example: `  kubectl rolegate pending -A
  kubectl rolegate pending -n payments --as bob --as-group payments-owners`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return pending(cmd.Context(), f, streams, all, now())
		},
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list requests of every namespace")
	return cmd
}

// policyCache reads policies by name, from one List when the user may list
// them, else one Get each.
type policyCache struct {
	c      client.Reader
	byName map[string]*accessv1alpha1.ApprovalPolicy
	listed bool
}

func newPolicyCache(ctx context.Context, c client.Reader) (*policyCache, error) {
	pc := &policyCache{c: c, byName: map[string]*accessv1alpha1.ApprovalPolicy{}}
	var list accessv1alpha1.ApprovalPolicyList
	switch err := c.List(ctx, &list); {
	case err == nil:
		pc.listed = true
		for i := range list.Items {
			pc.byName[list.Items[i].Name] = &list.Items[i]
		}
	case apierrors.IsForbidden(err):
	default:
		return nil, fmt.Errorf("listing ApprovalPolicies: %w", err)
	}
	return pc, nil
}

// get returns the named policy, or nil when it does not exist.
func (pc *policyCache) get(ctx context.Context, name string) (*accessv1alpha1.ApprovalPolicy, error) {
	if p, ok := pc.byName[name]; ok || pc.listed {
		return p, nil
	}
	p := &accessv1alpha1.ApprovalPolicy{}
	if err := pc.c.Get(ctx, client.ObjectKey{Name: name}, p); err != nil {
		if apierrors.IsNotFound(err) {
			pc.byName[name] = nil
			return nil, nil
		}
		return nil, fmt.Errorf("reading ApprovalPolicy %s: %w", name, err)
	}
	pc.byName[name] = p
	return p, nil
}

type pendingRow struct {
	ar   *accessv1alpha1.AccessRequest
	sens accessv1alpha1.Sensitivity
	tier policy.TierState
	name string
}

func pending(ctx context.Context, f clientFactory, streams genericiooptions.IOStreams, all bool, now time.Time) error {
	ctx, ns, c, err := connect(ctx, f, all)
	if err != nil {
		return err
	}
	user, err := whoAmI(ctx, c)
	if err != nil {
		return err
	}
	var requests accessv1alpha1.AccessRequestList
	if err := c.List(ctx, &requests, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("listing AccessRequests: %w", err)
	}
	policies, err := newPolicyCache(ctx, c)
	if err != nil {
		return err
	}

	var rows []pendingRow
	for i := range requests.Items {
		ar := &requests.Items[i]
		if readyReason(ar) != accessv1alpha1.ReasonPendingApproval {
			continue
		}
		if ar.Spec.Requester != nil && ar.Spec.Requester.Username == user.Username {
			continue
		}
		if slices.ContainsFunc(ar.Status.Approvals, func(r accessv1alpha1.ApprovalRecord) bool { return r.Reviewer == user.Username }) {
			continue
		}
		p, err := policies.get(ctx, requestPolicy(ar))
		if err != nil {
			return err
		}
		if p == nil {
			continue
		}
		e := policy.FindEntitlement(p, ar.Spec.RoleRef)
		if e == nil {
			continue
		}
		sens := policy.EffectiveSensitivity(ar, e)
		ts := policy.TierAt(p, sens, ar.CreationTimestamp.Time, now)
		if _, ok := policy.EligibleTier(p, ts.Index, user); !ok {
			continue
		}
		rows = append(rows, pendingRow{ar: ar, sens: sens, tier: ts, name: p.Spec.Approvers[ts.Index].Name})
	}
	if len(rows) == 0 {
		where := "in any namespace"
		if ns != "" {
			where = "in namespace " + ns
		}
		fmt.Fprintf(streams.ErrOut, "No pending requests %s that %s may decide.\n", where, user.Username)
		return nil
	}
	slices.SortStableFunc(rows, func(a, b pendingRow) int {
		if c := a.ar.CreationTimestamp.Compare(b.ar.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.ar.Namespace, b.ar.Namespace), cmp.Compare(a.ar.Name, b.ar.Name))
	})
	tw := newTable(streams.Out)
	row(tw, "NAMESPACE", "NAME", "REQUESTER", "ROLE", "SERVICEACCOUNT", "SENSITIVITY", "TIER", "AGE", "ESCALATES-IN")
	for _, r := range rows {
		esc := "-"
		if !r.tier.NextEscalation.IsZero() {
			esc = age(r.tier.NextEscalation, now)
		}
		row(tw, r.ar.Namespace, r.ar.Name, requesterName(r.ar), r.ar.Spec.RoleRef.String(), serviceAccountName(r.ar),
			string(r.sens), r.name, age(now, r.ar.CreationTimestamp.Time), esc)
	}
	return tw.Flush()
}
