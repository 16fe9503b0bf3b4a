package notify_test

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/notify"
)

func TestExpiringDue(t *testing.T) {
	lead := func(tg accessv1alpha1.NotificationTarget, d time.Duration) accessv1alpha1.NotificationTarget {
		tg.ExpiringLeadTime = &metav1.Duration{Duration: d}
		return tg
	}
	p := policy(
		webhook("default-lead", "https://a.example.com"),                              // 10m
		lead(webhook("early", "https://b.example.com"), time.Hour),                    // 1h
		lead(webhook("late", "https://c.example.com"), 2*time.Minute),                 // 2m
		webhook("grants-only", "https://d.example.com", accessv1alpha1.NotifyGranted), // never
	)
	expires := t0.Add(2 * time.Hour)
	for name, tc := range map[string]struct {
		now      time.Time
		wantDue  []string
		wantNext time.Time
	}{
		"nothing is due two hours before expiry": {
			now: t0, wantNext: expires.Add(-time.Hour),
		},
		"the target with the longest lead time hears first": {
			now: expires.Add(-30 * time.Minute), wantDue: []string{"early"}, wantNext: expires.Add(-10 * time.Minute),
		},
		"the default lead time is ten minutes": {
			now: expires.Add(-10 * time.Minute), wantDue: []string{"default-lead", "early"}, wantNext: expires.Add(-2 * time.Minute),
		},
		"every subscribed target is due in the last two minutes": {
			now: expires.Add(-time.Minute), wantDue: []string{"default-lead", "early", "late"},
		},
		"nothing is due once the grant has ended": {
			now: expires,
		},
	} {
		t.Run(name, func(t *testing.T) {
			due, next := notify.ExpiringDue(p, expires, tc.now)
			if !slices.Equal(due, tc.wantDue) || !next.Equal(tc.wantNext) {
				t.Errorf("ExpiringDue = %v, %v; want %v, %v", due, next, tc.wantDue, tc.wantNext)
			}
		})
	}
}

func TestSubscribed(t *testing.T) {
	p := policy(
		webhook("all", "https://a.example.com"),
		webhook("grants", "https://b.example.com", accessv1alpha1.NotifyGranted, accessv1alpha1.NotifyBreakGlass),
		webhook("pending", "https://c.example.com", accessv1alpha1.NotifyPending),
	)
	names := func(ts []accessv1alpha1.NotificationTarget) []string {
		var out []string
		for _, tg := range ts {
			out = append(out, tg.Name)
		}
		return out
	}
	for name, tc := range map[string]struct {
		ev   accessv1alpha1.NotificationEvent
		only []string
		want []string
	}{
		"targets without events hear everything":       {accessv1alpha1.NotifyRevoked, nil, []string{"all"}},
		"targets with events hear only those":          {accessv1alpha1.NotifyBreakGlass, nil, []string{"all", "grants"}},
		"only restricts to the named targets":          {accessv1alpha1.NotifyBreakGlass, []string{"grants"}, []string{"grants"}},
		"only does not override a target's events":     {accessv1alpha1.NotifyBreakGlass, []string{"pending"}, nil},
		"an unknown name in only selects nothing else": {accessv1alpha1.NotifyPending, []string{"nope"}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			if got := names(notify.Subscribed(p, tc.ev, tc.only)); !slices.Equal(got, tc.want) {
				t.Errorf("Subscribed = %v, want %v", got, tc.want)
			}
		})
	}
}
