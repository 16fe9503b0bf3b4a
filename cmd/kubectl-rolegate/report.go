package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
	"rolegate.dev/rolegate/internal/report"
)

// Output formats of `report`.
const (
	outputTable = "table"
	outputJSON  = "json"
)

var reportFormats = []string{outputTable, outputWide, outputJSON}

type reportOptions struct {
	allNamespaces bool
	since         time.Duration
	output        string
}

func newReportCmd(f clientFactory, streams genericiooptions.IOStreams, now func() time.Time) *cobra.Command {
	o := reportOptions{since: 720 * time.Hour, output: outputTable}
	cmd := &cobra.Command{
		Use:   "report [-A | -n NAMESPACE] [--since DURATION] [-o table|wide|json]",
		Short: "Summarize access requests and grants per ApprovalPolicy",
		Long: `Summarize AccessRequests and rolegate's RoleBindings per ApprovalPolicy, read
straight from the cluster (no Prometheus needed).

Break-glass grants that no eligible reviewer has acknowledged yet are listed
first, one line each, whatever their age: namespace/name, policy, service
account, role, requester, the tier that reviews them, when access was granted
and how long ago. A reviewer acknowledges one with
  kubectl rolegate ack NAME -n NAMESPACE -m COMMENT

Over the requests created within --since:
  REQUESTS, APPROVED (approved, auto-approved or break-glass, including grants
  that ended since), DENIED, APPROVAL-P50 (time from creation to approval,
  nearest rank: 0 for auto-approved requests, otherwise the time of the last
  counted approval in status.approvals; break-glass grants have no approval
  and are left out), BREAK-GLASS (granted at once without approval).
As of now, whatever the request's age:
  ACTIVE (Ready reason Granted), OVERDUE (managed RoleBindings whose
  expires-at annotation has passed), PENDING and UNREVIEWED (break-glass
  grants awaiting an Acknowledge decision).
The default table fits 120 columns; -o wide adds TIMED-OUT, INVALID,
ESCALATED (Escalated=True), ESC-RATE (escalated / requests an approver tier
reviewed), APPROVAL-P95, OLDEST-PENDING and BG-ACK-P50 (median time from a
break-glass grant's creation to its acknowledgement).

Requests without a policy are listed under (none); managed RoleBindings whose
request no longer exists under (orphaned). Empty figures show as "-".`,
		Example: `  # The current namespace over the last 30 days
  kubectl rolegate report

  # Every namespace over the last week, as JSON
  kubectl rolegate report -A --since 168h -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), f, streams, now())
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false,
		"report on every namespace; otherwise on the namespace from -n or the kubeconfig context")
	fl.DurationVar(&o.since, "since", o.since, "count requests created within this long before now; 0 counts every request")
	fl.StringVarP(&o.output, "output", "o", o.output, "output format: "+strings.Join(reportFormats, "|"))
	return cmd
}

func (o *reportOptions) validate() error {
	if !slices.Contains(reportFormats, o.output) {
		return fmt.Errorf("unsupported output format %q for report; supported formats: %s",
			o.output, strings.Join(reportFormats, ", "))
	}
	if o.since < 0 {
		return fmt.Errorf("--since must not be negative, got %s", o.since)
	}
	return nil
}

func (o *reportOptions) run(ctx context.Context, f clientFactory, streams genericiooptions.IOStreams, now time.Time) error {
	if err := o.validate(); err != nil {
		return err
	}
	ctx, ns, c, err := connect(ctx, f, o.allNamespaces)
	if err != nil {
		return err
	}
	where := "in all namespaces"
	if ns != "" {
		where = "in namespace " + ns
	}

	var requests accessv1alpha1.AccessRequestList
	if err := c.List(ctx, &requests, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("listing AccessRequests %s: %w", where, err)
	}
	var bindings rbacv1.RoleBindingList
	if err := c.List(ctx, &bindings, client.InNamespace(ns),
		client.MatchingLabels{accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue}); err != nil {
		if !apierrors.IsForbidden(err) {
			return fmt.Errorf("listing RoleBindings managed by rolegate %s: %w", where, err)
		}
		// The shipped viewer role reads rolegate's objects, not RBAC.
		fmt.Fprintf(streams.ErrOut, "Note: you may not list RoleBindings %s; OVERDUE and (orphaned) bindings are not counted\n", where)
	}
	policies, err := policyNames(ctx, c, ns, streams)
	if err != nil {
		return err
	}

	rep := report.Build(requests.Items, bindings.Items, now, o.since, policies...)
	rep.Namespace = ns
	if rep.StandingAccess, err = standingAccess(ctx, c, ns); err != nil {
		return err
	}
	switch o.output {
	case outputJSON:
		return report.WriteJSON(streams.Out, rep)
	case outputWide:
		err = report.WriteWideTable(streams.Out, rep)
	default:
		err = report.WriteTable(streams.Out, rep)
	}
	if err != nil {
		return err
	}
	return report.WriteStandingTable(streams.Out, rep.StandingAccess)
}

// policyNames are the ApprovalPolicies to list even without requests: all
// of them for every namespace, otherwise those governing the namespace.
// They only add empty rows, so a user who may not read policies or the
// namespace still gets the report, with a warning.
func policyNames(ctx context.Context, c client.Reader, ns string, streams genericiooptions.IOStreams) ([]string, error) {
	var list accessv1alpha1.ApprovalPolicyList
	if err := c.List(ctx, &list); err != nil {
		if apierrors.IsForbidden(err) {
			fmt.Fprintln(streams.ErrOut, "Warning: you may not list ApprovalPolicies; policies without requests are left out")
			return nil, nil
		}
		return nil, fmt.Errorf("listing ApprovalPolicies: %w", err)
	}
	var labels map[string]string
	if ns != "" {
		var namespace corev1.Namespace
		if err := c.Get(ctx, client.ObjectKey{Name: ns}, &namespace); err != nil {
			if apierrors.IsForbidden(err) {
				fmt.Fprintf(streams.ErrOut, "Note: you may not read namespace %s; policies without requests are left out\n", ns)
				return nil, nil
			}
			if apierrors.IsNotFound(err) {
				return nil, nil
			}
			return nil, fmt.Errorf("reading namespace %s: %w", ns, err)
		}
		labels = namespace.Labels
	}
	var names []string
	for i := range list.Items {
		p := &list.Items[i]
		if ns == "" || policy.Governs(p, labels) {
			names = append(names, p.Name)
		}
	}
	return names, nil
}
