package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/metrics"
	"rolegate.dev/rolegate/internal/notify"
	rgpolicy "rolegate.dev/rolegate/internal/policy"
	"rolegate.dev/rolegate/internal/scheme"
	"rolegate.dev/rolegate/test/utils"
)

const ns = "rolegate-system"

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// fast retries: the tests do not wait for the production schedule.
var fast = notify.Backoff{Initial: time.Millisecond, Factor: 2, Max: 5 * time.Millisecond, Attempts: 3}

// received is one request a receiver got.
type received struct {
	path   string
	header http.Header
	body   []byte
}

// receiver is a notification endpoint. answer gives the status and body
// of request n (1-based) and may set response headers; nil accepts
// everything.
type receiver struct {
	*httptest.Server
	answer func(n int, h http.Header) (int, string)

	mu      sync.Mutex
	got     []received
	arrived chan struct{}
}

func newReceiver(t *testing.T, answer func(n int, h http.Header) (int, string)) *receiver {
	t.Helper()
	r := &receiver{answer: answer, arrived: make(chan struct{}, 100)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{path: req.URL.Path, header: req.Header.Clone(), body: body})
		n := len(r.got)
		r.mu.Unlock()
		r.arrived <- struct{}{}
		code, text := http.StatusOK, ""
		if r.answer != nil {
			code, text = r.answer(n, w.Header())
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, text)
	}))
	t.Cleanup(r.Close)
	return r
}

// wait returns the requests once there are at least n.
func (r *receiver) wait(t *testing.T, n int) []received {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if got := r.requests(); len(got) >= n {
			return got
		}
		select {
		case <-r.arrived:
		case <-deadline:
			t.Fatalf("%s got %d requests, want %d", r.URL, len(r.requests()), n)
		}
	}
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func always(code int) func(int, http.Header) (int, string) {
	return func(int, http.Header) (int, string) { return code, "" }
}

func webhook(name, url string, events ...accessv1alpha1.NotificationEvent) accessv1alpha1.NotificationTarget {
	return accessv1alpha1.NotificationTarget{Name: name, Webhook: &accessv1alpha1.WebhookTarget{URL: url}, Events: events}
}

func signedWebhook(name, url, secret, key string) accessv1alpha1.NotificationTarget {
	t := webhook(name, url)
	t.Webhook.SigningSecretRef = &accessv1alpha1.SecretKeySelector{Name: secret, Key: key}
	return t
}

func slack(name, secret, key string) accessv1alpha1.NotificationTarget {
	return accessv1alpha1.NotificationTarget{Name: name,
		Slack: &accessv1alpha1.SlackTarget{URLSecretRef: accessv1alpha1.SecretKeySelector{Name: secret, Key: key}}}
}

func policy(targets ...accessv1alpha1.NotificationTarget) *accessv1alpha1.ApprovalPolicy {
	return &accessv1alpha1.ApprovalPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "payments", Generation: 3},
		Spec:       accessv1alpha1.ApprovalPolicySpec{Notify: targets},
	}
}

func secret(name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

// pending is a Pending notification of a request under policy payments.
func pending() notify.Notification {
	exp := t0.Add(time.Hour)
	return notify.Notification{
		Event:          accessv1alpha1.NotifyPending,
		Policy:         "payments",
		Request:        notify.RequestRef{Namespace: "payments", Name: "ledger-migrate-4711", UID: "0b4e-uid"},
		ServiceAccount: "payments/ledger-migrator",
		Role:           "Role/db-migrator",
		Requester:      "alice",
		Tier:           "security",
		Recipients:     []accessv1alpha1.Subject{{Kind: accessv1alpha1.SubjectGroup, Name: "security-oncall"}},
		ExpiresAt:      &exp,
		Message:        "alice asks for Role/db-migrator for 1h: Run schema migration for CHG-1234",
		Time:           t0,
	}
}

// env is a running Dispatcher over a fake API server.
type env struct {
	d   *notify.Dispatcher
	reg *prometheus.Registry
	c   client.Client
}

// start runs a Dispatcher with o over objs; start=false leaves it without
// workers.
func newEnv(t *testing.T, o notify.Options, run bool, objs ...client.Object) *env {
	t.Helper()
	c := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(objs...).Build()
	reg := prometheus.NewRegistry()
	rec, err := metrics.NewRecorder(reg)
	if err != nil {
		t.Fatal(err)
	}
	o.Reader, o.Namespace, o.Metrics = c, ns, rec
	if o.Backoff == (notify.Backoff{}) {
		o.Backoff = fast
	}
	d, err := notify.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if run {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Start(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Start: %v", err)
			}
		})
	}
	return &env{d: d, reg: reg, c: c}
}

// failures reads rolegate_notification_failures_total{policy,target}.
func (e *env) failures(t *testing.T, policy, target string) float64 {
	t.Helper()
	v, _, err := utils.MetricValue(e.reg, metrics.NotificationFailures, map[string]string{"policy": policy, "target": target})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// condition waits until p's NotificationsDelivered condition has status
// and a message containing want.
func (e *env) condition(t *testing.T, p *accessv1alpha1.ApprovalPolicy, status metav1.ConditionStatus, want string) metav1.Condition {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, ok := e.d.Condition(p)
		if !ok {
			t.Fatalf("Condition reported nothing for a policy with targets")
		}
		if c.Status == status && strings.Contains(c.Message, want) {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("NotificationsDelivered is %s (%s: %s), want %s with %q", c.Status, c.Reason, c.Message, status, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWebhookReceivesTheDocument(t *testing.T) {
	r := newReceiver(t, nil)
	p := policy(webhook("audit", r.URL+"/hook"))
	e := newEnv(t, notify.Options{}, true, p)

	n := pending()
	n.Links = []rgpolicy.TicketLink{{Key: "change", Value: "CHG-1234", URL: "https://tickets.example/browse/CHG-1234"}}
	e.d.Notify(context.Background(), n)

	got := r.wait(t, 1)[0]
	if got.path != "/hook" {
		t.Errorf("POSTed to %s, want /hook", got.path)
	}
	for h, want := range map[string]string{
		"Content-Type": "application/json", "User-Agent": "rolegate", notify.HeaderEvent: "Pending",
	} {
		if v := got.header.Get(h); v != want {
			t.Errorf("%s = %q, want %q", h, v, want)
		}
	}
	if v := got.header.Get(notify.HeaderSignature); v != "" {
		t.Errorf("unsigned target sent %s: %s", notify.HeaderSignature, v)
	}
	var doc notify.Payload
	if err := json.Unmarshal(got.body, &doc); err != nil {
		t.Fatalf("body is not the document: %v\n%s", err, got.body)
	}
	if doc.DeliveryID == "" || doc.DeliveryID != got.header.Get(notify.HeaderDelivery) {
		t.Errorf("deliveryID %q, header %s %q: want equal and set", doc.DeliveryID, notify.HeaderDelivery, got.header.Get(notify.HeaderDelivery))
	}
	exp := metav1.NewTime(t0.Add(time.Hour))
	want := notify.Payload{
		APIVersion: "notify.rolegate.dev/v1", Event: accessv1alpha1.NotifyPending, Policy: "payments", Target: "audit",
		Request:        notify.RequestRef{Namespace: "payments", Name: "ledger-migrate-4711", UID: "0b4e-uid"},
		ServiceAccount: "payments/ledger-migrator", Role: "Role/db-migrator", Requester: "alice", Tier: "security",
		Recipients: []accessv1alpha1.Subject{{Kind: accessv1alpha1.SubjectGroup, Name: "security-oncall"}},
		ExpiresAt:  &exp, Message: "alice asks for Role/db-migrator for 1h: Run schema migration for CHG-1234",
		Time: metav1.NewTime(t0), DeliveryID: doc.DeliveryID, Links: n.Links,
	}
	if !equality.Semantic.DeepEqual(doc, want) {
		t.Errorf("document\n got %+v\nwant %+v", doc, want)
	}
	// The wire names are the documented contract.
	var raw map[string]any
	if err := json.Unmarshal(got.body, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"apiVersion", "event", "policy", "request", "serviceAccount", "role", "requester", "tier",
		"recipients", "expiresAt", "message", "time", "deliveryID", "links"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("document lacks %q: %s", k, got.body)
		}
	}
	if req, _ := raw["request"].(map[string]any); req["namespace"] != "payments" || req["name"] != "ledger-migrate-4711" || req["uid"] != "0b4e-uid" {
		t.Errorf("request = %v", raw["request"])
	}
	if links, _ := raw["links"].([]any); len(links) != 1 ||
		fmt.Sprint(links[0]) != "map[key:change url:https://tickets.example/browse/CHG-1234 value:CHG-1234]" {
		t.Errorf("links = %v", raw["links"])
	}
	if raw["expiresAt"] != "2026-05-01T13:00:00Z" {
		t.Errorf("expiresAt = %v, want RFC 3339 UTC", raw["expiresAt"])
	}

	c := e.condition(t, p, metav1.ConditionTrue, "all 1 targets accepted")
	if c.Type != accessv1alpha1.ConditionNotificationsDelivered || c.Reason != accessv1alpha1.ReasonDelivered ||
		c.ObservedGeneration != 3 || c.Message != "all 1 targets accepted their last notification" {
		t.Errorf("condition %+v", c)
	}
}

func TestWebhookSignatureVerifiesWithTheSecretsKey(t *testing.T) {
	r := newReceiver(t, nil)
	p := policy(signedWebhook("audit", r.URL, "audit-hmac", "key"))
	e := newEnv(t, notify.Options{}, true, p, secret("audit-hmac", map[string]string{"key": "s3cr3t"}))

	e.d.Notify(context.Background(), pending())

	got := r.wait(t, 1)[0]
	sig := got.header.Get(notify.HeaderSignature)
	if !strings.HasPrefix(sig, "sha256=") {
		t.Fatalf("%s = %q, want sha256=<hex>", notify.HeaderSignature, sig)
	}
	if !notify.Verify(got.body, []byte("s3cr3t"), sig) {
		t.Errorf("the signature does not verify with the Secret's key")
	}
	if notify.Verify(got.body, []byte("another key"), sig) {
		t.Errorf("the signature verifies with a wrong key")
	}
	tampered := slices.Clone(got.body)
	tampered[len(tampered)-2] ^= 1
	if notify.Verify(tampered, []byte("s3cr3t"), sig) {
		t.Errorf("the signature verifies a changed body")
	}
}

func TestVerify(t *testing.T) {
	body, key := []byte(`{"event":"Granted"}`), []byte("k")
	good := notify.Sign(body, key)
	for name, tc := range map[string]struct {
		header string
		want   bool
	}{
		"accepts the signature of the body":   {good, true},
		"rejects a header without the prefix": {strings.TrimPrefix(good, "sha256="), false},
		"rejects another algorithm's prefix":  {"sha1=" + strings.TrimPrefix(good, "sha256="), false},
		"rejects a header that is not hex":    {"sha256=zz", false},
		"rejects a truncated signature":       {good[:len(good)-2], false},
		"rejects an empty header":             {"", false},
	} {
		t.Run(name, func(t *testing.T) {
			if got := notify.Verify(body, key, tc.header); got != tc.want {
				t.Errorf("Verify(%q) = %v, want %v", tc.header, got, tc.want)
			}
		})
	}
}

func TestServerErrorsAreRetriedUnderOneDeliveryID(t *testing.T) {
	r := newReceiver(t, func(n int, _ http.Header) (int, string) {
		if n <= 2 {
			return http.StatusServiceUnavailable, ""
		}
		return http.StatusAccepted, ""
	})
	p := policy(webhook("audit", r.URL))
	e := newEnv(t, notify.Options{Backoff: notify.Backoff{Initial: time.Millisecond, Factor: 2, Max: 10 * time.Millisecond, Attempts: 5}}, true, p)

	e.d.Notify(context.Background(), pending())

	got := r.wait(t, 3)
	c := e.condition(t, p, metav1.ConditionTrue, "all 1 targets accepted")
	if n := len(r.requests()); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	id := got[0].header.Get(notify.HeaderDelivery)
	for i, g := range got {
		if g.header.Get(notify.HeaderDelivery) != id {
			t.Errorf("attempt %d has delivery %q, the first had %q", i+1, g.header.Get(notify.HeaderDelivery), id)
		}
		if string(g.body) != string(got[0].body) {
			t.Errorf("attempt %d sent another body", i+1)
		}
	}
	if f := e.failures(t, "payments", "audit"); f != 0 {
		t.Errorf("%v failures counted for a delivery that succeeded", f)
	}
	if c.Reason != accessv1alpha1.ReasonDelivered {
		t.Errorf("condition %+v", c)
	}
}

func TestClientErrorIsNotRetried(t *testing.T) {
	r := newReceiver(t, func(int, http.Header) (int, string) {
		return http.StatusBadRequest, "unknown event\n"
	})
	p := policy(webhook("audit", r.URL))
	e := newEnv(t, notify.Options{Backoff: notify.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Attempts: 5}}, true, p)

	e.d.Notify(context.Background(), pending())

	c := e.condition(t, p, metav1.ConditionFalse, "")
	if n := len(r.requests()); n != 1 {
		t.Errorf("%d attempts at a 400, want 1", n)
	}
	for _, want := range []string{"target audit", "400 Bad Request", "unknown event", "check its logs"} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("message %q lacks %q", c.Message, want)
		}
	}
	if f := e.failures(t, "payments", "audit"); f != 1 {
		t.Errorf("failures = %v, want 1", f)
	}
}

func TestFailingTargetIsCountedAndReported(t *testing.T) {
	bad := newReceiver(t, always(http.StatusInternalServerError))
	good := newReceiver(t, nil)
	p := policy(webhook("audit", bad.URL), webhook("pager", good.URL))
	e := newEnv(t, notify.Options{}, true, p)

	e.d.Notify(context.Background(), pending())

	c := e.condition(t, p, metav1.ConditionFalse, "")
	if n := len(bad.requests()); n != fast.Attempts {
		t.Errorf("%d attempts, want %d", n, fast.Attempts)
	}
	if f := e.failures(t, "payments", "audit"); f != 1 {
		t.Errorf("failures{target=audit} = %v, want 1", f)
	}
	if c.Reason != accessv1alpha1.ReasonDeliveryFailed || c.ObservedGeneration != 3 {
		t.Errorf("condition %+v", c)
	}
	for _, want := range []string{"1 of 2 targets", "target audit", "500 Internal Server Error", "after 3 attempts", "check the receiver"} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("message %q lacks %q", c.Message, want)
		}
	}
	if strings.Contains(c.Message, "target pager") {
		t.Errorf("message names the target that works: %q", c.Message)
	}
	good.wait(t, 1)
	if f := e.failures(t, "payments", "pager"); f != 0 {
		t.Errorf("failures{target=pager} = %v, want 0", f)
	}
	select {
	case ev := <-e.d.Changes():
		if ev.Object.GetName() != "payments" {
			t.Errorf("Changes emitted %q, want payments", ev.Object.GetName())
		}
	case <-time.After(10 * time.Second):
		t.Errorf("Changes emitted nothing after the condition changed")
	}
}

func TestNotifyDoesNotWaitForDelivery(t *testing.T) {
	release := make(chan struct{})
	r := newReceiver(t, func(int, http.Header) (int, string) {
		<-release
		return http.StatusOK, ""
	})
	t.Cleanup(func() { close(release) }) // before the server closes
	p := policy(webhook("slow", r.URL))
	e := newEnv(t, notify.Options{AttemptTimeout: time.Minute}, true, p)

	start := time.Now()
	e.d.Notify(context.Background(), pending())
	elapsed := time.Since(start)

	if elapsed > time.Second {
		t.Errorf("Notify took %s with a receiver that does not answer", elapsed)
	}
	r.wait(t, 1) // the delivery is under way while the receiver hangs
}

func TestQueueFullFailsTheTargetAtOnce(t *testing.T) {
	p := policy(webhook("first", "http://127.0.0.1:1/"), webhook("second", "http://127.0.0.1:1/"))
	e := newEnv(t, notify.Options{QueueSize: 1}, false, p) // no workers: the queue stays full

	start := time.Now()
	e.d.Notify(context.Background(), pending())
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("Notify took %s on a full queue", elapsed)
	}

	if f := e.failures(t, "payments", "second"); f != 1 {
		t.Errorf("failures{target=second} = %v, want 1", f)
	}
	if f := e.failures(t, "payments", "first"); f != 0 {
		t.Errorf("failures{target=first} = %v, want 0 (it was queued)", f)
	}
	c, _ := e.d.Condition(p)
	if c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "target second: the notification queue is full") {
		t.Errorf("condition %+v", c)
	}
}

func TestRecoveryFlipsTheConditionBack(t *testing.T) {
	var ok atomic.Bool
	r := newReceiver(t, func(int, http.Header) (int, string) {
		if ok.Load() {
			return http.StatusOK, ""
		}
		return http.StatusBadGateway, ""
	})
	p := policy(webhook("audit", r.URL))
	e := newEnv(t, notify.Options{}, true, p)
	changes := make(chan string, 10)
	go func() {
		for ev := range e.d.Changes() {
			changes <- ev.Object.GetName()
		}
	}()

	e.d.Notify(context.Background(), pending())
	e.condition(t, p, metav1.ConditionFalse, "")
	ok.Store(true)
	e.d.Notify(context.Background(), pending())
	c := e.condition(t, p, metav1.ConditionTrue, "all 1 targets accepted")

	if c.Reason != accessv1alpha1.ReasonDelivered || c.Message != "all 1 targets accepted their last notification" {
		t.Errorf("condition after recovery %+v", c)
	}
	for i := range 2 {
		select {
		case name := <-changes:
			if name != "payments" {
				t.Errorf("change %d is for %q", i, name)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d changes, want one for the failure and one for the recovery", i)
		}
	}
}

func TestSlackReceivesAOneLineMessage(t *testing.T) {
	r := newReceiver(t, nil)
	p := policy(slack("oncall", "slack-oncall", "url"))
	// kubectl create secret --from-file keeps the file's trailing newline.
	e := newEnv(t, notify.Options{}, true, p, secret("slack-oncall", map[string]string{"url": r.URL + "/services/T0/B0/xyz\n"}))

	n := pending()
	n.Message = "needs <2 approvals> & a ticket"
	e.d.Notify(context.Background(), n)

	got := r.wait(t, 1)[0]
	if got.path != "/services/T0/B0/xyz" {
		t.Errorf("POSTed to %s, want the URL from the Secret", got.path)
	}
	if ct := got.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var msg map[string]any
	if err := json.Unmarshal(got.body, &msg); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, got.body)
	}
	if len(msg) != 1 {
		t.Errorf("payload has keys %v, want only text", msg)
	}
	text, _ := msg["text"].(string)
	for _, want := range []string{"Pending", "payments/ledger-migrate-4711", "awaits approval", "Role/db-migrator",
		"payments/ledger-migrator", "alice", "policy payments", "tier *security*", "Group security-oncall",
		"Expires 2026-05-01T13:00:00Z", "needs &lt;2 approvals&gt; &amp; a ticket"} {
		if !strings.Contains(text, want) {
			t.Errorf("text %q lacks %q", text, want)
		}
	}
	if strings.Contains(text, "\n") {
		t.Errorf("text spans lines: %q", text)
	}
	e.condition(t, p, metav1.ConditionTrue, "all 1 targets accepted")
}

func TestSlackText(t *testing.T) {
	exp := t0.Add(30 * time.Minute)
	n := notify.Notification{
		Event: accessv1alpha1.NotifyBreakGlass, Policy: "payments",
		Request:        notify.RequestRef{Namespace: "payments", Name: "hotfix"},
		ServiceAccount: "payments/api", Role: "ClusterRole/edit", Requester: "bob", Tier: "security",
		Recipients: []accessv1alpha1.Subject{
			{Kind: accessv1alpha1.SubjectUser, Name: "carol"},
			{Kind: accessv1alpha1.SubjectServiceAccount, Namespace: "ops", Name: "pager"},
		},
		ExpiresAt: &exp, Message: "bob used break-glass:\nprod is down",
	}
	want := "*[rolegate] BreakGlass*: AccessRequest `payments/hotfix` got break-glass access, review owed " +
		"(ClusterRole/edit for service account `payments/api`, asked by bob, policy payments). " +
		"Must act: tier *security* — User carol, ServiceAccount ops/pager. Expires 2026-05-01T12:30:00Z. " +
		"bob used break-glass: prod is down"
	if got := notify.SlackText(n); got != want {
		t.Errorf("SlackText\n got %q\nwant %q", got, want)
	}
}

func TestSlackTextLinksTheTickets(t *testing.T) {
	n := notify.Notification{
		Event: accessv1alpha1.NotifyPending, Policy: "payments",
		Request:        notify.RequestRef{Namespace: "payments", Name: "migrate"},
		ServiceAccount: "payments/api", Role: "Role/db-migrator",
		Links: []rgpolicy.TicketLink{
			{Key: "change", Value: "CHG-1", URL: "https://tickets.example/browse/CHG-1"},
			// A template may hold what ends a Slack link early; the text is escaped.
			{Key: "incident", Value: "<7>", URL: "https://pager.example/i?a=1|2>3"},
		},
	}
	want := " Tickets: <https://tickets.example/browse/CHG-1|change=CHG-1>, " +
		"<https://pager.example/i?a=1%7C2%3E3|incident=&lt;7&gt;>."
	if got := notify.SlackText(n); !strings.HasSuffix(got, want) {
		t.Errorf("SlackText\n got %q\nwant it to end with %q", got, want)
	}
}

func TestTargetsHearOnlyTheirEvents(t *testing.T) {
	grants := newReceiver(t, nil)
	all := newReceiver(t, nil)
	p := policy(webhook("grants", grants.URL, accessv1alpha1.NotifyGranted, accessv1alpha1.NotifyRevoked), webhook("all", all.URL))
	e := newEnv(t, notify.Options{Workers: 1}, true, p) // one worker: deliveries in order

	e.d.Notify(context.Background(), pending())
	granted := pending()
	granted.Event = accessv1alpha1.NotifyGranted
	e.d.Notify(context.Background(), granted)

	all.wait(t, 2)
	got := grants.wait(t, 1)
	if len(got) != 1 || got[0].header.Get(notify.HeaderEvent) != "Granted" {
		var events []string
		for _, g := range got {
			events = append(events, g.header.Get(notify.HeaderEvent))
		}
		t.Errorf("a target subscribed to Granted and Revoked heard %v", events)
	}
}

func TestTargetsRestrictDelivery(t *testing.T) {
	a, b := newReceiver(t, nil), newReceiver(t, nil)
	p := policy(webhook("a", a.URL), webhook("b", b.URL))
	e := newEnv(t, notify.Options{Workers: 1}, true, p)

	n := pending()
	n.Event, n.Targets = accessv1alpha1.NotifyBreakGlass, []string{"b", "not-in-the-policy"}
	e.d.Notify(context.Background(), n)
	e.d.Notify(context.Background(), pending()) // every target

	b.wait(t, 2)
	got := a.wait(t, 1)
	if len(got) != 1 || got[0].header.Get(notify.HeaderEvent) != "Pending" {
		t.Errorf("target a, not named in Targets, got %d requests", len(got))
	}
}

func TestKeyDeduplicatesPerTargetForADay(t *testing.T) {
	r := newReceiver(t, nil)
	p := policy(webhook("audit", r.URL))
	clk := clocktesting.NewFakeClock(t0)
	e := newEnv(t, notify.Options{Workers: 1, Clock: clk}, true, p)

	n := pending()
	n.Key = "0b4e-uid/Pending/security"
	e.d.Notify(context.Background(), n)
	e.d.Notify(context.Background(), n) // dropped
	other := pending()
	other.Key = "0b4e-uid/Escalated/security"
	e.d.Notify(context.Background(), other)

	got := r.wait(t, 2)
	if len(got) != 2 || got[1].header.Get(notify.HeaderDelivery) == got[0].header.Get(notify.HeaderDelivery) {
		t.Fatalf("got %d deliveries, want the first and the other key's", len(got))
	}
	first := got[0].header.Get(notify.HeaderDelivery)

	clk.Step(notify.DedupeWindow)
	e.d.Notify(context.Background(), n)
	got = r.wait(t, 3)
	if len(got) != 3 {
		t.Fatalf("got %d deliveries, want the key sent again after %s", len(got), notify.DedupeWindow)
	}
	if id := got[2].header.Get(notify.HeaderDelivery); id != first {
		t.Errorf("the same key was delivered as %q then %q; want one delivery ID per key and target", first, id)
	}
}

func TestMissingSecretFailsAtOnceWithTheFix(t *testing.T) {
	for name, tc := range map[string]struct {
		target  accessv1alpha1.NotificationTarget
		objs    []client.Object
		message []string
	}{
		"slack URL Secret does not exist": {
			target:  slack("oncall", "slack-oncall", "url"),
			message: []string{"target oncall", "Secret rolegate-system/slack-oncall not found", "create it in namespace rolegate-system", "spec.notify[name=oncall].slack.urlSecretRef"},
		},
		"signing Secret lacks the key": {
			target:  signedWebhook("audit", "http://127.0.0.1:1/", "audit-hmac", "key"),
			objs:    []client.Object{secret("audit-hmac", map[string]string{"hmac": "x"})},
			message: []string{"target audit", "Secret rolegate-system/audit-hmac has no key key", "spec.notify[name=audit].webhook.signingSecretRef.key"},
		},
		"slack Secret holds no URL": {
			target:  slack("oncall", "slack-oncall", "url"),
			objs:    []client.Object{secret("slack-oncall", map[string]string{"url": "hooks.slack.com/services/x"})},
			message: []string{"key url of Secret rolegate-system/slack-oncall is not an http(s) URL"},
		},
		"webhook URL has no host": {
			target:  webhook("audit", "http:///hook"),
			message: []string{"target audit", "invalid URL", "spec.notify[name=audit].webhook.url"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			p := policy(tc.target)
			// Retrying would take a minute: a fail-at-once error must not.
			e := newEnv(t, notify.Options{Backoff: notify.Backoff{Initial: time.Minute, Max: time.Minute, Attempts: 5}}, true,
				append(tc.objs, p)...)

			e.d.Notify(context.Background(), pending())

			c := e.condition(t, p, metav1.ConditionFalse, "")
			for _, want := range tc.message {
				if !strings.Contains(c.Message, want) {
					t.Errorf("message %q lacks %q", c.Message, want)
				}
			}
			if f := e.failures(t, "payments", tc.target.Name); f != 1 {
				t.Errorf("failures = %v, want 1", f)
			}
		})
	}
}

func TestRetryAfterIsHonouredAndCapped(t *testing.T) {
	for name, tc := range map[string]struct {
		retryAfter string
		wait       time.Duration
	}{
		"waits as long as the receiver asks":     {"2", 2 * time.Second},
		"waits no longer than the backoff's max": {"3600", 3 * time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			r := newReceiver(t, func(n int, h http.Header) (int, string) {
				if n == 1 {
					h.Set("Retry-After", tc.retryAfter)
					return http.StatusTooManyRequests, ""
				}
				return http.StatusOK, ""
			})
			p := policy(webhook("audit", r.URL))
			clk := clocktesting.NewFakeClock(t0)
			e := newEnv(t, notify.Options{Clock: clk,
				Backoff: notify.Backoff{Initial: 10 * time.Millisecond, Factor: 2, Max: 3 * time.Second, Attempts: 3}}, true, p)

			e.d.Notify(context.Background(), pending())
			r.wait(t, 1)
			waitForTimer(t, clk)
			clk.Step(tc.wait - time.Millisecond)
			if !clk.HasWaiters() {
				t.Fatalf("retried before %s", tc.wait)
			}
			clk.Step(time.Millisecond)
			r.wait(t, 2)
			e.condition(t, p, metav1.ConditionTrue, "all 1 targets accepted")
		})
	}
}

func waitForTimer(t *testing.T, clk *clocktesting.FakeClock) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !clk.HasWaiters() {
		if time.Now().After(deadline) {
			t.Fatal("the delivery never waited to retry")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestConditionFollowsThePolicysTargets(t *testing.T) {
	r := newReceiver(t, always(http.StatusInternalServerError))
	p := policy(webhook("audit", r.URL), webhook("pager", r.URL, accessv1alpha1.NotifyGranted))
	e := newEnv(t, notify.Options{}, true, p)

	c, ok := e.d.Condition(p)
	if !ok || c.Status != metav1.ConditionTrue ||
		c.Message != "no target failed: 0 of 2 accepted their last notification, the others have had none to deliver yet" {
		t.Errorf("before any notification: %+v, %v", c, ok)
	}
	e.d.Notify(context.Background(), pending())
	e.condition(t, p, metav1.ConditionFalse, "")

	changed := p.DeepCopy()
	changed.Generation++
	changed.Spec.Notify[0].Webhook.URL = "https://audit.example.com/hook"
	if c, _ := e.d.Condition(changed); c.Status != metav1.ConditionTrue || c.ObservedGeneration != 4 {
		t.Errorf("a target whose spec changed still fails: %+v", c)
	}
	removed := p.DeepCopy()
	removed.Spec.Notify = removed.Spec.Notify[1:]
	if c, _ := e.d.Condition(removed); c.Status != metav1.ConditionTrue {
		t.Errorf("a target removed from the policy still fails: %+v", c)
	}
	none := p.DeepCopy()
	none.Spec.Notify = nil
	if _, ok := e.d.Condition(none); ok {
		t.Errorf("a policy without targets has a NotificationsDelivered condition")
	}
}

func TestUnknownPolicyIsDropped(t *testing.T) {
	r := newReceiver(t, nil)
	e := newEnv(t, notify.Options{}, true, policy(webhook("audit", r.URL)))
	n := pending()
	n.Policy = "gone"
	e.d.Notify(context.Background(), n)
	e.d.Notify(context.Background(), pending())
	if got := r.wait(t, 1); len(got) != 1 {
		t.Errorf("got %d requests, want only the known policy's", len(got))
	}
}

func TestNilDispatcherDoesNothing(t *testing.T) {
	var d *notify.Dispatcher
	d.Notify(context.Background(), pending())
	if _, ok := d.Condition(policy(webhook("audit", "https://example.com"))); ok {
		t.Errorf("a nil Dispatcher reports a condition")
	}
	if d.Changes() == nil {
		t.Errorf("Changes of a nil Dispatcher is a nil channel, which source.Channel refuses")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Start(ctx); err != nil {
		t.Errorf("Start: %v", err)
	}
}

func TestNewRequiresAReaderAndANamespace(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(scheme.Scheme).Build()
	if _, err := notify.New(notify.Options{Namespace: ns}); err == nil {
		t.Errorf("New without a Reader succeeded")
	}
	if _, err := notify.New(notify.Options{Reader: c}); err == nil {
		t.Errorf("New without a Namespace succeeded")
	}
	d, err := notify.New(notify.Options{Reader: c, Namespace: ns, Clock: clock.RealClock{}})
	if err != nil {
		t.Fatal(err)
	}
	if !d.NeedLeaderElection() {
		t.Errorf("the Dispatcher runs on every replica; only the leader reconciles")
	}
}

func TestStartTwiceFails(t *testing.T) {
	e := newEnv(t, notify.Options{}, false, policy())
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the first run ends at once
	if err := e.d.Start(ctx); err != nil {
		t.Fatalf("first Start: %v", err)
	}
	if err := e.d.Start(ctx); err == nil {
		t.Errorf("a second Start succeeded")
	}
}
