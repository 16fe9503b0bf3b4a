package controller

import (
	"context"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	rgscheme "rolegate.dev/rolegate/internal/scheme"
)

// countingReader counts the reads that go around the cache.
type countingReader struct {
	client.Reader
	gets int
}

func (c *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.gets++
	return c.Reader.Get(ctx, key, obj, opts...)
}

// TestDeleteBindingDeletesExactlyWhatItRead: a binding unchanged since it
// was read is deleted in one request; one that changed is re-read around
// the cache and deleted only while it is still rolegate's; one replaced by
// somebody else's binding of the same name is left alone.
func TestDeleteBindingDeletesExactlyWhatItRead(t *testing.T) {
	ctx := t.Context()
	setup := func(t *testing.T) (*AccessRequestReconciler, *countingReader, *rbacv1.RoleBinding) {
		t.Helper()
		c := fake.NewClientBuilder().WithScheme(rgscheme.Scheme).Build()
		rb := overdueBinding("req", t0)
		if err := c.Create(ctx, rb); err != nil {
			t.Fatal(err)
		}
		reader := &countingReader{Reader: c}
		return &AccessRequestReconciler{Client: c, APIReader: reader}, reader, rb.DeepCopy()
	}
	exists := func(t *testing.T, r *AccessRequestReconciler, uid types.UID) bool {
		t.Helper()
		rb := &rbacv1.RoleBinding{}
		err := r.Get(ctx, client.ObjectKey{Namespace: "team", Name: "req"}, rb)
		return err == nil && (uid == "" || rb.UID == uid)
	}

	t.Run("unchanged: one delete, no read", func(t *testing.T) {
		r, reader, read := setup(t)
		if err := r.deleteBinding(ctx, read); err != nil {
			t.Fatal(err)
		}
		if exists(t, r, "") || reader.gets != 0 {
			t.Errorf("binding left: %v, reads around the cache: %d; want deleted with none", exists(t, r, ""), reader.gets)
		}
	})

	t.Run("changed since read: re-read, then deleted", func(t *testing.T) {
		r, reader, read := setup(t)
		current := read.DeepCopy()
		current.Annotations[accessv1alpha1.ExpiresAtAnnotation] = t0.Add(3600e9).Format("2006-01-02T15:04:05Z")
		if err := r.Update(ctx, current); err != nil {
			t.Fatal(err)
		}
		if err := r.deleteBinding(ctx, read); err != nil {
			t.Fatal(err)
		}
		if exists(t, r, "") || reader.gets != 1 {
			t.Errorf("binding left: %v, reads around the cache: %d; want deleted after one re-read", exists(t, r, ""), reader.gets)
		}
	})

	t.Run("replaced by someone else's binding: left alone", func(t *testing.T) {
		r, _, read := setup(t)
		if err := r.Delete(ctx, read.DeepCopy()); err != nil {
			t.Fatal(err)
		}
		theirs := &rbacv1.RoleBinding{}
		theirs.Namespace, theirs.Name, theirs.UID = "team", "req", "someone-elses"
		theirs.RoleRef = read.RoleRef
		if err := r.Create(ctx, theirs); err != nil {
			t.Fatal(err)
		}
		// The fake client numbers resourceVersions per object; the API
		// server never hands out one twice. Move theirs past the one read.
		theirs.Labels = map[string]string{"team": "theirs"}
		if err := r.Update(ctx, theirs); err != nil {
			t.Fatal(err)
		}
		if err := r.deleteBinding(ctx, read); err != nil {
			t.Fatal(err)
		}
		if !exists(t, r, "someone-elses") {
			t.Error("a binding rolegate does not manage, created under the same name, was deleted")
		}
	})
}
