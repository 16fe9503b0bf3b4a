package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/lint"
)

type lintOptions struct {
	namespaceLabels []string
	requester       string
	requesterGroups []string
}

// errLintRefused is returned when findings refuse a manifest: the findings
// and the summary are already printed.
type errLintRefused struct{ errors int }

func (e errLintRefused) Error() string {
	return fmt.Sprintf("%d problem(s) that the API server would refuse", e.errors)
}

// usageError is a command line that cannot be run as given: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// plural is "1 warning" or "2 warnings".
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func newLintCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := lintOptions{}
	cmd := &cobra.Command{
		Use:   "lint PATH...",
		Short: "Check AccessRequest manifests and catalog roles against the ApprovalPolicies next to them, offline",
		Long: `Check AccessRequest and AccessDecision manifests in files or directories
against the ApprovalPolicies found in the same paths, without a cluster, with
the same rules as rolegate's admission webhook. Prints one line per problem,
FILE:LINE: FIELD: MESSAGE (warnings: FILE:LINE: warning: FIELD: MESSAGE),
then a summary such as "3 files, 5 objects, 0 errors, 1 warning".

Every rolegate object (ApprovalPolicy, AccessRequest, AccessDecision) is
first validated as the API server validates it: against its CRD's OpenAPI
schema (types, formats, required and unknown fields, list types) and CEL
rules, with the CRDs built into this binary. An object the schema refuses
is reported there only, since the server stops there; the others then get
the admission webhooks' policy checks.

Exit codes: 0 nothing refused (warnings allowed), 1 something would be
refused, 2 the command line is wrong (no path, a path that does not exist, a
malformed flag).

Directories are walked for *.yaml and *.yml files; a directory with a
kustomization.yaml contributes only the local files its resources list (and
its namespace: applies to them). Documents that are not Kubernetes objects
are skipped.

What a repository cannot tell:
  - Namespace labels, which decide the governing ApprovalPolicy: taken from
    Namespace manifests in the paths, or from --namespace-labels. Without
    either, only policies with an empty namespaceSelector are applied and a
    warning (not an error) says so.
  - The requester, written by admission: requester rules are checked only
    with --requester; a manifest that sets spec.requester (or spec.reviewer
    on an AccessDecision) is refused.
  - Whether a Role exists: not checked.

Roles and ClusterRoles in the paths are analysed as the controller analyses
catalog roles: a role whose rules let a holder outlive or widen a temporary
grant (bind, escalate or impersonate; creating service account tokens,
Secrets, RoleBindings, ClusterRoleBindings or CertificateSigningRequests;
writing webhook configurations; wildcard verbs or resources) is reported on
the entitlement that offers it, and on every request for it, unless the
entitlement sets allowPersistenceRisk. A ClusterRole's aggregationRule is
followed among the ClusterRoles in the paths. A Role in a namespace whose
labels are unknown is a warning.`,
		Example: `  # Lint a GitOps repository
  kubectl rolegate lint deploy/

  # The Namespace manifests live elsewhere
  kubectl rolegate lint requests/ policies/ --namespace-labels payments=team=payments

  # Also check that alice, of group payments-devs, may open these requests
  kubectl rolegate lint requests/ policies/ --requester alice --requester-group payments-devs`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.MinimumNArgs(1)(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(streams, args)
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	// lint works offline: kubectl's connection flags mean nothing to it,
	// so its help shows only its own flags.
	cmd.SetHelpFunc(func(c *cobra.Command, args []string) {
		c.InheritedFlags().VisitAll(func(f *pflag.Flag) { f.Hidden = true })
		c.Parent().HelpFunc()(c, args)
	})
	fl := cmd.Flags()
	fl.StringArrayVar(&o.namespaceLabels, "namespace-labels", nil,
		"labels of a namespace, NAMESPACE=KEY=VALUE[,KEY=VALUE...] (NAMESPACE= for none); repeatable; overrides Namespace manifests")
	fl.StringVar(&o.requester, "requester", "", "check the policies' requesters as if this user created the requests")
	fl.StringArrayVar(&o.requesterGroups, "requester-group", nil, "a group of --requester; repeatable")
	return cmd
}

func (o *lintOptions) run(streams genericiooptions.IOStreams, paths []string) error {
	opts := lint.Options{NamespaceLabels: map[string]map[string]string{}}
	for _, s := range o.namespaceLabels {
		ns, labels, err := lint.ParseNamespaceLabels(s)
		if err != nil {
			return usageError{err}
		}
		opts.NamespaceLabels[ns] = labels
	}
	if len(o.requesterGroups) > 0 && o.requester == "" {
		return usageError{fmt.Errorf("--requester-group needs --requester")}
	}
	if o.requester != "" {
		opts.Requester = &accessv1alpha1.UserInfo{Username: o.requester, Groups: o.requesterGroups}
	}
	sources, err := lint.Collect(paths)
	if err != nil {
		return usageError{err}
	}
	res := lint.Lint(sources, opts)
	for _, f := range res.Findings {
		fmt.Fprintln(streams.Out, f.String())
	}
	fmt.Fprintf(streams.Out, "%s, %s, %s, %s\n", plural(len(sources), "file"), plural(res.Objects, "object"),
		plural(res.Errors(), "error"), plural(res.Warnings(), "warning"))
	if n := res.Errors(); n > 0 {
		return errLintRefused{errors: n}
	}
	return nil
}
