package controller

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	rgscheme "rolegate.dev/rolegate/internal/scheme"
)

// TestFreshnessSkipsPassesBehindOwnWrites: after a write through
// freshClient, a pass that reads the version from before the write is
// skipped; once the written version (or a later one) is read, or the
// request is gone, passes run again.
func TestFreshnessSkipsPassesBehindOwnWrites(t *testing.T) {
	ctx := context.Background()
	ar := &accessv1alpha1.AccessRequest{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "r"}}
	writer := fake.NewClientBuilder().WithScheme(rgscheme.Scheme).WithObjects(ar).
		WithStatusSubresource(&accessv1alpha1.AccessRequest{}).Build()
	f := &freshness{}
	c := freshClient{Client: writer, fresh: f}
	key := client.ObjectKeyFromObject(ar)

	// The "cache" still holds the version read before the write.
	cached := &accessv1alpha1.AccessRequest{}
	if err := writer.Get(ctx, key, cached); err != nil {
		t.Fatal(err)
	}
	stale := fake.NewClientBuilder().WithScheme(rgscheme.Scheme).WithObjects(cached.DeepCopy()).Build()

	if f.behind(ctx, stale, key) {
		t.Fatal("a request never written is behind")
	}
	w := cached.DeepCopy()
	before := w.DeepCopy()
	w.Status.RoleBinding = "rb"
	if err := c.Status().Patch(ctx, w, client.MergeFrom(before)); err != nil {
		t.Fatal(err)
	}
	if !f.behind(ctx, stale, key) {
		t.Fatal("a pass reading the version from before the controller's write was not skipped")
	}
	if f.behind(ctx, writer, key) {
		t.Fatal("a pass reading the written version was skipped")
	}
	if f.behind(ctx, stale, key) {
		t.Fatal("the entry was not dropped once the written version was read")
	}

	// A request that is gone drops its entry.
	w2 := w.DeepCopy()
	b2 := w2.DeepCopy()
	w2.Status.RoleBinding = "rb2"
	if err := c.Status().Patch(ctx, w2, client.MergeFrom(b2)); err != nil {
		t.Fatal(err)
	}
	empty := fake.NewClientBuilder().WithScheme(rgscheme.Scheme).Build()
	if f.behind(ctx, empty, key) || len(f.stale) != 0 {
		t.Fatal("a deleted request kept its entry or was skipped")
	}
}
