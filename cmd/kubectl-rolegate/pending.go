package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
)

// Widths of the user-written cells of pending's table.
const (
	justificationWidth = 24
	tagsWidth          = 40
)

var pendingFormats = []string{outputTable, outputWide, outputYAML}

func newPendingCmd(f clientFactory, streams genericiooptions.IOStreams, now func() time.Time) *cobra.Command {
	var all bool
	output := outputTable
	cmd := &cobra.Command{
		Use:   "pending [-A | -n NAMESPACE]",
		Short: "List the pending requests you may decide now, oldest first",
		Long: `List the AccessRequests waiting for approval that you may approve or deny
now: you are in the tier deciding them at this moment or a later one, you did
not open them, and you have not approved them already. Who you are comes from
the API server (SelfSubjectReview), so --as and --as-group apply.

Break-glass grants awaiting acknowledgement that you may acknowledge are
listed too, in a second table (kubectl rolegate ack NAME -m COMMENT), and
the ApprovalPolicy reviews that are due or overdue and that you may attest
(kubectl rolegate attest POLICY), whatever the namespace.

ESCALATES-IN is when the deciding tier hands the request on to the next.
JUSTIFICATION is cut to fit, with control and bidirectional-override
characters shown escaped (\u202e) so it reads as written; -o wide adds the
sensitivity and the tags, -o yaml prints the requests in full.`,
		Example: `  kubectl rolegate pending -A
  kubectl rolegate pending -n payments --as bob --as-group payments-owners`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains(pendingFormats, output) {
				return fmt.Errorf("unsupported output format %q for pending; supported formats: %s",
					output, strings.Join(pendingFormats, ", "))
			}
			at := now()
			if err := pending(cmd.Context(), f, streams, all, output, at); err != nil || output == outputYAML {
				return err
			}
			return pendingReviews(cmd.Context(), f, streams, at)
		},
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list requests of every namespace")
	cmd.Flags().StringVarP(&output, "output", "o", output, "output format: "+strings.Join(pendingFormats, "|"))
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
		if apierrors.IsForbidden(err) {
			return nil, fmt.Errorf("you may not read ApprovalPolicy %s, so who may decide its requests cannot be told; "+
				"ask your cluster admin to bind the %s ClusterRole to you cluster-wide", name, policyReaderRole)
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
	// links are the request's ticket links under its policy.
	links []policy.TicketLink
}

func pending(ctx context.Context, f clientFactory, streams genericiooptions.IOStreams, all bool, output string, now time.Time) error {
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
	rows, reviews, err := pendingRows(ctx, requests.Items, policies, user, now)
	if err != nil {
		return err
	}
	if output == outputYAML {
		list := accessv1alpha1.AccessRequestList{}
		list.SetGroupVersionKind(accessv1alpha1.GroupVersion.WithKind("AccessRequestList"))
		for _, r := range append(rows, reviews...) {
			r.ar.SetGroupVersionKind(accessv1alpha1.GroupVersion.WithKind("AccessRequest"))
			list.Items = append(list.Items, *r.ar)
		}
		return printObject(streams, output, &list)
	}
	if len(rows) == 0 && len(reviews) == 0 {
		where := "in any namespace"
		if ns != "" {
			where = "in namespace " + ns
		}
		fmt.Fprintf(streams.ErrOut, "No pending requests %s that %s may decide.\n", where, user.Username)
		return nil
	}
	return printPending(streams.Out, rows, reviews, output == outputWide, all, now)
}

// pendingRows picks the requests the user may decide now, and the
// break-glass grants the user may acknowledge, each with the tier deciding
// it and its ticket links.
func pendingRows(ctx context.Context, requests []accessv1alpha1.AccessRequest, policies *policyCache,
	user accessv1alpha1.UserInfo, now time.Time) (rows, reviews []pendingRow, err error) {
	for i := range requests {
		ar := &requests[i]
		review := policy.AwaitsReview(ar)
		if readyReason(ar) != accessv1alpha1.ReasonPendingApproval && !review {
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
			return nil, nil, err
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
		r := pendingRow{ar: ar, sens: sens, tier: ts, name: p.Spec.Approvers[ts.Index].Name, links: policy.TicketLinks(p, ar)}
		if review {
			reviews = append(reviews, r)
		} else {
			rows = append(rows, r)
		}
	}
	return rows, reviews, nil
}

// printPending prints the pending requests and the break-glass grants to
// acknowledge, oldest first, each table followed by its ticket links.
func printPending(w io.Writer, rows, reviews []pendingRow, wide, all bool, now time.Time) error {
	oldestFirst := func(a, b pendingRow) int {
		if c := a.ar.CreationTimestamp.Compare(b.ar.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.ar.Namespace, b.ar.Namespace), cmp.Compare(a.ar.Name, b.ar.Name))
	}
	slices.SortStableFunc(rows, oldestFirst)
	slices.SortStableFunc(reviews, oldestFirst)
	if len(rows) > 0 {
		if err := writePending(w, rows, wide, all, now, false); err != nil {
			return err
		}
		if err := writeTicketLinks(w, rows, all); err != nil {
			return err
		}
	}
	if len(reviews) > 0 {
		if len(rows) > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w, "Break-glass grants awaiting your acknowledgement (kubectl rolegate ack NAME -n NAMESPACE -m COMMENT):")
		if err := writePending(w, reviews, wide, all, now, true); err != nil {
			return err
		}
		return writeTicketLinks(w, reviews, all)
	}
	return nil
}

// writeTicketLinks lists the ticket links of the rows that have any, under
// the table: a heading, then one line per link with the request (with its
// namespace under -A), the tag and the URL. Nothing when no row has a link.
func writeTicketLinks(w io.Writer, rows []pendingRow, all bool) error {
	var lines [][]string
	for _, r := range rows {
		name := r.ar.Name
		if all {
			name = r.ar.Namespace + "/" + name
		}
		for _, l := range r.links {
			lines = append(lines, []string{"  " + name, cell(l.Key+"="+l.Value, tagsWidth), cell(l.URL, 0)})
		}
	}
	if len(lines) == 0 {
		return nil
	}
	fmt.Fprintln(w, "Tickets:")
	tw := newTable(w)
	for _, l := range lines {
		row(tw, l...)
	}
	return tw.Flush()
}

// writePending prints one table of pending's rows; for break-glass grants
// the timing column is when access was granted. NAMESPACE is shown with -A.
func writePending(w io.Writer, rows []pendingRow, wide, all bool, now time.Time, review bool) error {
	tw := newTable(w)
	last := "ESCALATES-IN"
	if review {
		last = "GRANTED"
	}
	head := []string{colName, colRequester, colRole, colServiceAccount, colTier, colAge, last, "JUSTIFICATION"}
	if wide {
		head = append(head, "SENSITIVITY", "TAGS")
	}
	if all {
		head = append([]string{colNamespace}, head...)
	}
	row(tw, head...)
	for _, r := range rows {
		timing := "-"
		switch {
		case review && r.ar.Status.GrantedAt != nil:
			timing = relative(now, r.ar.Status.GrantedAt.Time)
		case !review && !r.tier.NextEscalation.IsZero():
			timing = age(r.tier.NextEscalation, now)
		}
		limit := justificationWidth
		if wide {
			limit = 0
		}
		cells := []string{r.ar.Name, requesterName(r.ar), r.ar.Spec.RoleRef.String(), serviceAccountName(r.ar),
			r.name, age(now, r.ar.CreationTimestamp.Time), timing, orDash(cell(r.ar.Spec.Justification, limit))}
		if wide {
			cells = append(cells, string(r.sens), orDash(cell(formatTags(r.ar.Spec.Tags), tagsWidth)))
		}
		if all {
			cells = append([]string{r.ar.Namespace}, cells...)
		}
		row(tw, cells...)
	}
	return tw.Flush()
}

// formatTags renders tags as KEY=VALUE pairs in key order.
func formatTags(tags map[string]string) string {
	out := make([]string, 0, len(tags))
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		out = append(out, k+"="+tags[k])
	}
	return strings.Join(out, ",")
}
