package policy

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// breakGlassPolicy offers db-migrator as break-glass for up to 30 minutes.
func breakGlassPolicy() *accessv1alpha1.ApprovalPolicy {
	p := paymentsPolicy()
	p.Spec.Entitlements[1].BreakGlass = &accessv1alpha1.BreakGlass{MaxDuration: dur(30 * time.Minute)}
	return p
}

func breakGlassRequest() *accessv1alpha1.AccessRequest {
	r := migrateRequest()
	r.Spec.Tags["type"] = accessv1alpha1.BreakGlassTagValue
	r.Spec.Duration = dur(20 * time.Minute)
	return r
}

func evaluate(p *accessv1alpha1.ApprovalPolicy, r *accessv1alpha1.AccessRequest, ds []accessv1alpha1.AccessDecision, granted, now time.Duration) Result {
	in := Input{Request: r, Policies: []accessv1alpha1.ApprovalPolicy{*p}, NamespaceLabels: paymentsNS,
		Decisions: ds, RoleExists: true, Now: t0.Add(now)}
	if granted >= 0 {
		in.GrantedAt = t0.Add(granted)
	}
	return Evaluate(in)
}

func TestBreakGlass(t *testing.T) {
	t.Run("is granted at once, without approval, for at most its maxDuration", func(t *testing.T) {
		res := evaluate(breakGlassPolicy(), breakGlassRequest(), nil, -1, time.Second)
		if res.Outcome != OutcomeGrant || !res.Tally.BreakGlass || res.Tally.Acknowledged != nil {
			t.Fatalf("outcome %s breakGlass %v ack %v, want an unreviewed break-glass grant", res.Outcome, res.Tally.BreakGlass, res.Tally.Acknowledged)
		}
		if want := t0.Add(time.Second + 20*time.Minute); !res.ExpiresAt.Equal(want) {
			t.Errorf("expiresAt %s, want %s", res.ExpiresAt, want)
		}
		if res.Tally.Tier.Index != 1 {
			t.Errorf("reviewing tier %d, want 1 (security decides sensitivity high)", res.Tally.Tier.Index)
		}
	})
	t.Run("is refused beyond the break-glass maxDuration", func(t *testing.T) {
		r := breakGlassRequest()
		r.Spec.Duration = dur(45 * time.Minute)
		res := evaluate(breakGlassPolicy(), r, nil, -1, time.Second)
		if res.Outcome != OutcomeInvalid || res.Violations[0].Reason != accessv1alpha1.ReasonDurationTooLong ||
			!strings.Contains(res.Violations[0].Message, "break-glass maxDuration 30m0s") {
			t.Fatalf("got %s %v, want DurationTooLong naming the break-glass maxDuration", res.Outcome, res.Violations)
		}
	})
	t.Run("always needs a justification", func(t *testing.T) {
		p := breakGlassPolicy()
		p.Spec.RequireJustification = new(bool)
		r := breakGlassRequest()
		r.Spec.Justification = " "
		res := evaluate(p, r, nil, -1, time.Second)
		if res.Outcome != OutcomeInvalid || res.Violations[0].Reason != accessv1alpha1.ReasonJustificationRequired {
			t.Fatalf("got %s %v, want JustificationRequired", res.Outcome, res.Violations)
		}
	})
	t.Run("a break-glass tag on an entitlement without breakGlass goes through approval", func(t *testing.T) {
		res := evaluate(paymentsPolicy(), breakGlassRequest(), nil, -1, time.Second)
		if res.Outcome != OutcomePending || res.Tally.BreakGlass {
			t.Fatalf("got %s (breakGlass %v), want Pending", res.Outcome, res.Tally.BreakGlass)
		}
	})
	ack := func(name, who string, groups []string, after time.Duration) accessv1alpha1.AccessDecision {
		return decision(name, who, groups, accessv1alpha1.DecisionAcknowledge, after)
	}
	cases := []struct {
		name      string
		decisions []accessv1alpha1.AccessDecision
		verdicts  map[string]string
		acked     string
	}{
		{name: "an eligible reviewer acknowledges it",
			decisions: []accessv1alpha1.AccessDecision{ack("a1", "carol", security, time.Minute)},
			verdicts:  map[string]string{"a1": accessv1alpha1.ReasonCounted}, acked: "carol"},
		{name: "the requester may not acknowledge their own break-glass",
			decisions: []accessv1alpha1.AccessDecision{ack("a1", "dave", security, time.Minute)},
			verdicts:  map[string]string{"a1": accessv1alpha1.ReasonSelfApproval}},
		{name: "a reviewer below the deciding tier may not acknowledge",
			decisions: []accessv1alpha1.AccessDecision{ack("a1", "alice", owners, time.Minute)},
			verdicts:  map[string]string{"a1": accessv1alpha1.ReasonNotEligible}},
		{name: "the first acknowledgement counts, a second is a duplicate",
			decisions: []accessv1alpha1.AccessDecision{ack("a1", "carol", security, time.Minute), ack("a2", "erin", security, 2*time.Minute)},
			verdicts:  map[string]string{"a1": accessv1alpha1.ReasonCounted, "a2": accessv1alpha1.ReasonDuplicate}, acked: "carol"},
		{name: "an approval is not needed and does not count",
			decisions: []accessv1alpha1.AccessDecision{decision("a1", "carol", security, approve, time.Minute)},
			verdicts:  map[string]string{"a1": accessv1alpha1.ReasonRequestNotPending}},
		{name: "an acknowledgement after the grant expired still counts",
			decisions: []accessv1alpha1.AccessDecision{ack("a1", "carol", security, 3*time.Hour)},
			verdicts:  map[string]string{"a1": accessv1alpha1.ReasonCounted}, acked: "carol"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := evaluate(breakGlassPolicy(), breakGlassRequest(), tc.decisions, 0, 4*time.Hour)
			for name, want := range tc.verdicts {
				if got := res.Tally.Verdicts[name].Reason; got != want {
					t.Errorf("verdict %s = %s (%s), want %s", name, got, res.Tally.Verdicts[name].Message, want)
				}
			}
			got := ""
			if res.Tally.Acknowledged != nil {
				got = res.Tally.Acknowledged.Reviewer
			}
			if got != tc.acked {
				t.Errorf("acknowledged by %q, want %q", got, tc.acked)
			}
		})
	}
	t.Run("an Acknowledge on an ordinary request does not count", func(t *testing.T) {
		res := evaluate(paymentsPolicy(), migrateRequest(), []accessv1alpha1.AccessDecision{ack("a1", "carol", security, time.Minute)}, -1, time.Hour)
		if got := res.Tally.Verdicts["a1"].Reason; got != accessv1alpha1.ReasonNotBreakGlass {
			t.Errorf("verdict %s, want NotBreakGlass", got)
		}
	})
	t.Run("a revoke still ends a break-glass grant", func(t *testing.T) {
		res := evaluate(breakGlassPolicy(), breakGlassRequest(),
			[]accessv1alpha1.AccessDecision{decision("r1", "carol", security, accessv1alpha1.DecisionRevoke, time.Minute)}, 0, 2*time.Minute)
		if res.Outcome != OutcomeRevoked {
			t.Errorf("outcome %s, want Revoked", res.Outcome)
		}
	})
}

func TestScheduledStart(t *testing.T) {
	approved := []accessv1alpha1.AccessDecision{
		decision("d1", "carol", security, approve, time.Minute),
		decision("d2", "erin", security, approve, 2*time.Minute),
	}
	scheduled := func(at time.Duration) *accessv1alpha1.AccessRequest {
		r := migrateRequest()
		st := metav1.NewTime(t0.Add(at))
		r.Spec.StartTime = &st
		return r
	}
	t.Run("approved early, it waits for its start time", func(t *testing.T) {
		res := evaluate(paymentsPolicy(), scheduled(3*time.Hour), approved, -1, time.Hour)
		if res.Outcome != OutcomeScheduled || res.RequeueAfter != 2*time.Hour {
			t.Fatalf("got %s requeue %s, want Scheduled requeue 2h", res.Outcome, res.RequeueAfter)
		}
		if want := t0.Add(4 * time.Hour); !res.ExpiresAt.Equal(want) {
			t.Errorf("planned expiresAt %s, want %s", res.ExpiresAt, want)
		}
	})
	t.Run("at its start time it is granted until startTime plus duration", func(t *testing.T) {
		res := evaluate(paymentsPolicy(), scheduled(3*time.Hour), approved, -1, 3*time.Hour)
		if res.Outcome != OutcomeGrant || !res.ExpiresAt.Equal(t0.Add(4*time.Hour)) || !res.GrantedAt.Equal(t0.Add(3*time.Hour)) {
			t.Fatalf("got %s granted %s expires %s", res.Outcome, res.GrantedAt, res.ExpiresAt)
		}
	})
	t.Run("granted late, it still ends at startTime plus duration", func(t *testing.T) {
		res := evaluate(paymentsPolicy(), scheduled(3*time.Hour), approved, 3*time.Hour+40*time.Second, 3*time.Hour+time.Minute)
		if res.Outcome != OutcomeGrant || !res.ExpiresAt.Equal(t0.Add(4*time.Hour)) {
			t.Fatalf("got %s expires %s, want Grant until start+1h", res.Outcome, res.ExpiresAt)
		}
	})
	t.Run("approved after its window closed, it is never granted", func(t *testing.T) {
		res := evaluate(paymentsPolicy(), scheduled(-2*time.Hour), approved, -1, 5*time.Minute)
		if res.Outcome != OutcomeExpired {
			t.Fatalf("got %s, want Expired", res.Outcome)
		}
	})
	t.Run("break-glass cannot be scheduled", func(t *testing.T) {
		r := breakGlassRequest()
		st := metav1.NewTime(t0.Add(time.Hour))
		r.Spec.StartTime = &st
		res := evaluate(breakGlassPolicy(), r, nil, -1, time.Second)
		if res.Outcome != OutcomeInvalid || res.Violations[0].Reason != accessv1alpha1.ReasonStartTimeNotAllowed {
			t.Fatalf("got %s %v, want StartTimeNotAllowed", res.Outcome, res.Violations)
		}
	})
	t.Run("an extension cannot be scheduled", func(t *testing.T) {
		r := extensionOf(grantedOriginal())
		st := metav1.NewTime(t0.Add(time.Hour))
		r.Spec.StartTime = &st
		res := Evaluate(Input{Request: r, Policies: []accessv1alpha1.ApprovalPolicy{*extensionPolicy(1)}, NamespaceLabels: paymentsNS,
			RoleExists: true, Now: t0.Add(time.Minute), Extends: grantedOriginal()})
		if res.Outcome != OutcomeInvalid || res.Violations[0].Field != "spec.startTime" {
			t.Fatalf("got %s %v, want a spec.startTime violation", res.Outcome, res.Violations)
		}
	})
	t.Run("still pending at its start time, it waits for approval", func(t *testing.T) {
		res := evaluate(paymentsPolicy(), scheduled(10*time.Minute), nil, -1, 20*time.Minute)
		if res.Outcome != OutcomePending {
			t.Fatalf("got %s, want Pending", res.Outcome)
		}
	})
}

func extensionPolicy(max int32) *accessv1alpha1.ApprovalPolicy {
	p := paymentsPolicy()
	p.Spec.MaxExtensions = max
	return p
}

// grantedOriginal is the example request, granted at t0.
func grantedOriginal() *accessv1alpha1.AccessRequest {
	r := migrateRequest()
	at := metav1.NewTime(t0)
	r.Status.GrantedAt = &at
	r.Status.Policy = "payments"
	return r
}

func extensionOf(target *accessv1alpha1.AccessRequest) *accessv1alpha1.AccessRequest {
	r := migrateRequest()
	r.Name = "ledger-migrate-4711-more"
	r.Spec.Extends = target.Name
	return r
}

func TestExtensionValidation(t *testing.T) {
	cases := []struct {
		name   string
		max    int32
		target func(*accessv1alpha1.AccessRequest) *accessv1alpha1.AccessRequest
		reason string
		want   string
	}{
		{name: "extensions are off by default", max: 0, reason: accessv1alpha1.ReasonExtensionsNotAllowed, want: "maxExtensions is 0"},
		{name: "the target must exist", max: 1, target: func(*accessv1alpha1.AccessRequest) *accessv1alpha1.AccessRequest { return nil },
			reason: accessv1alpha1.ReasonExtendsInvalid, want: "does not exist"},
		{name: "the target must be the original", max: 1, target: func(r *accessv1alpha1.AccessRequest) *accessv1alpha1.AccessRequest {
			r.Spec.Extends = "first"
			return r
		}, reason: accessv1alpha1.ReasonExtendsInvalid, want: "extend the original request first"},
		{name: "the target must grant the same role", max: 1, target: func(r *accessv1alpha1.AccessRequest) *accessv1alpha1.AccessRequest {
			r.Spec.RoleRef.Name = "config-reader"
			return r
		}, reason: accessv1alpha1.ReasonExtendsInvalid, want: "same role and service account"},
		{name: "the target must grant the same service account", max: 1, target: func(r *accessv1alpha1.AccessRequest) *accessv1alpha1.AccessRequest {
			r.Spec.ServiceAccount.Name = "other"
			return r
		}, reason: accessv1alpha1.ReasonExtendsInvalid, want: "same role and service account"},
		{name: "the target must hold an active grant", max: 1, target: func(r *accessv1alpha1.AccessRequest) *accessv1alpha1.AccessRequest {
			now := metav1.NewTime(t0.Add(time.Hour))
			r.Status.RevokedAt = &now
			return r
		}, reason: accessv1alpha1.ReasonExtendsInvalid, want: "does not hold an active grant"},
		{name: "a pending target cannot be extended", max: 1, target: func(r *accessv1alpha1.AccessRequest) *accessv1alpha1.AccessRequest {
			r.Status.GrantedAt = nil
			return r
		}, reason: accessv1alpha1.ReasonExtendsInvalid, want: "does not hold an active grant"},
		{name: "a valid extension passes", max: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target := grantedOriginal()
			if tc.target != nil {
				target = tc.target(target)
			}
			ext := extensionOf(grantedOriginal())
			in := Input{Request: ext, Policies: []accessv1alpha1.ApprovalPolicy{*extensionPolicy(tc.max)}, NamespaceLabels: paymentsNS,
				RoleExists: true, Now: t0.Add(10 * time.Minute), Extends: target}
			res := Evaluate(in)
			if tc.reason == "" {
				if res.Outcome != OutcomePending {
					t.Fatalf("got %s %v, want Pending", res.Outcome, res.Violations)
				}
				return
			}
			if res.Outcome != OutcomeInvalid || res.Violations[0].Reason != tc.reason || res.Violations[0].Field != FieldExtends ||
				!strings.Contains(res.Violations[0].Message, tc.want) {
				t.Fatalf("got %s %v, want %s on spec.extends mentioning %q", res.Outcome, res.Violations, tc.reason, tc.want)
			}
		})
	}
	t.Run("an approved extension holds no grant of its own", func(t *testing.T) {
		ds := []accessv1alpha1.AccessDecision{
			decision("d1", "carol", security, approve, time.Minute), decision("d2", "erin", security, approve, 2*time.Minute)}
		for i := range ds {
			ds[i].Spec.Request = "ledger-migrate-4711-more"
		}
		res := Evaluate(Input{Request: extensionOf(grantedOriginal()), Policies: []accessv1alpha1.ApprovalPolicy{*extensionPolicy(1)},
			NamespaceLabels: paymentsNS, Decisions: ds, RoleExists: true, Now: t0.Add(10 * time.Minute), Extends: grantedOriginal()})
		if res.Outcome != OutcomeExtended {
			t.Fatalf("got %s, want Extended", res.Outcome)
		}
	})
}

func TestApplyExtensions(t *testing.T) {
	approvedGrant := func(exts []Extension, max int32, now time.Duration) Result {
		ds := []accessv1alpha1.AccessDecision{
			decision("d1", "carol", security, approve, time.Minute), decision("d2", "erin", security, approve, 2*time.Minute)}
		return Evaluate(Input{Request: grantedOriginal(), Policies: []accessv1alpha1.ApprovalPolicy{*extensionPolicy(max)},
			NamespaceLabels: paymentsNS, Decisions: ds, RoleExists: true, GrantedAt: t0, Now: t0.Add(now), Extensions: exts})
	}
	ext := func(name string, d, approvedAfter time.Duration) Extension {
		return Extension{Name: name, Duration: d, ApprovedAt: t0.Add(approvedAfter)}
	}
	t.Run("an extension approved in time moves expiresAt by its duration", func(t *testing.T) {
		res := approvedGrant([]Extension{ext("x1", 30*time.Minute, 50*time.Minute)}, 2, 70*time.Minute)
		if res.Outcome != OutcomeGrant || !res.ExpiresAt.Equal(t0.Add(90*time.Minute)) || len(res.Extensions) != 1 {
			t.Fatalf("got %s until %s with %v", res.Outcome, res.ExpiresAt, res.Extensions)
		}
	})
	t.Run("extensions chain in approval order, up to maxExtensions", func(t *testing.T) {
		res := approvedGrant([]Extension{
			ext("x3", time.Hour, 100*time.Minute), ext("x1", time.Hour, 50*time.Minute), ext("x2", time.Hour, 90*time.Minute),
		}, 2, 100*time.Minute)
		if !res.ExpiresAt.Equal(t0.Add(3*time.Hour)) || len(res.Extensions) != 2 || res.Extensions[0].Request != "x1" {
			t.Fatalf("expires %s, applied %v", res.ExpiresAt, res.Extensions)
		}
		if why := res.RefusedExtensions["x3"]; !strings.Contains(why, "already has the 2 extension(s)") {
			t.Errorf("x3 refused with %q, want the maxExtensions cap", why)
		}
	})
	t.Run("an extension approved after the grant ended is refused", func(t *testing.T) {
		res := approvedGrant([]Extension{ext("late", 30*time.Minute, 61*time.Minute)}, 2, 62*time.Minute)
		if res.Outcome != OutcomeExpired || !strings.Contains(res.RefusedExtensions["late"], "already ended") {
			t.Fatalf("got %s, refused %v", res.Outcome, res.RefusedExtensions)
		}
	})
	t.Run("an applied extension keeps its place against one approved in the same second", func(t *testing.T) {
		_, applied, refused := applyExtensions(t0.Add(time.Hour),
			[]Extension{ext("b-more", time.Minute, time.Minute), {Name: "c-more", Duration: time.Minute, ApprovedAt: t0.Add(time.Minute), Applied: true}},
			1, time.Hour)
		if len(applied) != 1 || applied[0].Request != "c-more" || refused["b-more"] == "" {
			t.Fatalf("applied %v refused %v, want c-more kept", applied, refused)
		}
	})
	t.Run("the time added never exceeds maxDuration times maxExtensions", func(t *testing.T) {
		// maxDuration shrank to 10m after the extensions were approved.
		exp, applied, refused := applyExtensions(t0.Add(time.Hour),
			[]Extension{ext("x1", 15*time.Minute, time.Minute), ext("x2", 15*time.Minute, 2*time.Minute)}, 2, 10*time.Minute)
		if !exp.Equal(t0.Add(75*time.Minute)) || len(applied) != 1 || !strings.Contains(refused["x2"], "maxDuration × maxExtensions") {
			t.Fatalf("expires %s applied %v refused %v", exp, applied, refused)
		}
	})
}
