package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/metrics"
	"rolegate.dev/rolegate/internal/notify"
	"rolegate.dev/rolegate/test/utils"
)

// receiver is a local webhook target that records what it accepted.
type receiver struct {
	mu       sync.Mutex
	key      []byte
	payloads []notify.Payload
	bad      []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if !notify.Verify(body, rc.key, r.Header.Get(notify.HeaderSignature)) {
		rc.bad = append(rc.bad, string(body))
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var p notify.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		rc.bad = append(rc.bad, string(body))
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.payloads = append(rc.payloads, p)
}

// wait returns the first accepted payload of the event for the request.
func (rc *receiver) wait(t *testing.T, event accessv1alpha1.NotificationEvent, request string) notify.Payload {
	t.Helper()
	var got notify.Payload
	eventually(t, waitLong, func() error {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if len(rc.bad) > 0 {
			t.Fatalf("the receiver refused %d notifications, first: %s", len(rc.bad), rc.bad[0])
		}
		var seen []string
		for _, p := range rc.payloads {
			if p.Event == event && p.Request.Name == request {
				got = p
				return nil
			}
			seen = append(seen, string(p.Event)+"/"+p.Request.Name)
		}
		return fmt.Errorf("no %s notification for %s; received %v", event, request, seen)
	})
	return got
}

func (rc *receiver) count(event accessv1alpha1.NotificationEvent, request string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for _, p := range rc.payloads {
		if p.Event == event && p.Request.Name == request {
			n++
		}
	}
	return n
}

func notifySecret(t *testing.T, name string, data map[string]string) {
	t.Helper()
	utils.RequireEnvtest(t)
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: notifyNamespace}, StringData: data}
	must(t, k8s.Create(t.Context(), s))
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), s) })
}

func TestNotificationsReachApproversSignedAndAFailingTargetDoesNotDelayTheGrant(t *testing.T) {
	utils.RequireEnvtest(t)
	rc := &receiver{key: []byte("s3cret-hmac-key")}
	good := httptest.NewServer(rc)
	defer good.Close()
	// The broken target answers 500 after a long pause: were delivery
	// synchronous, the grant would wait for it.
	release := make(chan struct{})
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-time.After(3 * time.Second):
		}
		http.Error(w, "down for maintenance", http.StatusInternalServerError)
	}))
	defer func() { close(release); broken.Close() }()

	secret := fmt.Sprintf("hooks-%d", time.Now().UnixNano())
	notifySecret(t, secret, map[string]string{"hmac": string(rc.key)})
	w := newWorld(t, breakGlassOn("db-migrator"), func(p *accessv1alpha1.ApprovalPolicy) {
		p.Spec.Notify = []accessv1alpha1.NotificationTarget{
			{Name: "approvers", Webhook: &accessv1alpha1.WebhookTarget{URL: good.URL,
				SigningSecretRef: &accessv1alpha1.SecretKeySelector{Name: secret, Key: "hmac"}},
				ExpiringLeadTime: &metav1.Duration{Duration: 50 * time.Minute}},
			{Name: "broken", Webhook: &accessv1alpha1.WebhookTarget{URL: broken.URL}},
		}
	})

	// Pending goes to the deciding tier (security, for sensitivity high).
	w.request(t, "migrate", forRole(accessv1alpha1.RoleKindRole, w.role), tagged("sensitivity", "high"))
	p := rc.wait(t, accessv1alpha1.NotifyPending, "migrate")
	if p.Tier != "security" || len(p.Recipients) != 1 || p.Recipients[0].Name != "security-oncall" ||
		p.Policy != w.policy || p.Target != "approvers" || p.Requester != "dave" || p.Role != "Role/"+w.role ||
		p.ServiceAccount != w.ns+"/"+w.sa || p.Request.Namespace != w.ns || p.DeliveryID == "" {
		t.Errorf("Pending payload = %+v", p)
	}

	start := time.Now()
	w.decide(t, "migrate", "carol", security, accessv1alpha1.DecisionApprove)
	w.decide(t, "migrate", "erin", security, accessv1alpha1.DecisionApprove)
	w.waitReady(t, "migrate", accessv1alpha1.ReasonGranted)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the grant took %s: a hanging notification target held it up", took)
	}
	granted := rc.wait(t, accessv1alpha1.NotifyGranted, "migrate")
	if granted.ExpiresAt == nil {
		t.Errorf("Granted payload has no expiresAt: %+v", granted)
	}
	// The grant lasts 1h and the lead time is 50m: Expiring is due in 10m,
	// not now.
	if n := rc.count(accessv1alpha1.NotifyExpiring, "migrate"); n != 0 {
		t.Errorf("Expiring sent %d times before its lead time", n)
	}

	// The broken target's failures show on the policy and in the metric.
	eventually(t, waitLong, func() error {
		pol := &accessv1alpha1.ApprovalPolicy{}
		if err := k8s.Get(t.Context(), client.ObjectKey{Name: w.policy}, pol); err != nil {
			return err
		}
		c := meta.FindStatusCondition(pol.Status.Conditions, accessv1alpha1.ConditionNotificationsDelivered)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != accessv1alpha1.ReasonDeliveryFailed ||
			!strings.Contains(c.Message, "target broken") || strings.Contains(c.Message, "target approvers") {
			return fmt.Errorf("NotificationsDelivered = %+v", c)
		}
		return nil
	})
	eventually(t, waitLong, func() error {
		labels := map[string]string{"policy": w.policy, "target": "broken"}
		if v, _, err := utils.MetricValue(registry, metrics.NotificationFailures, labels); err != nil || v < 1 {
			return fmt.Errorf("%s%v = %v (%w), want at least 1", metrics.NotificationFailures, labels, v, err)
		}
		return nil
	})

	// Revoking sends Revoked.
	w.decide(t, "migrate", "carol", security, accessv1alpha1.DecisionRevoke)
	w.waitReady(t, "migrate", accessv1alpha1.ReasonRevoked)
	rc.wait(t, accessv1alpha1.NotifyRevoked, "migrate")

	// Break-glass goes to the tier that reviews it, at once.
	w.request(t, "outage", forRole(accessv1alpha1.RoleKindRole, w.role), lasting(20*time.Minute),
		tagged("type", accessv1alpha1.BreakGlassTagValue), tagged("sensitivity", "high"))
	bg := rc.wait(t, accessv1alpha1.NotifyBreakGlass, "outage")
	if len(bg.Recipients) != 1 || bg.Recipients[0].Name != "security-oncall" || !strings.Contains(bg.Message, "break-glass") {
		t.Errorf("BreakGlass payload = %+v", bg)
	}
	// 20 minutes is inside the 50-minute lead time: Expiring is due at once,
	// and sent once.
	rc.wait(t, accessv1alpha1.NotifyExpiring, "outage")
	consistently(t, time.Second, func() error {
		if n := rc.count(accessv1alpha1.NotifyExpiring, "outage"); n != 1 {
			return fmt.Errorf("Expiring sent %d times", n)
		}
		return nil
	})
	for _, ev := range []accessv1alpha1.NotificationEvent{accessv1alpha1.NotifyPending, accessv1alpha1.NotifyGranted} {
		if n := rc.count(ev, "migrate"); n != 1 {
			t.Errorf("%s sent %d times for one transition", ev, n)
		}
	}
}
