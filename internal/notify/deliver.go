package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
)

// APIVersion identifies the schema of the webhook document.
const APIVersion = "notify.rolegate.dev/v1"

// Headers of a webhook delivery.
const (
	// HeaderEvent carries the notification event.
	HeaderEvent = "X-Rolegate-Event"
	// HeaderDelivery identifies the delivery; it is the same on every
	// retry, so receivers can drop duplicates.
	HeaderDelivery = "X-Rolegate-Delivery"
	// HeaderSignature is sha256=<hex HMAC-SHA256 of the body>, present when
	// the target has a signingSecretRef.
	HeaderSignature = "X-Rolegate-Signature"
	// UserAgent is the User-Agent of every delivery.
	UserAgent = "rolegate"
)

// Payload is the JSON document a webhook target receives.
type Payload struct {
	// APIVersion is always APIVersion.
	APIVersion string `json:"apiVersion"`
	// Event is what happened.
	Event accessv1alpha1.NotificationEvent `json:"event"`
	// Policy is the ApprovalPolicy the target belongs to.
	Policy string `json:"policy"`
	// Target is the name of the target in the policy's spec.notify.
	Target string `json:"target"`
	// Request identifies the AccessRequest.
	Request RequestRef `json:"request"`
	// ServiceAccount receives the access, as "namespace/name".
	ServiceAccount string `json:"serviceAccount"`
	// Role is the requested role, as "Kind/name".
	Role string `json:"role"`
	// Requester is the username of whoever asked.
	Requester string `json:"requester,omitempty"`
	// Tier is the approver tier that decides now.
	Tier string `json:"tier,omitempty"`
	// Recipients are who should act.
	Recipients []accessv1alpha1.Subject `json:"recipients,omitempty"`
	// ExpiresAt is when the access ends, once granted.
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
	// Links are the request's ticket links: each required tag with a link
	// template, its value and the rendered URL.
	Links []policy.TicketLink `json:"links,omitempty"`
	// Message is a human sentence describing what happened.
	Message string `json:"message,omitempty"`
	// Time is when it happened.
	Time metav1.Time `json:"time"`
	// DeliveryID equals the X-Rolegate-Delivery header.
	DeliveryID string `json:"deliveryID"`
}

func payload(job delivery) Payload {
	n := job.n
	p := Payload{
		APIVersion: APIVersion, Event: n.Event, Policy: n.Policy, Target: job.target.Name, Request: n.Request,
		ServiceAccount: n.ServiceAccount, Role: n.Role, Requester: n.Requester, Tier: n.Tier, Recipients: n.Recipients,
		Links: n.Links, Message: n.Message, Time: metav1.NewTime(n.Time.UTC()), DeliveryID: job.id,
	}
	if n.ExpiresAt != nil {
		t := metav1.NewTime(n.ExpiresAt.UTC())
		p.ExpiresAt = &t
	}
	return p
}

// Sign returns the X-Rolegate-Signature value of body under key.
func Sign(body, key []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether header, an X-Rolegate-Signature value, is the
// signature of body under key. It compares in constant time.
func Verify(body, key []byte, header string) bool {
	got, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	sig, err := hex.DecodeString(got)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	return hmac.Equal(sig, mac.Sum(nil))
}

// deliveryID names the delivery of n to target. With a Key it is derived
// from it, so a notification sent again after a restart carries the same ID.
func deliveryID(n Notification, target string) string {
	if n.Key != "" {
		sum := sha256.Sum256([]byte(n.Policy + "\x00" + target + "\x00" + n.Key))
		return hex.EncodeToString(sum[:16])
	}
	return rand.Text()
}

// deliveryError is why a target did not accept a notification, and what
// fixes it.
type deliveryError struct {
	msg, fix   string
	permanent  bool          // retrying cannot help
	retryAfter time.Duration // the receiver asked to wait this long
}

func (e *deliveryError) Error() string { return e.msg }

// describe is the error and its fix, for the condition.
func (e *deliveryError) describe() string {
	if e.fix == "" {
		return e.msg
	}
	return e.msg + "; " + e.fix
}

// deliver sends job with retries and records the outcome.
func (d *Dispatcher) deliver(ctx context.Context, job delivery) {
	log := d.log.WithValues("policy", job.n.Policy, "target", job.target.Name, "event", job.n.Event,
		"accessRequest", job.n.Request.Namespace+"/"+job.n.Request.Name, "delivery", job.id)
	var err *deliveryError
	attempts := 0
	for attempts < d.backoff.Attempts {
		attempts++
		err = d.attempt(ctx, job)
		if err == nil {
			log.V(1).Info("Delivered a notification", "attempts", attempts)
			d.record(job.n.Policy, job.target, nil)
			return
		}
		if ctx.Err() != nil {
			return // shutting down: not the target's fault
		}
		if err.permanent || attempts == d.backoff.Attempts {
			break
		}
		wait := d.backoff.delay(attempts)
		if err.retryAfter > 0 {
			wait = min(err.retryAfter, d.backoff.Max)
		}
		log.V(1).Info("Notification attempt failed, retrying", "attempt", attempts, "error", err.Error(), "retryIn", wait.String())
		t := d.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
	if !err.permanent {
		err.msg = fmt.Sprintf("%s (after %d attempts)", err.msg, attempts)
	}
	log.Error(err, "Notification was not delivered", "attempts", attempts, "fix", err.fix)
	d.failed(job.n.Policy, job.target, err)
}

// failed counts and records a notification target did not accept.
func (d *Dispatcher) failed(policyName string, t accessv1alpha1.NotificationTarget, err *deliveryError) {
	d.metrics.NotificationFailed(policyName, t.Name)
	d.record(policyName, t, err)
}

// request is one HTTP POST to a target.
type request struct {
	url    string
	where  string // the URL as safe to show: a Slack URL is a credential
	body   []byte
	header http.Header
	slack  *accessv1alpha1.SecretKeySelector
}

// attempt makes one try at delivering job.
func (d *Dispatcher) attempt(ctx context.Context, job delivery) *deliveryError {
	r, derr := d.prepare(ctx, job)
	if derr != nil {
		return derr
	}
	actx, cancel := context.WithTimeout(ctx, d.attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, r.url, bytes.NewReader(r.body))
	if err != nil {
		return &deliveryError{msg: fmt.Sprintf("cannot POST to %s: %v", r.where, unwrapURLError(err)), permanent: true,
			fix: d.fixURL(job.target)}
	}
	req.Header = r.header
	resp, err := d.http.Do(req)
	if err != nil {
		msg := fmt.Sprintf("POST %s: %v", r.where, unwrapURLError(err))
		if errors.Is(err, context.DeadlineExceeded) {
			msg = fmt.Sprintf("POST %s: no answer within %s", r.where, d.attemptTimeout)
		}
		return &deliveryError{msg: msg, fix: "check that the receiver is up and reachable from the manager (DNS, NetworkPolicy, proxy)"}
	}
	defer func() { _ = resp.Body.Close() }()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	msg := fmt.Sprintf("POST %s returned %s", r.where, resp.Status)
	if s := strings.Join(strings.Fields(string(snippet)), " "); s != "" {
		msg += ": " + s
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return &deliveryError{msg: msg, retryAfter: retryAfter(resp.Header.Get("Retry-After"), d.clock.Now()),
			fix: "the receiver is rate-limiting rolegate"}
	case resp.StatusCode >= 500:
		return &deliveryError{msg: msg, fix: "check the receiver's health and logs"}
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return &deliveryError{msg: msg + " (redirects are not followed)", permanent: true,
			fix: "point the URL at its final address" + d.urlPlace(job.target)}
	case r.slack != nil:
		return &deliveryError{msg: msg, permanent: true,
			fix: fmt.Sprintf("Slack refused the URL or the message; if the incoming webhook was revoked, "+
				"put a current URL in key %s of Secret %s/%s", r.slack.Key, d.namespace, r.slack.Name)}
	default:
		fix := "the receiver refused the notification; check its logs"
		if ref := job.target.Webhook.SigningSecretRef; ref != nil {
			fix += fmt.Sprintf(" (a 401 or 403 often means it verifies with another key than key %s of Secret %s/%s)",
				ref.Key, d.namespace, ref.Name)
		}
		return &deliveryError{msg: msg, permanent: true, fix: fix}
	}
}

// prepare builds the request for job, reading the Secrets it needs.
func (d *Dispatcher) prepare(ctx context.Context, job delivery) (*request, *deliveryError) {
	t := job.target
	header := http.Header{}
	header.Set("Content-Type", "application/json")
	header.Set("User-Agent", UserAgent)
	switch {
	case t.Webhook != nil:
		u, derr := d.parseURL(t.Webhook.URL, t)
		if derr != nil {
			return nil, derr
		}
		body, err := json.Marshal(payload(job))
		if err != nil {
			return nil, &deliveryError{msg: fmt.Sprintf("encoding the notification: %v", err), permanent: true}
		}
		header.Set(HeaderEvent, string(job.n.Event))
		header.Set(HeaderDelivery, job.id)
		if ref := t.Webhook.SigningSecretRef; ref != nil {
			key, derr := d.secretValue(ctx, *ref, t.Name, "webhook.signingSecretRef")
			if derr != nil {
				return nil, derr
			}
			header.Set(HeaderSignature, Sign(body, key))
		}
		return &request{url: u.String(), where: redact(u), body: body, header: header}, nil
	case t.Slack != nil:
		ref := t.Slack.URLSecretRef
		raw, derr := d.secretValue(ctx, ref, t.Name, "slack.urlSecretRef")
		if derr != nil {
			return nil, derr
		}
		where := fmt.Sprintf("the Slack webhook in Secret %s/%s", d.namespace, ref.Name)
		u, err := url.Parse(strings.TrimSpace(string(raw)))
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, &deliveryError{msg: fmt.Sprintf("key %s of Secret %s/%s is not an http(s) URL", ref.Key, d.namespace, ref.Name),
				permanent: true, fix: "put the Slack incoming-webhook URL (https://hooks.slack.com/services/...) in it"}
		}
		body, err := json.Marshal(slackMessage{Text: SlackText(job.n)})
		if err != nil {
			return nil, &deliveryError{msg: fmt.Sprintf("encoding the notification: %v", err), permanent: true}
		}
		return &request{url: u.String(), where: where, body: body, header: header, slack: &ref}, nil
	default:
		return nil, &deliveryError{msg: "the target sets neither webhook nor slack", permanent: true,
			fix: fmt.Sprintf("set one in spec.notify[name=%s]", t.Name)}
	}
}

// parseURL checks a webhook URL from the policy.
func (d *Dispatcher) parseURL(raw string, t accessv1alpha1.NotificationTarget) (*url.URL, *deliveryError) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, &deliveryError{msg: fmt.Sprintf("invalid URL: %v", unwrapURLError(err)), permanent: true, fix: d.fixURL(t)}
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, &deliveryError{msg: fmt.Sprintf("invalid URL %q: want http(s)://host/path", redact(u)), permanent: true, fix: d.fixURL(t)}
	}
	return u, nil
}

func (d *Dispatcher) fixURL(t accessv1alpha1.NotificationTarget) string {
	return "fix the URL" + d.urlPlace(t)
}

func (d *Dispatcher) urlPlace(t accessv1alpha1.NotificationTarget) string {
	if t.Slack != nil {
		return fmt.Sprintf(" in key %s of Secret %s/%s", t.Slack.URLSecretRef.Key, d.namespace, t.Slack.URLSecretRef.Name)
	}
	return fmt.Sprintf(" in spec.notify[name=%s].webhook.url", t.Name)
}

// secretValue reads the value ref selects, around the cache.
func (d *Dispatcher) secretValue(ctx context.Context, ref accessv1alpha1.SecretKeySelector, target, field string) ([]byte, *deliveryError) {
	s := &corev1.Secret{}
	where := fmt.Sprintf("spec.notify[name=%s].%s", target, field)
	err := d.secrets.Get(ctx, client.ObjectKey{Namespace: d.namespace, Name: ref.Name}, s)
	switch {
	case apierrors.IsNotFound(err):
		return nil, &deliveryError{msg: fmt.Sprintf("Secret %s/%s not found", d.namespace, ref.Name), permanent: true,
			fix: fmt.Sprintf("create it in namespace %s (the manager's) or fix %s", d.namespace, where)}
	case apierrors.IsForbidden(err):
		return nil, &deliveryError{msg: fmt.Sprintf("reading Secret %s/%s: %v", d.namespace, ref.Name, err), permanent: true,
			fix: fmt.Sprintf("grant the manager get on Secrets in namespace %s", d.namespace)}
	case err != nil:
		return nil, &deliveryError{msg: fmt.Sprintf("reading Secret %s/%s: %v", d.namespace, ref.Name, err),
			fix: "check the manager's access to the API server"}
	}
	v, ok := s.Data[ref.Key]
	if !ok {
		return nil, &deliveryError{msg: fmt.Sprintf("Secret %s/%s has no key %s", d.namespace, ref.Name, ref.Key), permanent: true,
			fix: fmt.Sprintf("add the key to the Secret or fix %s.key", where)}
	}
	if len(v) == 0 {
		return nil, &deliveryError{msg: fmt.Sprintf("key %s of Secret %s/%s is empty", ref.Key, d.namespace, ref.Name), permanent: true,
			fix: "put the value in it"}
	}
	return v, nil
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// redact shows a URL without its query, fragment and password, which may
// hold tokens.
func redact(u *url.URL) string {
	c := *u
	c.RawQuery, c.Fragment, c.RawFragment = "", "", ""
	if c.User != nil {
		c.User = url.User(c.User.Username())
	}
	return c.String()
}

// unwrapURLError drops the URL a *url.Error repeats, which for Slack is a
// credential.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
