package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
)

const (
	outputYAML = "yaml"
	outputWide = "wide"
)

// Table headers several commands share.
const (
	colNamespace = "NAMESPACE"
	colName      = "NAME"
	colAge       = "AGE"
	colRequester = "REQUESTER"
	colRole      = "ROLE"
	colPolicy    = "POLICY"
	colStatus    = "STATUS"
	colExpires   = "EXPIRES"
	colTier      = "TIER"

	colServiceAccount = "SERVICEACCOUNT"
)

var getFormats = []string{outputTable, outputWide, outputYAML, outputJSON}

type getOptions struct {
	allNamespaces bool
	output        string
	watch         bool
}

func newGetCmd(f clientFactory, streams genericiooptions.IOStreams, now func() time.Time) *cobra.Command {
	o := getOptions{output: outputTable}
	cmd := &cobra.Command{
		Use:     "get [REQUEST] [-A] [-o table|wide|yaml|json] [-w]",
		Aliases: []string{"status"},
		Short:   "List AccessRequests, or show one",
		Long: `List AccessRequests with their state (the Ready condition's reason), policy,
service account, role, requester, when the access expires and their age.
-o wide adds the effective sensitivity, the deciding tier and the duration;
-o yaml and -o json print the objects. EXPIRES is blank once a request ended.

With -w (--watch), after the current state every change is printed as it
happens (a new row, or object), from a watch on the API server: for one
request until it ends (denied, timed out, expired, revoked, or deleted), for
a list until interrupted. "status" is another name for get.`,
		Example: `  kubectl rolegate get -A
  kubectl rolegate get payments-api-7xk2p -o yaml
  kubectl rolegate status payments-api-7xk2p -w`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), f, streams, args, now())
		},
	}
	cmd.Flags().BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "list requests of every namespace")
	cmd.Flags().StringVarP(&o.output, "output", "o", o.output, "output format: "+strings.Join(getFormats, "|"))
	cmd.Flags().BoolVarP(&o.watch, "watch", "w", false, "after listing, print every change as it happens")
	return cmd
}

func (o *getOptions) run(ctx context.Context, f clientFactory, streams genericiooptions.IOStreams, args []string, now time.Time) error {
	if !slices.Contains(getFormats, o.output) {
		return fmt.Errorf("unsupported output format %q for get; supported formats: %s", o.output, strings.Join(getFormats, ", "))
	}
	if len(args) == 1 && o.allNamespaces {
		return fmt.Errorf("a request name cannot be combined with -A; name its namespace with -n")
	}
	ctx, ns, c, err := connect(ctx, f, o.allNamespaces)
	if err != nil {
		return err
	}
	if o.watch {
		name := ""
		if len(args) == 1 {
			name = args[0]
		}
		return o.watchRun(ctx, c, streams, ns, name, now)
	}
	gvk := accessv1alpha1.GroupVersion.WithKind("AccessRequest")
	var items []accessv1alpha1.AccessRequest
	if len(args) == 1 {
		ar := &accessv1alpha1.AccessRequest{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: args[0]}, ar); err != nil {
			return err
		}
		ar.SetGroupVersionKind(gvk)
		if o.output == outputYAML || o.output == outputJSON {
			return printObject(streams, o.output, ar)
		}
		items = []accessv1alpha1.AccessRequest{*ar}
	} else {
		var list accessv1alpha1.AccessRequestList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return fmt.Errorf("listing AccessRequests: %w", err)
		}
		items = list.Items
		slices.SortFunc(items, func(a, b accessv1alpha1.AccessRequest) int {
			return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
		})
		if o.output == outputYAML || o.output == outputJSON {
			for i := range items {
				items[i].SetGroupVersionKind(gvk)
			}
			list.Items = items
			list.SetGroupVersionKind(accessv1alpha1.GroupVersion.WithKind("AccessRequestList"))
			return printObject(streams, o.output, &list)
		}
		if len(items) == 0 {
			where := "in " + ns + " namespace"
			if ns == "" {
				where = "in any namespace"
			}
			fmt.Fprintf(streams.ErrOut, "No AccessRequests found %s.\n", where)
			return nil
		}
	}

	tw := newTable(streams.Out)
	row(tw, o.header()...)
	for i := range items {
		row(tw, o.cells(&items[i], now)...)
	}
	return tw.Flush()
}

// header is the table's header for the options.
func (o *getOptions) header() []string {
	head := []string{colName, colStatus, colPolicy, colServiceAccount, colRole, colRequester, colExpires, colAge}
	if o.output == outputWide {
		head = append(head, "SENSITIVITY", colTier, "DURATION")
	}
	if o.allNamespaces {
		head = append([]string{colNamespace}, head...)
	}
	return head
}

// cells is a request's table row. EXPIRES is blank once the request ended
// (denied, timed out, expired, revoked): it no longer expires.
func (o *getOptions) cells(ar *accessv1alpha1.AccessRequest, now time.Time) []string {
	expires := "-"
	switch {
	case ended(ar) || policy.Closed(ar):
		expires = ""
	case ar.Status.ExpiresAt != nil:
		expires = relative(now, ar.Status.ExpiresAt.Time)
	}
	cells := []string{ar.Name, readyReason(ar), orDash(requestPolicy(ar)), serviceAccountName(ar),
		ar.Spec.RoleRef.String(), requesterName(ar), expires, age(now, ar.CreationTimestamp.Time)}
	if o.output == outputWide {
		cells = append(cells, orDash(string(ar.Status.EffectiveSensitivity)), orDash(ar.Status.Tier), ar.Spec.Duration.Duration.String())
	}
	if o.allNamespaces {
		cells = append([]string{ar.Namespace}, cells...)
	}
	return cells
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printObject prints an object as YAML or indented JSON.
func printObject(streams genericiooptions.IOStreams, format string, obj any) error {
	var out []byte
	var err error
	if format == outputYAML {
		out, err = yaml.Marshal(obj)
	} else {
		out, err = json.MarshalIndent(obj, "", "    ")
		out = append(out, '\n')
	}
	if err != nil {
		return err
	}
	_, err = streams.Out.Write(out)
	return err
}
