package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/inventory"
	"rolegate.dev/rolegate/internal/inventory/source"
)

type convertOptions struct {
	serviceAccount string
	binding        string
	approvers      []string
	requesters     []string
	policyName     string
	duration       time.Duration
	maxDuration    time.Duration
}

func newConvertCmd(f clientFactory, streams genericiooptions.IOStreams) *cobra.Command {
	o := convertOptions{duration: time.Hour, maxDuration: 8 * time.Hour}
	cmd := &cobra.Command{
		Use:   "convert (--serviceaccount NAMESPACE/NAME | --binding KIND/[NAMESPACE/]NAME) --approver KIND:NAME ...",
		Short: "Turn a service account's standing bindings into just-in-time access",
		Long: `Print, as YAML for kubectl apply, what replaces standing RoleBindings and
ClusterRoleBindings of a service account with just-in-time access: an
ApprovalPolicy with one entitlement per role (sensitivity from the binding's
severity), one AccessRequest per binding that reproduces the access for
--duration, and, for a role with persistence risks (bind, escalate,
impersonate, minting tokens, writing bindings or webhooks, wildcards), a
narrower Role without those rules that the entitlement uses instead.

--binding converts one binding for each service account it names directly;
bindings that apply through a group are left as they are (a comment says so).
Nothing is changed in the cluster: keep the standing binding during a shadow
period, then delete it (docs/inventory.md).`,
		Example: `  # Everything that binds ci/deployer, approved by the platform team
  kubectl rolegate convert --serviceaccount ci/deployer --approver Group:platform-owners > deployer-jit.yaml

  # One RoleBinding
  kubectl rolegate convert --binding RoleBinding/payments/api-edit --approver User:alice`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), f, streams)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.serviceAccount, "serviceaccount", "", "the service account to convert, NAMESPACE/NAME")
	fl.StringVar(&o.binding, "binding", "", "the binding to convert: RoleBinding/NAMESPACE/NAME or ClusterRoleBinding/NAME")
	fl.StringArrayVar(&o.approvers, "approver", nil,
		"who approves the requests, KIND:NAME (User:alice, Group:owners, ServiceAccount:ns/name); repeatable")
	fl.StringArrayVar(&o.requesters, "requester", nil, "who may request the access, KIND:NAME; repeatable")
	fl.StringVar(&o.policyName, "policy-name", "", "name of the ApprovalPolicy (default standing-NAMESPACE-NAME)")
	fl.DurationVar(&o.duration, "duration", o.duration, "duration of each AccessRequest")
	fl.DurationVar(&o.maxDuration, "max-duration", o.maxDuration, "maxDuration of each entitlement")
	return cmd
}

// parseSubjects reads KIND:NAME flags.
func parseSubjects(flag string, values []string) ([]accessv1alpha1.Subject, error) {
	var out []accessv1alpha1.Subject
	for _, v := range values {
		kind, name, ok := strings.Cut(v, ":")
		s := accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectKind(kind), Name: name}
		switch {
		case !ok || name == "":
			return nil, fmt.Errorf("--%s %q: want KIND:NAME, e.g. Group:platform-owners", flag, v)
		case s.Kind == accessv1alpha1.SubjectServiceAccount:
			ns, n, found := strings.Cut(name, "/")
			if !found || ns == "" || n == "" {
				return nil, fmt.Errorf("--%s %q: a service account is ServiceAccount:NAMESPACE/NAME", flag, v)
			}
			s.Namespace, s.Name = ns, n
		case s.Kind != accessv1alpha1.SubjectUser && s.Kind != accessv1alpha1.SubjectGroup:
			return nil, fmt.Errorf("--%s %q: kind must be User, Group or ServiceAccount", flag, v)
		}
		out = append(out, s)
	}
	return out, nil
}

// target parses --serviceaccount or --binding: the service account, or
// the binding as inventory.Binding.BindingKey names it.
func (o *convertOptions) target() (saNS, saName, bindingKey string, err error) {
	if (o.serviceAccount == "") == (o.binding == "") {
		return "", "", "", fmt.Errorf("give exactly one of --serviceaccount NAMESPACE/NAME and --binding KIND/[NAMESPACE/]NAME")
	}
	if o.serviceAccount != "" {
		var ok bool
		if saNS, saName, ok = strings.Cut(o.serviceAccount, "/"); !ok || saNS == "" || saName == "" {
			return "", "", "", fmt.Errorf("--serviceaccount %q: want NAMESPACE/NAME", o.serviceAccount)
		}
		return saNS, saName, "", nil
	}
	parts := strings.Split(o.binding, "/")
	switch {
	case len(parts) == 3 && parts[0] == "RoleBinding":
		return "", "", "RoleBinding " + parts[1] + "/" + parts[2], nil
	case len(parts) == 2 && parts[0] == "ClusterRoleBinding":
		return "", "", "ClusterRoleBinding " + parts[1], nil
	}
	return "", "", "", fmt.Errorf("--binding %q: want RoleBinding/NAMESPACE/NAME or ClusterRoleBinding/NAME", o.binding)
}

// directBinding is the binding named bindingKey when it names the service
// account directly (not through a group).
func directBinding(a *inventory.ServiceAccount, bindingKey string) (inventory.Binding, bool) {
	for _, b := range a.Bindings {
		if b.BindingKey() == bindingKey && (b.Via == "ServiceAccount" || strings.HasPrefix(b.Via, "User ")) {
			return b, true
		}
	}
	return inventory.Binding{}, false
}

func (o *convertOptions) run(ctx context.Context, f clientFactory, streams genericiooptions.IOStreams) error {
	saNS, saName, bindingKey, err := o.target()
	if err != nil {
		return err
	}
	approvers, err := parseSubjects("approver", o.approvers)
	if err != nil {
		return err
	}
	requesters, err := parseSubjects("requester", o.requesters)
	if err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	c, err := f.Client()
	if err != nil {
		return err
	}
	in, err := source.Read(ctx, c, "", source.Options{})
	if err != nil {
		return err
	}
	rep, err := inventory.Build(in, inventory.Options{})
	if err != nil {
		return err
	}
	for _, u := range rep.Unreadable {
		if u.Resource != inventory.ResourceSecrets && u.Resource != inventory.ResourcePods {
			fmt.Fprintf(streams.ErrOut, "Warning: could not read %s; bindings may be missing from the conversion\n", u)
		}
	}
	copts := inventory.ConvertOptions{PolicyName: o.policyName, Approvers: approvers, Requesters: requesters,
		Duration: o.duration, MaxDuration: o.maxDuration}
	found := false
	for i := range rep.ServiceAccounts {
		a := &rep.ServiceAccounts[i]
		bindings := a.Bindings
		if bindingKey != "" {
			b, ok := directBinding(a, bindingKey)
			if !ok {
				continue
			}
			bindings = []inventory.Binding{b}
		} else if a.Namespace != saNS || a.Name != saName {
			continue
		}
		found = true
		conv, err := inventory.Convert(a, bindings, copts)
		if err != nil {
			return fmt.Errorf("converting %s/%s: %w", a.Namespace, a.Name, err)
		}
		if err := conv.WriteYAML(streams.Out); err != nil {
			return err
		}
		copts.PolicyName = "" // one policy per service account
	}
	switch {
	case found:
		return nil
	case saName != "":
		return fmt.Errorf("service account %s/%s: not found and named by no binding", saNS, saName)
	default:
		return fmt.Errorf("%s: not found, or it names no service account directly", bindingKey)
	}
}
