package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
)

// demoOptions configure runDemo.
type demoOptions struct {
	// Duration is the access duration the request asks for.
	Duration time.Duration
	// Timeout bounds the whole walk-through.
	Timeout time.Duration
	// Verbose shows the manager's info logs on LogOutput.
	Verbose bool
	// LogOutput receives controller-runtime's logs (errors only unless
	// Verbose); nil means stderr.
	LogOutput io.Writer
}

const pollInterval = 250 * time.Millisecond

// The SubjectAccessReview that proves the grant: may the service account
// create configmaps in payments? Role db-migrator allows it.
const (
	sarVerb     = "create"
	sarResource = "configmaps"
)

// minDemoDuration leaves time to observe the grant (and prove it with a
// SubjectAccessReview) before it expires; status times have second precision.
const minDemoDuration = 3 * time.Second

// stepError is a step that did not happen.
type stepError struct {
	step int
	err  error
}

func (e *stepError) Error() string { return fmt.Sprintf("demo failed at step %d: %v", e.step, e.err) }
func (e *stepError) Unwrap() error { return e.err }

// demo is one walk-through in progress.
type demo struct {
	out   io.Writer
	opts  demoOptions
	start time.Time
	env   *devEnv
	audit *auditLog
	step  int
}

// runDemo starts an embedded control plane with rolegate and walks the
// samples through request -> approval -> grant -> expiry -> revocation,
// printing each step to out. It returns nil only when every step happened.
func runDemo(ctx context.Context, out io.Writer, opts demoOptions) error {
	if opts.Duration <= 0 {
		opts.Duration = 20 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 3 * time.Minute
	}
	if opts.LogOutput == nil {
		opts.LogOutput = os.Stderr
	}
	if opts.Duration < minDemoDuration {
		return fmt.Errorf("demo: -duration %s is too short to observe the grant before it expires; use at least %s",
			opts.Duration, minDemoDuration)
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return errNoAssets
	}
	setupLogging(opts.LogOutput, opts.Verbose)
	d := &demo{out: out, opts: opts, start: time.Now(), audit: &auditLog{}}
	ctx, cancel := context.WithTimeoutCause(ctx, opts.Timeout, fmt.Errorf("the demo did not finish within -timeout %s", opts.Timeout))
	defer cancel()

	printf(out, "rolegate demo: request -> approval -> grant -> expiry -> revocation, then break-glass (access duration %s)\n\n",
		opts.Duration)
	steps := []func(context.Context) error{
		d.controlPlane, d.policy, d.request, d.decision, d.granted, d.expired, d.breakGlass, d.auditTrail,
	}
	defer func() {
		if d.env != nil {
			d.env.stop()
		}
	}()
	for i, s := range steps {
		d.step = i + 1
		if err := s(ctx); err != nil {
			if c := context.Cause(ctx); c != nil && ctx.Err() != nil && !errors.Is(err, c) {
				err = fmt.Errorf("%w (%w)", err, c)
			}
			return &stepError{step: d.step, err: err}
		}
	}
	printf(out, "\ndemo succeeded in %s: the request was approved, granted, expired and its access revoked; "+
		"break-glass access was granted at once and acknowledged.\n", d.elapsed())
	return nil
}

func (d *demo) elapsed() string {
	return fmt.Sprintf("%.1fs", time.Since(d.start).Seconds())
}

// say prints the headline of the current step.
func (d *demo) say(format string, args ...any) {
	printf(d.out, "[%6s] %d. %s\n", d.elapsed(), d.step, fmt.Sprintf(format, args...))
}

// detail prints an indented line under the current step.
func (d *demo) detail(format string, args ...any) {
	printf(d.out, "          %s\n", fmt.Sprintf(format, args...))
}

// waitForReady polls AccessRequest name until its Ready reason is want and
// check (when given) accepts it; a request that ends in another state fails
// at once. what names the awaited state in errors.
func (d *demo) waitForReady(ctx context.Context, name, want, what string,
	check func(context.Context, *accessv1alpha1.AccessRequest) error,
) (*accessv1alpha1.AccessRequest, error) {
	var ar *accessv1alpha1.AccessRequest
	err := d.waitFor(ctx, what, func(ctx context.Context) error {
		got := &accessv1alpha1.AccessRequest{}
		if err := d.env.k8s.Get(ctx, client.ObjectKey{Namespace: sampleNamespace, Name: name}, got); err != nil {
			return err
		}
		ar = got
		ready := meta.FindStatusCondition(got.Status.Conditions, accessv1alpha1.ConditionReady)
		if ready != nil && ready.Reason != want && isTerminal(ready.Reason) {
			return errFatal{fmt.Errorf("the request ended as %s instead of %s: %s (%s)", ready.Reason, want, ready.Message, describeRequest(got))}
		}
		if ready == nil || ready.Reason != want {
			return fmt.Errorf("not %s yet: %s", want, describeRequest(got))
		}
		if check == nil {
			return nil
		}
		return check(ctx, got)
	})
	return ar, err
}

// errFatal marks an observation that waiting will not change.
type errFatal struct{ error }

// waitFor polls check every pollInterval until it returns nil, a fatal
// error, or ctx ends; the error names what was awaited and what was seen last.
func (d *demo) waitFor(ctx context.Context, what string, check func(context.Context) error) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	began := time.Now()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		var fatal errFatal
		if errors.As(err, &fatal) {
			return fmt.Errorf("%s: %w", what, fatal.error)
		}
		if mErr := d.env.managerError(); mErr != nil {
			return fmt.Errorf("%s: %w", what, mErr)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up after %.1fs waiting for %s; last observed: %w", time.Since(began).Seconds(), what, err)
		case <-t.C:
		}
	}
}

// Step 1.
func (d *demo) controlPlane(ctx context.Context) error {
	env, err := startEnv(ctx, d.audit)
	if err != nil {
		return err
	}
	d.env = env
	d.say("Control plane up (kube-apiserver and etcd from KUBEBUILDER_ASSETS), CRDs installed, manager running")
	d.detail("API server %s; CRDs from config/crd/bases: approvalpolicies, accessrequests, accessdecisions "+
		"(access.rolegate.dev/v1alpha1)", env.cfg.Host)
	return nil
}

// Step 2.
func (d *demo) policy(ctx context.Context) error {
	pol, err := d.env.setUpSampleWorld(ctx)
	if err != nil {
		return err
	}
	if err := d.env.setUpDevRBAC(ctx); err != nil {
		return err
	}
	var ready *metav1.Condition
	err = d.waitFor(ctx, "ApprovalPolicy payments to be Ready=True", func(ctx context.Context) error {
		if err := d.env.k8s.Get(ctx, client.ObjectKeyFromObject(pol), pol); err != nil {
			return err
		}
		ready = meta.FindStatusCondition(pol.Status.Conditions, accessv1alpha1.ConditionReady)
		switch {
		case ready == nil:
			return errors.New("no Ready condition yet")
		case ready.ObservedGeneration != pol.Generation:
			return fmt.Errorf("the Ready condition is for generation %d, the policy is at %d", ready.ObservedGeneration, pol.Generation)
		case ready.Status != metav1.ConditionTrue:
			return fmt.Errorf("policy not ready: Ready=%s %s: %s", ready.Status, ready.Reason, ready.Message)
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.say("Sample world created: namespace payments (team=payments), ServiceAccount payments/ledger-migrator, Role payments/db-migrator")
	d.detail("ApprovalPolicy %s applied from %s: Ready=True, reason %s: %s", pol.Name, policySample, ready.Reason, ready.Message)
	return nil
}

// getRequest reads the sample request straight from the API server.
func (d *demo) getRequest(ctx context.Context) (*accessv1alpha1.AccessRequest, error) {
	ar := &accessv1alpha1.AccessRequest{}
	err := d.env.k8s.Get(ctx, client.ObjectKey{Namespace: sampleNamespace, Name: sampleRequest}, ar)
	return ar, err
}

// Step 3.
func (d *demo) request(ctx context.Context) error {
	ar := &accessv1alpha1.AccessRequest{}
	if err := d.env.readSample(requestSample, ar); err != nil {
		return err
	}
	if ar.Name != sampleRequest || ar.Namespace != sampleNamespace {
		return fmt.Errorf("%s holds AccessRequest %s/%s; the demo expects %s/%s",
			requestSample, ar.Namespace, ar.Name, sampleNamespace, sampleRequest)
	}
	sampleDuration := ar.Spec.Duration.Duration
	ar.Spec.Duration = metav1.Duration{Duration: d.opts.Duration}
	alice, err := d.env.as(sampleRequester, sampleRequesterGroup)
	if err != nil {
		return err
	}
	if err := alice.Create(ctx, ar); err != nil {
		return fmt.Errorf("creating AccessRequest %s/%s: %w", ar.Namespace, ar.Name, err)
	}
	seen, err := d.waitForReady(ctx, sampleRequest, accessv1alpha1.ReasonPendingApproval, "the request to be pending approval",
		func(_ context.Context, got *accessv1alpha1.AccessRequest) error {
			validated := meta.FindStatusCondition(got.Status.Conditions, accessv1alpha1.ConditionValidated)
			switch {
			case validated == nil || validated.Status != metav1.ConditionTrue:
				return fmt.Errorf("not Validated=True: %s", describeRequest(got))
			case got.Status.Tier != "security":
				return fmt.Errorf("status.tier is %q, want security: %s", got.Status.Tier, describeRequest(got))
			case got.Status.EffectiveSensitivity != accessv1alpha1.SensitivityHigh:
				return fmt.Errorf("status.effectiveSensitivity is %q, want high: %s", got.Status.EffectiveSensitivity, describeRequest(got))
			}
			return nil
		})
	if err != nil {
		return err
	}
	ready := meta.FindStatusCondition(seen.Status.Conditions, accessv1alpha1.ConditionReady)
	validated := meta.FindStatusCondition(seen.Status.Conditions, accessv1alpha1.ConditionValidated)
	d.say("AccessRequest %s/%s applied from %s as %s (group %s), duration %s instead of the sample's %s",
		ar.Namespace, ar.Name, requestSample, sampleRequester, sampleRequesterGroup, d.opts.Duration, sampleDuration)
	d.detail("admission recorded spec.requester from the authenticated user: %s", requesterName(seen))
	d.detail("%s asks for %s %s for ServiceAccount %s, tags sensitivity=%s",
		requesterName(seen), seen.Spec.RoleRef.Kind, seen.Spec.RoleRef.Name, seen.Spec.ServiceAccount.Name, seen.Spec.Tags["sensitivity"])
	d.detail("Validated=True (%s); Ready=False, reason %s: %s", validated.Reason, ready.Reason, ready.Message)
	d.detail("status.policy=%s, status.tier=%s, status.effectiveSensitivity=%s (app-owners may decide only up to medium, so security decides)",
		seen.Status.Policy, seen.Status.Tier, seen.Status.EffectiveSensitivity)
	return nil
}

// Step 4.
func (d *demo) decision(ctx context.Context) error {
	dec := &accessv1alpha1.AccessDecision{}
	if err := d.env.readSample(decisionSample, dec); err != nil {
		return err
	}
	if dec.Spec.Request != sampleRequest {
		return fmt.Errorf("%s decides on %q; the demo expects %s", decisionSample, dec.Spec.Request, sampleRequest)
	}
	carol, err := d.env.as(sampleReviewer, sampleReviewerGroup)
	if err != nil {
		return err
	}
	if err := carol.Create(ctx, dec); err != nil {
		return fmt.Errorf("creating AccessDecision %s/%s: %w", dec.Namespace, dec.Name, err)
	}
	var counted *metav1.Condition
	err = d.waitFor(ctx, "the decision to be Counted=True", func(ctx context.Context) error {
		if err := d.env.k8s.Get(ctx, client.ObjectKeyFromObject(dec), dec); err != nil {
			return err
		}
		counted = meta.FindStatusCondition(dec.Status.Conditions, accessv1alpha1.ConditionCounted)
		switch {
		case counted == nil:
			return errors.New("no Counted condition yet")
		case counted.Status != metav1.ConditionTrue:
			return errFatal{fmt.Errorf("the decision was not counted: Counted=%s, reason %s: %s", counted.Status, counted.Reason, counted.Message)}
		}
		return nil
	})
	if err != nil {
		return err
	}
	reviewer := "?"
	if dec.Spec.Reviewer != nil {
		reviewer = dec.Spec.Reviewer.Username
		if len(dec.Spec.Reviewer.Groups) > 0 {
			reviewer += " (groups " + strings.Join(dec.Spec.Reviewer.Groups, ", ") + ")"
		}
	}
	d.say("AccessDecision %s/%s applied from %s as %s; admission recorded the reviewer %s, who decides %s (%q)",
		dec.Namespace, dec.Name, decisionSample, sampleReviewer, reviewer, dec.Spec.Decision, dec.Spec.Comment)
	d.detail("Counted=True, reason %s: %s", counted.Reason, counted.Message)
	return nil
}

// sar asks the API server whether the sample service account may create
// configmaps in payments.
func (d *demo) sar(ctx context.Context) (*authorizationv1.SubjectAccessReview, error) {
	r := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   "system:serviceaccount:" + sampleNamespace + ":" + sampleServiceAccount,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + sampleNamespace, "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: sampleNamespace, Verb: sarVerb, Resource: sarResource,
		},
	}}
	if err := d.env.k8s.Create(ctx, r); err != nil {
		return nil, fmt.Errorf("SubjectAccessReview: %w", err)
	}
	return r, nil
}

func sarQuestion() string {
	return "SubjectAccessReview: may system:serviceaccount:payments:ledger-migrator create configmaps in payments?"
}

func sarAnswer(r *authorizationv1.SubjectAccessReview) string {
	s := "denied"
	if r.Status.Allowed {
		s = "allowed"
	}
	if r.Status.Reason != "" {
		s += " (" + r.Status.Reason + ")"
	}
	if r.Status.EvaluationError != "" {
		s += " [evaluation error: " + r.Status.EvaluationError + "]"
	}
	return s
}

// Step 5.
func (d *demo) granted(ctx context.Context) error {
	rb := &rbacv1.RoleBinding{}
	ar, err := d.waitForReady(ctx, sampleRequest, accessv1alpha1.ReasonGranted, "the request to be Granted with a correct RoleBinding",
		func(ctx context.Context, got *accessv1alpha1.AccessRequest) error {
			switch {
			case !meta.IsStatusConditionTrue(got.Status.Conditions, accessv1alpha1.ConditionGranted):
				return fmt.Errorf("the Ready reason is Granted but Granted is not True: %s", describeRequest(got))
			case got.Status.RoleBinding == "":
				return fmt.Errorf("status.roleBinding is empty: %s", describeRequest(got))
			case got.Status.ExpiresAt == nil:
				return fmt.Errorf("status.expiresAt is empty: %s", describeRequest(got))
			}
			if err := d.env.k8s.Get(ctx, client.ObjectKey{Namespace: sampleNamespace, Name: got.Status.RoleBinding}, rb); err != nil {
				return fmt.Errorf("RoleBinding %s: %w", got.Status.RoleBinding, err)
			}
			return checkBinding(rb)
		})
	if err != nil {
		return err
	}
	ready := meta.FindStatusCondition(ar.Status.Conditions, accessv1alpha1.ConditionReady)
	d.say("Granted: Ready=True, reason %s: %s", ready.Reason, ready.Message)
	d.detail("status.roleBinding=%s, grantedAt=%s, expiresAt=%s (in %.1fs)", ar.Status.RoleBinding,
		fmtTime(ar.Status.GrantedAt), fmtTime(ar.Status.ExpiresAt), time.Until(ar.Status.ExpiresAt.Time).Seconds())
	d.detail("RoleBinding %s/%s: labels %s=%s, %s=%s; subject ServiceAccount %s/%s; roleRef %s %s",
		rb.Namespace, rb.Name, accessv1alpha1.ManagedByLabel, rb.Labels[accessv1alpha1.ManagedByLabel],
		accessv1alpha1.RequestLabel, rb.Labels[accessv1alpha1.RequestLabel],
		rb.Subjects[0].Namespace, rb.Subjects[0].Name, rb.RoleRef.Kind, rb.RoleRef.Name)
	if len(ar.Status.Approvals) > 0 {
		a := ar.Status.Approvals[0]
		d.detail("approvals: %s %s in tier %s (decision %s)", a.Reviewer, a.Decision, a.Tier, a.DecisionRef)
	}
	// The API server's RBAC authorizer sees the binding through its own
	// informer, so the answer may lag the binding by a moment.
	var review *authorizationv1.SubjectAccessReview
	err = d.waitFor(ctx, "the SubjectAccessReview to be allowed", func(ctx context.Context) error {
		r, err := d.sar(ctx)
		if err != nil {
			return err
		}
		review = r
		if !r.Status.Allowed {
			return errors.New(sarAnswer(r))
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.detail("%s -> %s", sarQuestion(), sarAnswer(review))
	return nil
}

// checkBinding verifies a RoleBinding is the one rolegate must create for
// the sample request.
func checkBinding(rb *rbacv1.RoleBinding) error {
	if v := rb.Labels[accessv1alpha1.ManagedByLabel]; v != accessv1alpha1.ManagedByValue {
		return errFatal{fmt.Errorf("RoleBinding %s has label %s=%q, want %q",
			rb.Name, accessv1alpha1.ManagedByLabel, v, accessv1alpha1.ManagedByValue)}
	}
	if v := rb.Labels[accessv1alpha1.RequestLabel]; v != sampleRequest {
		return errFatal{fmt.Errorf("RoleBinding %s has label %s=%q, want %q", rb.Name, accessv1alpha1.RequestLabel, v, sampleRequest)}
	}
	want := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: sampleServiceAccount, Namespace: sampleNamespace}
	if len(rb.Subjects) != 1 || !sameSubject(rb.Subjects[0], want) {
		return errFatal{fmt.Errorf("RoleBinding %s has subjects %+v, want exactly one ServiceAccount %s/%s",
			rb.Name, rb.Subjects, want.Namespace, want.Name)}
	}
	if rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != sampleRole || rb.RoleRef.APIGroup != rbacv1.GroupName {
		return errFatal{fmt.Errorf("RoleBinding %s has roleRef %+v, want Role %s", rb.Name, rb.RoleRef, sampleRole)}
	}
	return nil
}

func sameSubject(a, b rbacv1.Subject) bool {
	return a.Kind == b.Kind && a.Name == b.Name && a.Namespace == b.Namespace
}

// Step 6.
func (d *demo) expired(ctx context.Context) error {
	ar, err := d.getRequest(ctx)
	if err != nil {
		return err
	}
	binding := ar.Status.RoleBinding
	if ar.Status.ExpiresAt != nil {
		printf(d.out, "[%6s]    waiting for expiry at %s (%.1fs from now) ...\n", d.elapsed(),
			fmtTime(ar.Status.ExpiresAt), time.Until(ar.Status.ExpiresAt.Time).Seconds())
	}
	ar, err = d.waitForReady(ctx, sampleRequest, accessv1alpha1.ReasonExpired, "the request to expire and its RoleBinding to be removed",
		func(ctx context.Context, got *accessv1alpha1.AccessRequest) error {
			switch {
			case !meta.IsStatusConditionTrue(got.Status.Conditions, accessv1alpha1.ConditionExpired):
				return fmt.Errorf("the Ready reason is Expired but Expired is not True: %s", describeRequest(got))
			case got.Status.RevokedAt == nil:
				return fmt.Errorf("status.revokedAt is not set: %s", describeRequest(got))
			}
			if binding != "" {
				err := d.env.k8s.Get(ctx, client.ObjectKey{Namespace: sampleNamespace, Name: binding}, &rbacv1.RoleBinding{})
				if err == nil {
					return fmt.Errorf("RoleBinding %s still exists", binding)
				} else if !apierrors.IsNotFound(err) {
					return err
				}
			}
			left := &rbacv1.RoleBindingList{}
			if err := d.env.k8s.List(ctx, left, client.InNamespace(sampleNamespace),
				client.MatchingLabels{accessv1alpha1.RequestLabel: sampleRequest}); err != nil {
				return err
			}
			if len(left.Items) > 0 {
				return fmt.Errorf("a RoleBinding (%s) labelled %s=%s still exists", left.Items[0].Name, accessv1alpha1.RequestLabel, sampleRequest)
			}
			return nil
		})
	if err != nil {
		return err
	}
	ready := meta.FindStatusCondition(ar.Status.Conditions, accessv1alpha1.ConditionReady)
	expired := meta.FindStatusCondition(ar.Status.Conditions, accessv1alpha1.ConditionExpired)
	granted := meta.FindStatusCondition(ar.Status.Conditions, accessv1alpha1.ConditionGranted)
	d.say("Expired: Ready=True, reason %s: %s", ready.Reason, ready.Message)
	d.detail("Expired=%s (%s); Granted=%s (%s)", expired.Status, expired.Reason, granted.Status, granted.Reason)
	lag := ""
	if ar.Status.ExpiresAt != nil {
		lag = fmt.Sprintf(", %.2fs after expiresAt %s", ar.Status.RevokedAt.Sub(ar.Status.ExpiresAt.Time).Seconds(), fmtTime(ar.Status.ExpiresAt))
	}
	d.detail("access revoked: status.revokedAt=%s%s; RoleBinding %s is gone", fmtTime(ar.Status.RevokedAt), lag, binding)
	var review *authorizationv1.SubjectAccessReview
	err = d.waitFor(ctx, "the SubjectAccessReview to be denied", func(ctx context.Context) error {
		r, err := d.sar(ctx)
		if err != nil {
			return err
		}
		review = r
		if r.Status.Allowed {
			return errors.New(sarAnswer(r))
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.detail("%s -> %s", sarQuestion(), sarAnswer(review))
	return nil
}

// breakGlassRequest is the name of the demo's break-glass request.
const breakGlassRequest = "ledger-outage-88"

// Step 7: an emergency. The sample policy offers db-migrator as
// break-glass: granted at once, without approval, and reviewed afterwards.
func (d *demo) breakGlass(ctx context.Context) error {
	ar := &accessv1alpha1.AccessRequest{}
	if err := d.env.readSample(requestSample, ar); err != nil {
		return err
	}
	ar.Name, ar.ResourceVersion = breakGlassRequest, ""
	ar.Spec.Duration = metav1.Duration{Duration: d.opts.Duration}
	ar.Spec.Justification = "INC-88: ledger writes failing, migration lock stuck"
	ar.Spec.Tags[accessv1alpha1.BreakGlassTag] = accessv1alpha1.BreakGlassTagValue
	alice, err := d.env.as(sampleRequester, sampleRequesterGroup)
	if err != nil {
		return err
	}
	created := time.Now()
	if err := alice.Create(ctx, ar); err != nil {
		return fmt.Errorf("creating AccessRequest %s/%s: %w", ar.Namespace, ar.Name, err)
	}
	key := client.ObjectKeyFromObject(ar)
	ar, err = d.waitForReady(ctx, breakGlassRequest, accessv1alpha1.ReasonGranted, "the break-glass request to be Granted and awaiting review",
		func(_ context.Context, got *accessv1alpha1.AccessRequest) error {
			switch {
			case !meta.IsStatusConditionTrue(got.Status.Conditions, accessv1alpha1.ConditionBreakGlass):
				return fmt.Errorf("the BreakGlass condition is not True: %s", describeRequest(got))
			case !policy.AwaitsReview(got):
				return fmt.Errorf("the Reviewed condition is not ReviewPending: %s", describeRequest(got))
			}
			return nil
		})
	if err != nil {
		return err
	}
	d.say("Break-glass: AccessRequest %s tagged type=break-glass granted %.2fs after creation, without approval",
		key, time.Since(created).Seconds())
	d.detail("BreakGlass=True; Reviewed=False, reason %s: %s", accessv1alpha1.ReasonReviewPending,
		meta.FindStatusCondition(ar.Status.Conditions, accessv1alpha1.ConditionReviewed).Message)
	d.detail("a Warning event, an audit line and rolegate_break_glass_total record it; rolegate_break_glass_unreviewed counts it until review")

	carol, err := d.env.as(sampleReviewer, sampleReviewerGroup)
	if err != nil {
		return err
	}
	ack := &accessv1alpha1.AccessDecision{
		ObjectMeta: metav1.ObjectMeta{Namespace: sampleNamespace, Name: breakGlassRequest + "-" + sampleReviewer},
		Spec: accessv1alpha1.AccessDecisionSpec{Request: breakGlassRequest, Decision: accessv1alpha1.DecisionAcknowledge,
			Comment: "INC-88 postmortem reviewed"},
	}
	if err := carol.Create(ctx, ack); err != nil {
		return fmt.Errorf("acknowledging %s: %w", key, err)
	}
	var reviewed *metav1.Condition
	err = d.waitFor(ctx, "the break-glass grant to be Reviewed=True", func(ctx context.Context) error {
		if err := d.env.k8s.Get(ctx, key, ar); err != nil {
			return err
		}
		reviewed = meta.FindStatusCondition(ar.Status.Conditions, accessv1alpha1.ConditionReviewed)
		if reviewed == nil || reviewed.Status != metav1.ConditionTrue {
			return fmt.Errorf("not reviewed yet: %s", describeRequest(ar))
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.detail("%s acknowledged it (decision %s): Reviewed=True, reason %s: %s", sampleReviewer, accessv1alpha1.DecisionAcknowledge,
		reviewed.Reason, reviewed.Message)
	return nil
}

// Step 8.
func (d *demo) auditTrail(ctx context.Context) error {
	// Events and audit lines are written right after the status they
	// describe, so they may trail it by a moment.
	var lines []string
	var events []eventsv1.Event
	err := d.waitFor(ctx, "the audit trail of the grant and the expiry", func(ctx context.Context) error {
		lines = d.audit.Lines()
		var err error
		if events, err = d.requestEvents(ctx); err != nil {
			return err
		}
		var missing []string
		for _, want := range []string{accessv1alpha1.ReasonGranted, accessv1alpha1.ReasonExpired} {
			if !hasAuditEvent(lines, want) {
				missing = append(missing, "audit line "+want)
			}
			if !hasEventReason(events, want) {
				missing = append(missing, "event "+want)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("missing %s (have %d audit lines, %d events)", strings.Join(missing, ", "), len(lines), len(events))
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.say("Audit trail: %d JSON audit lines from the manager, %d events on AccessRequest %s", len(lines), len(events), sampleRequest)
	d.detail("audit log (one JSON line per state change):")
	for _, l := range lines {
		d.detail("  %s", l)
	}
	d.detail("events (events.k8s.io/v1, regarding.name=%s):", sampleRequest)
	for _, ev := range events {
		d.detail("  %-8s %-10s %s", ev.Type, ev.Reason, ev.Note)
	}
	return nil
}

// requestEvents lists the events about the sample request, oldest first.
func (d *demo) requestEvents(ctx context.Context) ([]eventsv1.Event, error) {
	list := &eventsv1.EventList{}
	err := d.env.k8s.List(ctx, list, client.InNamespace(sampleNamespace), client.MatchingFields{"regarding.name": sampleRequest})
	if apierrors.IsBadRequest(err) { // field selector not supported: filter here
		err = d.env.k8s.List(ctx, list, client.InNamespace(sampleNamespace))
	}
	if err != nil {
		return nil, fmt.Errorf("listing events: %w", err)
	}
	var out []eventsv1.Event
	for _, ev := range list.Items {
		if ev.Regarding.Name == sampleRequest && ev.Regarding.Kind == "AccessRequest" {
			out = append(out, ev)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return eventTime(out[i]).Before(eventTime(out[j])) })
	return out, nil
}

func eventTime(ev eventsv1.Event) time.Time {
	if !ev.EventTime.IsZero() {
		return ev.EventTime.Time
	}
	return ev.CreationTimestamp.Time
}

func hasEventReason(events []eventsv1.Event, reason string) bool {
	for _, ev := range events {
		if ev.Reason == reason {
			return true
		}
	}
	return false
}

func hasAuditEvent(lines []string, event string) bool {
	for _, l := range lines {
		var rec struct {
			Event   string `json:"event"`
			Request string `json:"request"`
		}
		if json.Unmarshal([]byte(l), &rec) == nil && rec.Event == event && rec.Request == sampleRequest {
			return true
		}
	}
	return false
}

// isTerminal reports Ready reasons a request does not leave.
func isTerminal(reason string) bool {
	switch reason {
	case accessv1alpha1.ReasonInvalid, accessv1alpha1.ReasonDenied, accessv1alpha1.ReasonTimedOut,
		accessv1alpha1.ReasonRevoked, accessv1alpha1.ReasonExpired, accessv1alpha1.ReasonPolicyChanged:
		return true
	}
	return false
}

// describeRequest summarises a request's status for error messages.
func describeRequest(ar *accessv1alpha1.AccessRequest) string {
	if len(ar.Status.Conditions) == 0 {
		return "no status conditions yet"
	}
	var parts []string
	for _, c := range ar.Status.Conditions {
		p := fmt.Sprintf("%s=%s/%s", c.Type, c.Status, c.Reason)
		if c.Type == accessv1alpha1.ConditionReady && c.Message != "" {
			p += fmt.Sprintf(" %q", c.Message)
		}
		parts = append(parts, p)
	}
	s := "conditions " + strings.Join(parts, ", ")
	s += fmt.Sprintf("; tier=%q effectiveSensitivity=%q roleBinding=%q expiresAt=%s revokedAt=%s",
		ar.Status.Tier, ar.Status.EffectiveSensitivity, ar.Status.RoleBinding, fmtTime(ar.Status.ExpiresAt), fmtTime(ar.Status.RevokedAt))
	return s
}

func requesterName(ar *accessv1alpha1.AccessRequest) string {
	if ar.Spec.Requester == nil || ar.Spec.Requester.Username == "" {
		return "(no requester)"
	}
	return ar.Spec.Requester.Username
}

func fmtTime(t *metav1.Time) string {
	if t == nil {
		return "<unset>"
	}
	return t.UTC().Format("15:04:05Z")
}
