package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
	"rolegate.dev/rolegate/internal/snapshot"
)

type requestOptions struct {
	role      string
	duration  time.Duration
	reason    string
	tags      []string
	policy    string
	name      string
	dryRun    bool
	extends   string
	start     string
	emergency bool
	wait      waitFlag
}

func newRequestCmd(f clientFactory, streams genericiooptions.IOStreams) *cobra.Command {
	o := requestOptions{}
	cmd := &cobra.Command{
		Use:   "request SERVICEACCOUNT --role Role/NAME|ClusterRole/NAME --for DURATION --reason TEXT [--tag KEY=VALUE ...]",
		Short: "Ask for time-bound access to a role for a service account",
		Long: `Create an AccessRequest for a service account of the current namespace.

Before creating anything the request is checked against the ApprovalPolicy
that would govern it, with the same code the admission webhook runs. If the
policy would refuse it, every problem is printed together with what the
policy requires, and nothing is created. If you may not read ApprovalPolicies
or the namespace, the check is skipped with a note and the server decides.`,
		Example: `  # One hour of db-migrator for the payments-api service account
  kubectl rolegate request payments-api --role Role/db-migrator --for 1h \
    --reason "CHG-1234: schema migration" --tag type=temporary --tag sensitivity=high

  # Prolong an active grant by 30 minutes (the policy must set maxExtensions)
  kubectl rolegate request payments-api --role Role/db-migrator --for 30m \
    --reason "CHG-1234 runs long" --extends payments-api-7xk2p

  # Approved now, granted tonight at 22:00 UTC for two hours
  kubectl rolegate request payments-api --role Role/db-migrator --for 2h \
    --reason "CHG-1240 maintenance window" --start 2026-12-01T22:00:00Z

  # Break-glass: granted at once without approval, reviewed afterwards
  kubectl rolegate request payments-api --role Role/db-migrator --for 20m \
    --reason "INC-88: payments down" --break-glass

  # Check only: run the policy check and a server-side dry run
  kubectl rolegate request payments-api --role ClusterRole/view --for 2h --reason debugging --dry-run`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), f, streams, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.role, "role", "", "the role to bind: Role/NAME (in the namespace) or ClusterRole/NAME")
	fl.DurationVar(&o.duration, "for", 0, "how long the access should last, e.g. 30m or 2h")
	fl.StringVar(&o.reason, "reason", "", "the justification: why the access is needed (for example a change ticket)")
	fl.StringArrayVar(&o.tags, "tag", nil, "a tag KEY=VALUE; repeat for several")
	fl.StringVar(&o.policy, "policy", "", "the ApprovalPolicy to request under, when several allow the role")
	fl.StringVar(&o.name, "name", "", "the request's name; by default the server generates SERVICEACCOUNT-xxxxx")
	fl.StringVar(&o.extends, "extends", "", "prolong the active grant of this AccessRequest instead of asking for a new one")
	fl.StringVar(&o.start, "start", "", "schedule the grant: an RFC 3339 time (2026-12-01T22:00:00Z) or a delay from now (+2h)")
	fl.BoolVar(&o.emergency, "break-glass", false,
		"ask for break-glass access (sets the tag type=break-glass): granted at once, reviewed afterwards")
	fl.BoolVar(&o.dryRun, "dry-run", false, "check the request (client-side and with a server-side dry run) without creating it")
	fl.Var(&o.wait, "wait", "after creating the request, wait until it is granted (exit 0) or ends without access (exit 1); "+
		"--wait=10m gives up after 10 minutes (exit 3)")
	fl.Lookup("wait").NoOptDefVal = waitForever
	_ = cmd.MarkFlagRequired("role")
	_ = cmd.MarkFlagRequired("for")
	// A flag that cannot be parsed is a wrong command line (exit 2), as in lint.
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	return cmd
}

// parseRole reads Role/NAME or ClusterRole/NAME (kinds case-insensitive).
func parseRole(s string) (accessv1alpha1.RoleRef, error) {
	kind, name, ok := strings.Cut(s, "/")
	if ok && name != "" && !strings.Contains(name, "/") {
		switch strings.ToLower(kind) {
		case "role":
			return accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: name}, nil
		case "clusterrole":
			return accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: name}, nil
		}
	}
	return accessv1alpha1.RoleRef{}, fmt.Errorf("--role must be Role/NAME or ClusterRole/NAME, got %q", s)
}

// parseStart reads --start: an RFC 3339 time, or +DURATION from now.
func parseStart(s string, now time.Time) (*metav1.Time, error) {
	if s == "" {
		return nil, nil
	}
	if d, ok := strings.CutPrefix(s, "+"); ok {
		delay, err := time.ParseDuration(d)
		if err != nil || delay <= 0 {
			return nil, fmt.Errorf("--start must be an RFC 3339 time or +DURATION (e.g. +2h), got %q", s)
		}
		t := metav1.NewTime(now.Add(delay).Truncate(time.Second))
		return &t, nil
	}
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, fmt.Errorf("--start must be an RFC 3339 time or +DURATION (e.g. +2h), got %q", s)
	}
	t := metav1.NewTime(at)
	return &t, nil
}

func parseTags(tags []string) (map[string]string, error) {
	if len(tags) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(tags))
	for _, t := range tags {
		k, v, ok := strings.Cut(t, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("--tag must be KEY=VALUE, got %q", t)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("--tag %s is given twice", k)
		}
		out[k] = v
	}
	return out, nil
}

func (o *requestOptions) build(ns, sa string) (*accessv1alpha1.AccessRequest, error) {
	ref, err := parseRole(o.role)
	if err != nil {
		return nil, err
	}
	if o.duration <= 0 {
		return nil, fmt.Errorf("--for must be a positive duration, got %s", o.duration)
	}
	tags, err := parseTags(o.tags)
	if err != nil {
		return nil, err
	}
	if o.emergency {
		if v, ok := tags[accessv1alpha1.BreakGlassTag]; ok && v != accessv1alpha1.BreakGlassTagValue {
			return nil, fmt.Errorf("--break-glass sets the tag %s=%s; remove --tag %s=%s", accessv1alpha1.BreakGlassTag,
				accessv1alpha1.BreakGlassTagValue, accessv1alpha1.BreakGlassTag, v)
		}
		if tags == nil {
			tags = map[string]string{}
		}
		tags[accessv1alpha1.BreakGlassTag] = accessv1alpha1.BreakGlassTagValue
	}
	start, err := parseStart(o.start, time.Now())
	if err != nil {
		return nil, err
	}
	ar := &accessv1alpha1.AccessRequest{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: o.name},
		Spec: accessv1alpha1.AccessRequestSpec{
			ServiceAccount: accessv1alpha1.ServiceAccountReference{Name: sa},
			RoleRef:        ref,
			Duration:       metav1.Duration{Duration: o.duration},
			Justification:  o.reason,
			Tags:           tags,
			Policy:         o.policy,
			Extends:        o.extends,
			StartTime:      start,
		},
	}
	if o.name == "" {
		ar.GenerateName = sa + "-"
	}
	return ar, nil
}

// errRefused is returned when the pre-check refuses the request; the
// details are already printed.
var errRefused = errors.New("the request would be refused; nothing was created")

func (o *requestOptions) run(ctx context.Context, f clientFactory, streams genericiooptions.IOStreams, sa string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ns, err := f.Namespace()
	if err != nil {
		return err
	}
	ar, err := o.build(ns, sa)
	if err != nil {
		return err
	}
	if o.wait.set && o.dryRun {
		return usageError{fmt.Errorf("--wait cannot be combined with --dry-run: a dry run creates nothing to wait for")}
	}
	c, err := f.Client()
	if err != nil {
		return err
	}

	chk, err := precheck(ctx, c, ar, streams)
	if err != nil {
		return err
	}
	if chk != nil && len(chk.Violations) > 0 {
		w := streams.ErrOut
		fmt.Fprintln(w, "The request would be refused:")
		for _, v := range chk.Violations {
			fmt.Fprintf(w, "  %s\n", v.Error())
		}
		for _, p := range chk.Explain {
			describePolicy(w, p)
		}
		return errRefused
	}

	var opts []client.CreateOption
	suffix := ""
	if o.dryRun {
		opts = append(opts, client.DryRunAll)
		suffix = " (server dry run)"
	}
	if err := c.Create(ctx, ar, opts...); err != nil {
		return err
	}
	fmt.Fprintf(streams.Out, "%s/%s created%s\n", requestResource, ar.Name, suffix)
	if chk != nil && chk.Policy != nil {
		fmt.Fprintln(streams.Out, decidedBy(chk.Policy, ar))
	}
	if o.wait.set && !o.dryRun {
		return waitForRequest(ctx, c, streams, ar, o.wait.timeout)
	}
	return nil
}

// decidedBy says who will decide a request that passed validation.
func decidedBy(p *accessv1alpha1.ApprovalPolicy, ar *accessv1alpha1.AccessRequest) string {
	r, ok := policy.RouteOf(p, ar)
	switch {
	case !ok:
		return ""
	case r.AutoApprove:
		return fmt.Sprintf("ApprovalPolicy %q auto-approves %s: no review needed", p.Name, r.Entitlement.RoleRef)
	}
	return fmt.Sprintf("ApprovalPolicy %q, sensitivity %s: tier %s decides; approvers: %s",
		p.Name, r.Sensitivity, p.Spec.Approvers[r.Tier].Name, approversFrom(p, r.Tier))
}

// precheck runs the admission webhook's policy checks client-side. It
// returns nil (after a note) when the user may not read what they need.
func precheck(
	ctx context.Context, c client.Client, ar *accessv1alpha1.AccessRequest, streams genericiooptions.IOStreams,
) (*policy.PrecheckResult, error) {
	skip := func(what string) (*policy.PrecheckResult, error) {
		fmt.Fprintf(streams.ErrOut, "Note: you may not read %s; skipping the client-side policy check (the server still checks)\n", what)
		return nil, nil
	}
	var list accessv1alpha1.ApprovalPolicyList
	if err := c.List(ctx, &list); err != nil {
		if apierrors.IsForbidden(err) {
			return skip("ApprovalPolicies")
		}
		return nil, fmt.Errorf("listing ApprovalPolicies: %w", err)
	}
	var namespace corev1.Namespace
	if err := c.Get(ctx, client.ObjectKey{Name: ar.Namespace}, &namespace); err != nil {
		if apierrors.IsForbidden(err) || apierrors.IsNotFound(err) {
			return skip("namespace " + ar.Namespace)
		}
		return nil, fmt.Errorf("reading namespace %s: %w", ar.Namespace, err)
	}
	in := policy.PrecheckInput{Policies: list.Items, NamespaceLabels: namespace.Labels, Request: ar}
	if _, v := policy.Select(list.Items, namespace.Labels, ar); v == nil {
		// The server records the requester; validate with who we are now.
		if user, err := whoAmI(ctx, c); err == nil {
			in.User = &user
		} else {
			fmt.Fprintln(streams.ErrOut,
				"Note: could not tell who you are (SelfSubjectReview not permitted); the requesters rule is left to the server")
		}
		if exists, err := snapshot.RoleExists(ctx, c, ar); err == nil {
			in.RoleExists = &exists
		}
	}
	res := policy.Precheck(in)
	return &res, nil
}
