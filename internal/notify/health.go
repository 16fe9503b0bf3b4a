package notify

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// targetHealth is the outcome of a target's last notification.
type targetHealth struct {
	spec accessv1alpha1.NotificationTarget // the target as it was when delivered
	err  string                            // empty when accepted
}

// record keeps the outcome of a notification to t and, when it changes
// what Condition reports, queues the policy on Changes.
func (d *Dispatcher) record(policy string, t accessv1alpha1.NotificationTarget, derr *deliveryError) {
	next := &targetHealth{spec: t}
	if derr != nil {
		next.err = derr.describe()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	targets := d.health[policy]
	if targets == nil {
		targets = map[string]*targetHealth{}
		d.health[policy] = targets
	}
	if h := targets[t.Name]; h != nil && h.err == next.err && equality.Semantic.DeepEqual(h.spec, next.spec) {
		return
	}
	targets[t.Name] = next
	d.dirty[policy] = struct{}{}
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Condition is p's NotificationsDelivered condition: False (DeliveryFailed)
// while a target's last notification failed, naming each such target, its
// error and the fix; True (Delivered) otherwise. A target recovers on its
// next accepted notification, or when its spec changes. ok is false when
// there is nothing to report (a nil Dispatcher, or p has no targets): then
// the condition should be removed.
func (d *Dispatcher) Condition(p *accessv1alpha1.ApprovalPolicy) (c metav1.Condition, ok bool) {
	if d == nil || p == nil || len(p.Spec.Notify) == 0 {
		return metav1.Condition{}, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var failing []string
	delivered := 0
	for _, t := range p.Spec.Notify {
		h := d.health[p.Name][t.Name]
		if h == nil || !equality.Semantic.DeepEqual(h.spec, t) {
			continue // nothing sent since the manager started or the target changed
		}
		if h.err != "" {
			failing = append(failing, fmt.Sprintf("target %s: %s", t.Name, h.err))
			continue
		}
		delivered++
	}
	c = metav1.Condition{Type: accessv1alpha1.ConditionNotificationsDelivered, ObservedGeneration: p.Generation}
	total := len(p.Spec.Notify)
	switch {
	case len(failing) > 0:
		c.Status, c.Reason = metav1.ConditionFalse, accessv1alpha1.ReasonDeliveryFailed
		c.Message = fmt.Sprintf("%d of %d targets did not accept their last notification: %s",
			len(failing), total, strings.Join(failing, "; "))
	case delivered == total:
		c.Status, c.Reason = metav1.ConditionTrue, accessv1alpha1.ReasonDelivered
		c.Message = fmt.Sprintf("all %d targets accepted their last notification", total)
	default:
		c.Status, c.Reason = metav1.ConditionTrue, accessv1alpha1.ReasonDelivered
		c.Message = fmt.Sprintf("no target failed: %d of %d accepted their last notification, the others have had none to deliver yet",
			delivered, total)
	}
	return c, true
}

// Changes emits an ApprovalPolicy (name only) whenever what Condition
// reports for it may have changed. Use it as a controller-runtime
// source.Channel on the ApprovalPolicy controller. Changes to one policy
// are coalesced until they are received; the channel is fed only while the
// Dispatcher runs. A nil Dispatcher returns a channel that never delivers.
func (d *Dispatcher) Changes() <-chan event.GenericEvent {
	if d == nil {
		return make(chan event.GenericEvent)
	}
	return d.changes
}

// pump moves dirty policies onto changes without making any worker wait
// for the reader of the channel.
func (d *Dispatcher) pump(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		}
		for {
			name, ok := d.nextDirty()
			if !ok {
				break
			}
			ev := event.GenericEvent{Object: &accessv1alpha1.ApprovalPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}}}
			select {
			case d.changes <- ev:
			case <-ctx.Done():
				return
			}
		}
	}
}

func (d *Dispatcher) nextDirty() (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for name := range d.dirty {
		delete(d.dirty, name)
		return name, true
	}
	return "", false
}
