package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// waitFlag is the value of --wait: absent, present without a value (wait
// until the request settles), or a timeout.
type waitFlag struct {
	set     bool
	timeout time.Duration
}

// waitForever is --wait's value when it is given without one.
const waitForever = "forever"

func (w *waitFlag) String() string {
	switch {
	case !w.set:
		return ""
	case w.timeout == 0:
		return waitForever
	default:
		return w.timeout.String()
	}
}

func (w *waitFlag) Set(s string) error {
	if s == waitForever {
		*w = waitFlag{set: true}
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return fmt.Errorf("--wait takes a positive duration such as 10m, or no value to wait until the request settles; got %q", s)
	}
	*w = waitFlag{set: true, timeout: d}
	return nil
}

func (w *waitFlag) Type() string { return "duration" }

// Errors of --wait: the request ended without access, or time ran out.
var (
	errNotGranted  = errors.New("the request ended without access")
	errWaitTimeout = errors.New("timed out")
)

// settled says what a request's Ready condition means to someone waiting
// for access: granted (true, nil), ended without access (true, error
// naming the reason and the controller's message), or not yet (false).
// A scheduled request is approved but not granted yet: keep waiting.
func settled(ar *accessv1alpha1.AccessRequest) (bool, error) {
	ready := readyCondition(ar)
	if ready == nil {
		return false, nil
	}
	switch ready.Reason {
	case accessv1alpha1.ReasonGranted, accessv1alpha1.ReasonExtended:
		return true, nil
	case accessv1alpha1.ReasonDenied, accessv1alpha1.ReasonTimedOut, accessv1alpha1.ReasonExpired,
		accessv1alpha1.ReasonRevoked, accessv1alpha1.ReasonPolicyChanged, accessv1alpha1.ReasonInvalid:
		return true, fmt.Errorf("%w: AccessRequest %s/%s is %s: %s", errNotGranted, ar.Namespace, ar.Name, ready.Reason, ready.Message)
	}
	return false, nil
}

// ended reports whether a request's Ready condition says it is over: it
// will never be granted again.
func ended(ar *accessv1alpha1.AccessRequest) bool {
	done, err := settled(ar)
	return done && err != nil
}

// watchClient is the client as a client.WithWatch, or an error saying why
// it cannot watch.
func watchClient(c client.Client) (client.WithWatch, error) {
	wc, ok := c.(client.WithWatch)
	if !ok {
		return nil, fmt.Errorf("this client cannot watch AccessRequests")
	}
	return wc, nil
}

// watchRequests calls fn with every state of the named AccessRequest (or of
// every request of the namespace when name is empty) the API server
// reports, starting with the current one (a list), until fn says done or
// returns an error, or ctx ends. It uses a watch from the list's
// resourceVersion and re-establishes it where the server closed it. A
// deleted request reaches fn with deleted set.
func watchRequests(ctx context.Context, c client.WithWatch, ns, name string,
	fn func(ar *accessv1alpha1.AccessRequest, deleted bool) (bool, error)) error {
	opts := []client.ListOption{client.InNamespace(ns)}
	if name != "" {
		opts = append(opts, client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", name)})
	}
	var list accessv1alpha1.AccessRequestList
	if err := c.List(ctx, &list, opts...); err != nil {
		return fmt.Errorf("listing AccessRequests: %w", err)
	}
	if name != "" && len(list.Items) == 0 {
		return apierrors.NewNotFound(accessv1alpha1.GroupVersion.WithResource("accessrequests").GroupResource(), name)
	}
	for i := range list.Items {
		if done, err := fn(&list.Items[i], false); done || err != nil {
			return err
		}
	}
	rv := list.ResourceVersion
	for {
		w, err := c.Watch(ctx, &accessv1alpha1.AccessRequestList{},
			append(opts, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true}})...)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("watching AccessRequests: %w", err)
		}
		done, next, err := drain(ctx, w, name, fn)
		w.Stop()
		if done || err != nil {
			return err
		}
		if next != "" {
			rv = next
		}
	}
}

// drain reads one watch until fn is done, the watch closes (the server
// ends watches now and then: the caller resumes from the returned
// resourceVersion) or ctx ends.
func drain(ctx context.Context, w watch.Interface, name string,
	fn func(ar *accessv1alpha1.AccessRequest, deleted bool) (bool, error)) (bool, string, error) {
	rv := ""
	for {
		select {
		case <-ctx.Done():
			return true, rv, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return false, rv, nil
			}
			switch ev.Type {
			case watch.Error:
				if status, ok := ev.Object.(*metav1.Status); ok && status.Code == 410 {
					// The resourceVersion is too old: start over from a fresh list.
					return false, "", nil
				}
				return true, rv, fmt.Errorf("watching AccessRequests: %w", apierrors.FromObject(ev.Object))
			case watch.Bookmark:
				if ar, ok := ev.Object.(*accessv1alpha1.AccessRequest); ok {
					rv = ar.ResourceVersion
				}
				continue
			}
			ar, ok := ev.Object.(*accessv1alpha1.AccessRequest)
			if !ok || (name != "" && ar.Name != name) {
				continue
			}
			rv = ar.ResourceVersion
			if done, err := fn(ar, ev.Type == watch.Deleted); done || err != nil {
				return true, rv, err
			}
		}
	}
}

// waitForRequest blocks until the request is granted (nil), ends without
// access or is deleted (an error saying why), or the timeout passes (0:
// never). Each change of its Ready reason is printed to out as it happens.
func waitForRequest(ctx context.Context, c client.Client, streams genericiooptions.IOStreams,
	ar *accessv1alpha1.AccessRequest, timeout time.Duration) error {
	wc, err := watchClient(c)
	if err != nil {
		return err
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, timeout, errWaitTimeout)
		defer cancel()
	}
	last := ""
	err = watchRequests(ctx, wc, ar.Namespace, ar.Name, func(cur *accessv1alpha1.AccessRequest, deleted bool) (bool, error) {
		if deleted {
			return true, fmt.Errorf("%w: AccessRequest %s/%s was deleted", errNotGranted, cur.Namespace, cur.Name)
		}
		if ready := readyCondition(cur); ready != nil && ready.Reason != last {
			last = ready.Reason
			fmt.Fprintf(streams.Out, "%s/%s %s: %s\n", requestResource, cur.Name, ready.Reason, cell(ready.Message, 0))
		}
		return settled(cur)
	})
	if errors.Is(context.Cause(ctx), errWaitTimeout) {
		state := "the controller has not reported on it yet"
		if last != "" {
			state = "it is still " + last
		}
		return fmt.Errorf("%w after %s waiting for AccessRequest %s/%s; %s", errWaitTimeout, timeout, ar.Namespace, ar.Name, state)
	}
	return err
}

// watchWidths are the least widths of get --watch's columns: enough for
// the usual values, within 120 columns.
var watchWidths = map[string]int{colNamespace: 12, colName: 18, colStatus: len(accessv1alpha1.ReasonPendingApproval),
	colPolicy: 10, colRole: 18, colRequester: 10, colExpires: 8, colAge: 5}

// watchRun is get --watch: the current state, then every change, in the
// chosen format. For one request it returns once the request ended.
func (o *getOptions) watchRun(ctx context.Context, c client.Client, streams genericiooptions.IOStreams,
	ns, name string, now time.Time) error {
	wc, err := watchClient(c)
	if err != nil {
		return err
	}
	gvk := accessv1alpha1.GroupVersion.WithKind("AccessRequest")
	structured := o.output == outputYAML || o.output == outputJSON
	head := o.header()
	// Rows arrive one at a time, so columns are as wide as the widest cell
	// seen so far (at least the header), as kubectl get -w prints them.
	widths := make([]int, len(head))
	printRow := func(cells []string) {
		var b strings.Builder
		for i, c := range cells {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
			if i == len(cells)-1 {
				b.WriteString(c)
				break
			}
			b.WriteString(c + strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+3))
		}
		fmt.Fprintln(streams.Out, b.String())
	}
	if !structured {
		for i, h := range head {
			widths[i] = max(len(h), watchWidths[h])
		}
		printRow(head)
	}
	status := slices.Index(head, colStatus)
	return watchRequests(ctx, wc, ns, name, func(ar *accessv1alpha1.AccessRequest, deleted bool) (bool, error) {
		if structured {
			ar.SetGroupVersionKind(gvk)
			if o.output == outputYAML {
				fmt.Fprintln(streams.Out, "---")
			}
			if err := printObject(streams, o.output, ar); err != nil {
				return true, err
			}
		} else {
			cells := o.cells(ar, now)
			if deleted {
				cells[status] = "Deleted"
			}
			printRow(cells)
		}
		return name != "" && (deleted || ended(ar)), nil
	})
}
