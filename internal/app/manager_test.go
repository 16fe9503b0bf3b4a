package app_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/app"
	"rolegate.dev/rolegate/internal/notify"
	"rolegate.dev/rolegate/test/utils"
)

var (
	cfg *rest.Config
	k8s client.Client
)

func TestMain(m *testing.M) {
	os.Exit(utils.RunWithControlPlane(m, func(c *rest.Config, k client.Client) (func(), error) {
		cfg, k8s = c, k
		return nil, nil
	}))
}

// start runs a manager built with o until the test ends.
func start(t *testing.T, o app.Options) *app.Manager {
	t.Helper()
	o.SkipNameValidation, o.MetricsRegistry, o.AuditLog = true, prometheus.NewRegistry(), io.Discard
	mgr, err := app.NewManager(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager stopped: %v", err)
		}
	})
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal("the manager's cache did not sync")
	}
	return mgr
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k8s.Create(t.Context(), obj); err != nil {
		t.Fatal(err)
	}
}

// A notification reaches a signed webhook: the Dispatcher runs in the
// manager, reads its policy and reads the signing key from the Secret in
// the notification namespace.
func TestManagerDeliversNotifications(t *testing.T) {
	utils.RequireEnvtest(t)
	bodies := make(chan []byte, 10)
	signatures := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- b
		signatures <- r.Header.Get(notify.HeaderSignature)
	}))
	t.Cleanup(srv.Close)

	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "rolegate-notify"}})
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "rolegate-notify", Name: "audit-hmac"},
		Data: map[string][]byte{"key": []byte("s3cr3t")}})
	p := &accessv1alpha1.ApprovalPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "notify-wiring"},
		Spec: accessv1alpha1.ApprovalPolicySpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"rolegate-test": "notify-wiring"}},
			Entitlements: []accessv1alpha1.Entitlement{{
				RoleRef: accessv1alpha1.RoleRef{Kind: "ClusterRole", Name: "view"}, MaxDuration: metav1.Duration{Duration: time.Hour},
				AutoApprove: true,
			}},
			Notify: []accessv1alpha1.NotificationTarget{{Name: "audit", Webhook: &accessv1alpha1.WebhookTarget{
				URL: srv.URL, SigningSecretRef: &accessv1alpha1.SecretKeySelector{Name: "audit-hmac", Key: "key"},
			}}},
		},
	}
	create(t, p)
	// Secrets are read around the cache, so that it does not hold every
	// Secret of the namespace: the cached client never sees them.
	var cachedSecretReads atomic.Int32
	mgr := start(t, app.Options{NotificationNamespace: "rolegate-notify",
		NotificationBackoff: &notify.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond, Attempts: 3},
		Interceptor: &interceptor.Funcs{
			Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
				if _, ok := obj.(*corev1.Secret); ok {
					cachedSecretReads.Add(1)
				}
				return c.Get(ctx, key, obj, opts...)
			},
		}})
	if mgr.Notifier == nil {
		t.Fatal("no Notifier with a NotificationNamespace")
	}

	// The cache may see the policy a moment after it synced.
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		mgr.Notifier.Notify(t.Context(), notify.Notification{
			Event: accessv1alpha1.NotifyGranted, Policy: "notify-wiring", Key: "wiring",
			Request:        notify.RequestRef{Namespace: "payments", Name: "view-1"},
			ServiceAccount: "payments/api", Role: "ClusterRole/view",
		})
		select {
		case body := <-bodies:
			if sig := <-signatures; !notify.Verify(body, []byte("s3cr3t"), sig) {
				t.Errorf("the delivery is not signed with the Secret's key: %q", sig)
			}
			got := &accessv1alpha1.ApprovalPolicy{}
			if err := k8s.Get(t.Context(), client.ObjectKeyFromObject(p), got); err != nil {
				t.Fatal(err)
			}
			waitForCondition(t, mgr.Notifier, got, metav1.ConditionTrue)
			if n := cachedSecretReads.Load(); n != 0 {
				t.Errorf("the notifier read %d Secrets through the cached client", n)
			}
			return
		case <-tick.C:
		case <-deadline:
			t.Fatal("the webhook received nothing")
		}
	}
}

func waitForCondition(t *testing.T, d *notify.Dispatcher, p *accessv1alpha1.ApprovalPolicy, want metav1.ConditionStatus) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, ok := d.Condition(p)
		if ok && c.Status == want && c.Reason == accessv1alpha1.ReasonDelivered {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("NotificationsDelivered = %+v (reported %v), want %s", c, ok, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestManagerWithoutNotificationNamespaceHasNoNotifier(t *testing.T) {
	utils.RequireEnvtest(t)
	mgr := start(t, app.Options{})
	if mgr.Notifier != nil {
		t.Errorf("notifications are on without a NotificationNamespace")
	}
}
