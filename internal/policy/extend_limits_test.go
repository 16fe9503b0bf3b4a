package policy

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

func TestExtensionLimitsAreCheckedBeforeApproval(t *testing.T) {
	applied := func(name string, d time.Duration) accessv1alpha1.ExtensionRecord {
		return accessv1alpha1.ExtensionRecord{Request: name, Duration: dur(d), ApprovedAt: metav1.NewTime(t0.Add(time.Minute))}
	}
	cases := []struct {
		name     string
		max      int32
		records  []accessv1alpha1.ExtensionRecord
		duration time.Duration
		// want is empty for an extension that may go to approval.
		want string
	}{
		{name: "an extension within maxExtensions goes to approval", max: 2,
			records: []accessv1alpha1.ExtensionRecord{applied("x1", 30*time.Minute)}, duration: time.Hour},
		{name: "an extension past maxExtensions is refused with the controller's words", max: 1,
			records: []accessv1alpha1.ExtensionRecord{applied("x1", 30*time.Minute)}, duration: 10 * time.Minute,
			want: "ledger-migrate-4711 cannot be extended: the grant already has the 1 extension(s) the policy allows (maxExtensions); " +
				"request new access when it ends"},
		{name: "an extension that would exceed the total time is refused and says how much is left", max: 2,
			records: []accessv1alpha1.ExtensionRecord{applied("x1", 90*time.Minute)}, duration: time.Hour,
			want: "adding 1h0m0s would extend the grant by more than 2h0m0s (maxDuration × maxExtensions); ask for 30m0s or less"},
		{name: "a duration above maxDuration counts as maxDuration, as the controller applies it", max: 2,
			records: []accessv1alpha1.ExtensionRecord{applied("x1", time.Hour)}, duration: 3 * time.Hour,
			want: "DurationTooLong"},
		{name: "the extension's own applied record does not count against it", max: 1,
			records: []accessv1alpha1.ExtensionRecord{applied("ledger-migrate-4711-more", 30*time.Minute)}, duration: 30 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target := grantedOriginal()
			target.Status.Extensions = tc.records
			ext := extensionOf(target)
			ext.Spec.Duration = dur(tc.duration)
			res := Evaluate(Input{Request: ext, Policies: []accessv1alpha1.ApprovalPolicy{*extensionPolicy(tc.max)},
				NamespaceLabels: paymentsNS, RoleExists: true, Now: t0.Add(10 * time.Minute), Extends: target})
			if tc.want == "" {
				if res.Outcome != OutcomePending {
					t.Fatalf("got %s %v, want Pending", res.Outcome, res.Violations)
				}
				return
			}
			var got []string
			for _, v := range res.Violations {
				got = append(got, v.Reason+" "+v.Error())
			}
			if res.Outcome != OutcomeInvalid || !strings.Contains(strings.Join(got, "|"), tc.want) {
				t.Fatalf("got %s %q, want a violation containing %q", res.Outcome, got, tc.want)
			}
		})
	}
}

func TestExtensionRefusedAtAdmissionUsesTheWordsOfTheController(t *testing.T) {
	_, _, refused := applyExtensions(t0.Add(time.Hour), []Extension{
		{Name: "x1", Duration: 30 * time.Minute, ApprovedAt: t0.Add(time.Minute)},
		{Name: "x2", Duration: 30 * time.Minute, ApprovedAt: t0.Add(2 * time.Minute)},
	}, 1, time.Hour)
	target := grantedOriginal()
	target.Status.Extensions = []accessv1alpha1.ExtensionRecord{{Request: "x1", Duration: dur(30 * time.Minute)}}
	ext := extensionOf(target)
	ext.Name = "x2"
	v := extensionRoom(extensionPolicy(1), ext, target)
	if v == nil || v.Reason != accessv1alpha1.ReasonExtensionLimitReached || !strings.Contains(v.Message, refused["x2"]) {
		t.Fatalf("admission says %+v; the controller says %q", v, refused["x2"])
	}
}
