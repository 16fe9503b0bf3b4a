package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"rolegate.dev/rolegate/internal/inventory"
	"rolegate.dev/rolegate/internal/inventory/source"
	"rolegate.dev/rolegate/internal/policy"
	"rolegate.dev/rolegate/internal/report"
)

var inventoryFormats = []string{outputTable, outputJSON, outputYAML}

type inventoryOptions struct {
	output  string
	all     bool
	failOn  string
	pageSze int64
}

func newInventoryCmd(f clientFactory, streams genericiooptions.IOStreams) *cobra.Command {
	o := inventoryOptions{output: outputTable, pageSze: source.DefaultPageSize}
	cmd := &cobra.Command{
		Use:   "inventory [-n NAMESPACE] [--all] [--fail-on SEVERITY] [-o table|json|yaml]",
		Short: "List the standing access of every service account",
		Long: `List every service account of the cluster (or of the namespace given with -n),
every RoleBinding and ClusterRoleBinding that applies to it (directly, by its
user name, or through the groups system:serviceaccounts,
system:serviceaccounts:<namespace> and system:authenticated), where each
binding came from (bootstrap, helm, argocd, flux, manual; rolegate's own
time-bound grants only with --all), what it lets the service account do and
how severe that is. Bindings to service accounts that do not exist are
listed as dangling: a service account created with that name inherits them.

Capabilities: ` + strings.Join(capabilityNames(), ", ") + `.
Severity is the capability's (critical for takeover and escalation, high for
crd-write, secret-read, pod-exec, workload-create, medium for csr-create),
one level lower in a namespace other than kube-system, one level lower again
when no running pod mounts the service account's token and no legacy token
Secret holds one. See docs/inventory.md.

What the API server forbids reading is listed as unreadable, and the table
starts with INCOMPLETE: a finding it could not see is never a pass.
--fail-on exits with 1 when a service account is at least that severe, or
when anything was unreadable.`,
		Example: `  # The whole cluster
  kubectl rolegate inventory

  # One namespace, as JSON
  kubectl rolegate inventory -n payments -o json

  # In CI: fail on any high or critical standing access
  kubectl rolegate inventory --fail-on=high`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ns := ""
			if cmd.Flags().Changed("namespace") {
				var err error
				if ns, err = f.Namespace(); err != nil {
					return err
				}
			}
			return o.run(cmd.Context(), f, streams, ns)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&o.output, "output", "o", o.output, "output format: "+strings.Join(inventoryFormats, "|"))
	fl.BoolVar(&o.all, "all", false, "include rolegate's own time-bound grants")
	fl.StringVar(&o.failOn, "fail-on", "",
		"exit with 1 when a finding is at least this severe (critical, high, medium, low) or anything was unreadable")
	return cmd
}

func capabilityNames() []string {
	out := make([]string, len(policy.AllCapabilities))
	for i, c := range policy.AllCapabilities {
		out[i] = string(c)
	}
	return out
}

func (o *inventoryOptions) run(ctx context.Context, f clientFactory, streams genericiooptions.IOStreams, ns string) error {
	if !slices.Contains(inventoryFormats, o.output) {
		return fmt.Errorf("unsupported output format %q for inventory; supported formats: %s", o.output, strings.Join(inventoryFormats, ", "))
	}
	var failOn policy.Severity
	if o.failOn != "" {
		var err error
		if failOn, err = policy.ParseSeverity(o.failOn); err != nil {
			return fmt.Errorf("--fail-on: %w", err)
		}
	}
	if ctx == nil {
		ctx = context.Background()
	}
	c, err := f.Client()
	if err != nil {
		return err
	}
	in, err := source.Read(ctx, c, ns, source.Options{PageSize: o.pageSze})
	if err != nil {
		return err
	}
	rep, err := inventory.Build(in, inventory.Options{Namespace: ns, IncludeRolegate: o.all})
	if err != nil {
		return err
	}
	if o.output == outputTable {
		err = writeInventoryTable(streams.Out, rep)
	} else {
		err = printObject(streams, o.output, rep)
	}
	if err != nil || failOn == "" {
		return err
	}
	return failOnSeverity(rep, failOn)
}

// failOnSeverity is the --fail-on verdict.
func failOnSeverity(rep *inventory.Report, failOn policy.Severity) error {
	n := 0
	for _, a := range rep.ServiceAccounts {
		if a.Severity.AtLeast(failOn) {
			n++
		}
	}
	switch {
	case n > 0:
		return fmt.Errorf("%d service account(s) hold standing access of severity %s or higher", n, failOn)
	case len(rep.Unreadable) > 0:
		return fmt.Errorf("the inventory is incomplete: %d list(s) were forbidden; grant the reader list on them or run with -n",
			len(rep.Unreadable))
	}
	return nil
}

// Column widths that keep a table line within 120 columns.
const (
	inventoryAccountWidth = 34
	inventoryCapsWidth    = 32
	inventoryBindingWidth = 44
	inventoryRoleWidth    = 30
)

// writeInventoryTable prints the service accounts, the bindings that grant
// a capability, the dangling bindings, and what could not be read.
func writeInventoryTable(w io.Writer, rep *inventory.Report) error {
	if len(rep.Unreadable) > 0 {
		fmt.Fprintln(w, "INCOMPLETE: could not read the following; findings that depend on them are missing:")
		for _, u := range rep.Unreadable {
			fmt.Fprintln(w, "  "+fit(u.String(), 116))
		}
		fmt.Fprintln(w)
	}
	tw := newTable(w)
	row(tw, "SEVERITY", "SERVICEACCOUNT", "EXISTS", "EXPOSURE", "BINDINGS", "CAPABILITIES")
	for _, a := range rep.ServiceAccounts {
		exists := "?"
		if a.Exists != nil {
			exists = map[bool]string{true: "yes", false: "NO"}[*a.Exists]
		}
		row(tw, string(a.Severity), fit(a.Namespace+"/"+a.Name, inventoryAccountWidth), exists, string(a.Exposure),
			strconv.Itoa(len(a.Bindings)), capsCell(a.Capabilities, inventoryCapsWidth))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	type risky struct {
		b        inventory.Binding
		accounts int
	}
	var bindings []*risky
	index := map[string]*risky{}
	for _, a := range rep.ServiceAccounts {
		for _, b := range a.Bindings {
			if len(b.Caps) == 0 {
				continue
			}
			r := index[b.BindingKey()]
			if r == nil {
				r = &risky{b: b}
				index[b.BindingKey()] = r
				bindings = append(bindings, r)
			} else if b.Severity.Rank() > r.b.Severity.Rank() {
				r.b.Severity = b.Severity
			}
			r.accounts++
		}
	}
	if len(bindings) > 0 {
		slices.SortStableFunc(bindings, func(x, y *risky) int { return y.b.Severity.Rank() - x.b.Severity.Rank() })
		fmt.Fprintln(w, "\nBINDINGS THAT GRANT A CAPABILITY:")
		tw = newTable(w)
		row(tw, "SEVERITY", "BINDING", "ROLE", "PROVENANCE", "ACCOUNTS")
		for _, r := range bindings {
			row(tw, string(r.b.Severity), fit(r.b.BindingKey(), inventoryBindingWidth),
				fit(r.b.RoleRef.Kind+"/"+r.b.RoleRef.Name, inventoryRoleWidth), string(r.b.Provenance), strconv.Itoa(r.accounts))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(rep.DanglingBindings) > 0 {
		fmt.Fprintln(w, "\nDANGLING BINDINGS (a service account created with this name inherits them):")
		tw = newTable(w)
		row(tw, "SERVICEACCOUNT", "BINDING", "ROLE", "PROVENANCE")
		for _, d := range rep.DanglingBindings {
			row(tw, fit(d.ServiceAccount, inventoryAccountWidth), fit(d.BindingKey(), inventoryBindingWidth),
				fit(d.RoleRef.Kind+"/"+d.RoleRef.Name, inventoryRoleWidth-10), string(d.Provenance))
		}
		return tw.Flush()
	}
	return nil
}

// fit cuts s to n characters, marking the cut with "~".
func fit(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "~"
}

// capsCell lists capabilities within width, "+N" counting those left out.
func capsCell(caps []policy.Capability, width int) string {
	if len(caps) == 0 {
		return "-"
	}
	out := ""
	for i, c := range caps {
		next := out
		if next != "" {
			next += ","
		}
		next += string(c)
		if rest := len(caps) - i - 1; rest > 0 && len(next)+len(",+99") > width || len(next) > width {
			return out + ",+" + strconv.Itoa(len(caps)-i)
		}
		out = next
	}
	return out
}

// standingAccess is the standing-access section of `report`, read as the
// user: what the user may not list is reported as unreadable.
func standingAccess(ctx context.Context, c client.Reader, ns string) (*report.StandingAccess, error) {
	in, err := source.Read(ctx, c, ns, source.Options{})
	if err != nil {
		return nil, err
	}
	rep, err := inventory.Build(in, inventory.Options{Namespace: ns})
	if err != nil {
		return nil, err
	}
	return report.Standing(rep), nil
}
