package notify

import (
	"net/http"
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	b := DefaultBackoff()
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	for i, w := range want {
		if got := b.delay(i + 1); got != w {
			t.Errorf("delay before retry %d = %s, want %s", i+1, got, w)
		}
	}
	if b.Attempts != 5 || b.Max != 30*time.Second {
		t.Errorf("DefaultBackoff = %+v, want 5 attempts, max 30s", b)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for name, tc := range map[string]struct {
		header string
		want   time.Duration
	}{
		"seconds":            {"7", 7 * time.Second},
		"an HTTP date":       {now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		"a date in the past": {now.Add(-time.Minute).Format(http.TimeFormat), 0},
		"absent":             {"", 0},
		"negative":           {"-3", 0},
		"neither":            {"soon", 0},
		"surrounding spaces": {" 2 ", 2 * time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			if got := retryAfter(tc.header, now); got != tc.want {
				t.Errorf("retryAfter(%q) = %s, want %s", tc.header, got, tc.want)
			}
		})
	}
}
