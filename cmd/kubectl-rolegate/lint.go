package main

import (
	"fmt"

	"github.com/spf13/cobra"
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
// are already printed, so run only adds the summary.
type errLintRefused struct{ errors, requests int }

func (e errLintRefused) Error() string {
	return fmt.Sprintf("%d problem(s) that admission would refuse, in %d AccessRequest(s) checked", e.errors, e.requests)
}

func newLintCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := lintOptions{}
	cmd := &cobra.Command{
		Use:   "lint PATH...",
		Short: "Check AccessRequest manifests and catalog roles against the ApprovalPolicies next to them, offline",
		Long: `Check AccessRequest and AccessDecision manifests in files or directories
against the ApprovalPolicies found in the same paths, without a cluster, with
the same rules as rolegate's admission webhook. Prints one line per problem,
FILE:LINE: FIELD: MESSAGE, and exits 1 if admission would refuse anything.

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
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(streams, args)
		},
	}
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
			return err
		}
		opts.NamespaceLabels[ns] = labels
	}
	if len(o.requesterGroups) > 0 && o.requester == "" {
		return fmt.Errorf("--requester-group needs --requester")
	}
	if o.requester != "" {
		opts.Requester = &accessv1alpha1.UserInfo{Username: o.requester, Groups: o.requesterGroups}
	}
	sources, err := lint.Collect(paths)
	if err != nil {
		return err
	}
	res := lint.Lint(sources, opts)
	for _, f := range res.Findings {
		fmt.Fprintln(streams.Out, f.String())
	}
	if n := res.Errors(); n > 0 {
		return errLintRefused{errors: n, requests: res.Requests}
	}
	return nil
}
