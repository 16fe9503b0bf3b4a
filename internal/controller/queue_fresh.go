package controller

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// freshness skips a pass that would read an AccessRequest older than the
// controller's own last write to it. Such a pass (started by the
// RoleBinding the previous pass created, say) would compute the same
// status again and lose an optimistic-lock conflict: an API write for
// nothing, then a retry. Skipping is safe because the watch event of that
// write queues the request again, and that pass reads everything afresh.
//
// Only writes that changed the object are remembered (a write that
// changes nothing keeps the resourceVersion and sends no event), and an
// entry is dropped as soon as a newer version is read or the request is
// gone, so the map holds at most the requests written and not yet re-read.
type freshness struct {
	mu    sync.Mutex
	stale map[types.NamespacedName]map[string]struct{}
}

// wrote records that the versions before a successful write are stale.
func (f *freshness) wrote(obj client.Object, before string) {
	if _, ok := obj.(*accessv1alpha1.AccessRequest); !ok || before == "" || obj.GetResourceVersion() == before {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stale == nil {
		f.stale = map[types.NamespacedName]map[string]struct{}{}
	}
	k := client.ObjectKeyFromObject(obj)
	if f.stale[k] == nil {
		f.stale[k] = map[string]struct{}{}
	}
	f.stale[k][before] = struct{}{}
}

// write runs a write of obj and records it (see wrote).
func (f *freshness) write(obj client.Object, do func() error) error {
	before := obj.GetResourceVersion()
	err := do()
	if err == nil {
		f.wrote(obj, before)
	}
	return err
}

// behind reports whether the cache still holds a version of the request
// older than the controller's last write to it.
func (f *freshness) behind(ctx context.Context, c client.Reader, k types.NamespacedName) bool {
	f.mu.Lock()
	versions, ok := f.stale[k]
	f.mu.Unlock()
	if !ok {
		return false
	}
	ar := &accessv1alpha1.AccessRequest{}
	err := c.Get(ctx, k, ar)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		if _, old := versions[ar.ResourceVersion]; old {
			return true
		}
	}
	delete(f.stale, k)
	return false
}

// freshClient tells freshness about the writes the reconciler makes.
type freshClient struct {
	client.Client
	fresh *freshness
}

func (c freshClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	return c.fresh.write(obj, func() error { return c.Client.Update(ctx, obj, opts...) })
}

func (c freshClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	return c.fresh.write(obj, func() error { return c.Client.Patch(ctx, obj, patch, opts...) })
}

func (c freshClient) Status() client.SubResourceWriter {
	return freshStatus{SubResourceWriter: c.Client.Status(), fresh: c.fresh}
}

type freshStatus struct {
	client.SubResourceWriter
	fresh *freshness
}

func (s freshStatus) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	return s.fresh.write(obj, func() error { return s.SubResourceWriter.Update(ctx, obj, opts...) })
}

func (s freshStatus) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	return s.fresh.write(obj, func() error { return s.SubResourceWriter.Patch(ctx, obj, patch, opts...) })
}
