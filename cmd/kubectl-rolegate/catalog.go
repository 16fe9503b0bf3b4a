package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
	"rolegate.dev/rolegate/internal/report"
)

// policyReaderRole is the shipped ClusterRole that lets a user read
// ApprovalPolicies and namespaces, bound cluster-wide.
const policyReaderRole = "rolegate-policy-reader"

var catalogFormats = []string{outputTable, outputWide, outputYAML, outputJSON}

// approversWidth bounds the APPROVERS cell of the default table.
const approversWidth = 36

// catalogOutput is what -o yaml and -o json print.
type catalogOutput struct {
	Namespace string `json:"namespace"`
	// User is who the API server says you are; empty when it would not say.
	User    string                `json:"user,omitempty"`
	Groups  []string              `json:"groups,omitempty"`
	Entries []policy.CatalogEntry `json:"entries"`
}

func newCatalogCmd(f clientFactory, streams genericiooptions.IOStreams) *cobra.Command {
	output := outputTable
	cmd := &cobra.Command{
		Use:   "catalog [-n NAMESPACE] [-o table|wide|yaml|json]",
		Short: "List the roles you may request in a namespace, and on what terms",
		Long: `List the entitlements you may request in the namespace: every role of every
ApprovalPolicy that governs the namespace and whose requesters include you
(who you are comes from the API server's SelfSubjectReview, so --as and
--as-group apply).

For each role: the policy, the longest duration (--for), the sensitivity,
how it is approved (auto-approved, or the deciding tier), whether break-glass
access is offered and for how long (--break-glass), and who can approve.
Below the table, what each policy requires of every request: a justification
(--reason) and tags (--tag KEY=VALUE) with their allowed values. A role
offered by several policies needs --policy NAME.

-o wide shows every approver; -o yaml and -o json print every field.
Reading policies and the namespace's labels needs the rolegate-policy-reader
ClusterRole bound cluster-wide (see docs/cli.md).`,
		Example: `  kubectl rolegate catalog -n payments
  kubectl rolegate catalog -n payments -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains(catalogFormats, output) {
				return fmt.Errorf("unsupported output format %q for catalog; supported formats: %s",
					output, strings.Join(catalogFormats, ", "))
			}
			return catalog(cmd.Context(), f, streams, output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", output, "output format: "+strings.Join(catalogFormats, "|"))
	return cmd
}

func catalog(ctx context.Context, f clientFactory, streams genericiooptions.IOStreams, output string) error {
	ctx, ns, c, err := connect(ctx, f, false)
	if err != nil {
		return err
	}
	var list accessv1alpha1.ApprovalPolicyList
	if err := c.List(ctx, &list); err != nil {
		if apierrors.IsForbidden(err) {
			return fmt.Errorf("you may not list ApprovalPolicies, so the catalog cannot be read; "+
				"ask your cluster admin to bind the %s ClusterRole to you cluster-wide", policyReaderRole)
		}
		return fmt.Errorf("listing ApprovalPolicies: %w", err)
	}
	var namespace corev1.Namespace
	if err := c.Get(ctx, client.ObjectKey{Name: ns}, &namespace); err != nil {
		if apierrors.IsForbidden(err) {
			return fmt.Errorf("you may not read namespace %s, so which policies govern it cannot be told; "+
				"ask your cluster admin to bind the %s ClusterRole to you cluster-wide", ns, policyReaderRole)
		}
		return fmt.Errorf("reading namespace %s: %w", ns, err)
	}

	out := catalogOutput{Namespace: ns}
	var who *accessv1alpha1.UserInfo
	if u, err := whoAmI(ctx, c); err != nil {
		fmt.Fprintln(streams.ErrOut, "Note: could not tell who you are (SelfSubjectReview refused); "+
			"listing every governing policy's roles, whether you may request them is left to the server")
	} else {
		who, out.User, out.Groups = &u, u.Username, u.Groups
	}
	out.Entries = policy.Catalog(list.Items, namespace.Labels, who)
	if out.Entries == nil {
		out.Entries = []policy.CatalogEntry{}
	}

	if output == outputYAML || output == outputJSON {
		return printObject(streams, output, out)
	}
	if len(out.Entries) == 0 {
		whom := ""
		if who != nil {
			whom = " to " + who.Username
		}
		fmt.Fprintf(streams.ErrOut, "No ApprovalPolicy offers roles%s in namespace %s.\n", whom, ns)
		return nil
	}
	return writeCatalog(streams.Out, out.Entries, output == outputWide)
}

// writeCatalog prints the catalog table, then each policy's requirements.
func writeCatalog(w io.Writer, entries []policy.CatalogEntry, wide bool) error {
	tw := newTable(w)
	row(tw, colRole, colPolicy, "MAX", "SENSITIVITY", "APPROVAL", "BREAK-GLASS", "APPROVERS")
	var policies []string
	terms := map[string]policy.CatalogEntry{}
	for i := range entries {
		e := &entries[i]
		if _, seen := terms[e.Policy]; !seen {
			policies = append(policies, e.Policy)
			terms[e.Policy] = *e
		}
		approval, approvers := "none: no tier may decide", "-"
		switch {
		case e.AutoApprove:
			approval = "auto-approved"
		case e.Tier != "":
			approval = "tier " + e.Tier
			approvers = policy.FormatSubjects(e.Approvers)
		}
		if !wide {
			approvers = cell(approvers, approversWidth)
		}
		breakGlass := "-"
		if e.BreakGlass() {
			breakGlass = "up to " + report.FormatDuration(e.BreakGlassMaxDuration.Duration)
		}
		pol := e.Policy
		if e.NeedsPolicy {
			pol += " (--policy)"
		}
		row(tw, e.RoleRef.String(), pol, report.FormatDuration(e.MaxDuration.Duration), string(e.Sensitivity), approval, breakGlass, approvers)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	slices.Sort(policies)
	for _, name := range policies {
		e := terms[name]
		var needs []string
		if e.JustificationRequired {
			needs = append(needs, "--reason")
		}
		for _, t := range e.RequiredTags {
			allowed := "VALUE"
			if len(t.Values) > 0 {
				allowed = strings.Join(t.Values, "|")
			}
			need := "--tag " + t.Key + "=" + allowed
			switch {
			case t.Pattern != "" && t.MinSensitivity != "":
				need += fmt.Sprintf(" (matching %s, from sensitivity %s up)", t.Pattern, t.MinSensitivity)
			case t.Pattern != "":
				need += " (matching " + t.Pattern + ")"
			case t.MinSensitivity != "":
				need += " (from sensitivity " + string(t.MinSensitivity) + " up)"
			}
			needs = append(needs, need)
		}
		if len(needs) == 0 {
			needs = []string{"nothing more"}
		}
		fmt.Fprintf(w, "\nRequests under ApprovalPolicy %s need: %s\n", name, strings.Join(needs, ", "))
	}
	return nil
}
