package main

import (
	"context"
	"fmt"
	"io"
	"sync"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// roleNotes wraps the CLI's client so that a Role or ClusterRole the user
// may not read is never skipped silently: the first refused read of each
// prints one note. The shipped user roles do not grant reading RBAC objects,
// so for most users the checks that need a role's rules (does it exist,
// does it let a holder outlive the grant) are left to the server, and the
// note says so. With tolerate, the refused read is reported as an empty role
// rather than an error, so that a command that can say more goes on.
type roleNotes struct {
	client.Client
	errOut   io.Writer
	tolerate bool
	mu       sync.Mutex
	noted    map[string]bool
}

func withRoleNotes(c client.Client, errOut io.Writer, tolerate bool) client.Client {
	rn := &roleNotes{Client: c, errOut: errOut, tolerate: tolerate, noted: map[string]bool{}}
	if wc, ok := c.(client.WithWatch); ok {
		return &roleNotesWatch{roleNotes: rn, watcher: wc}
	}
	return rn
}

// roleNotesWatch is roleNotes over a client that can watch.
type roleNotesWatch struct {
	*roleNotes
	watcher client.WithWatch
}

func (r *roleNotesWatch) Watch(ctx context.Context, list client.ObjectList, opts ...client.ListOption) (watch.Interface, error) {
	return r.watcher.Watch(ctx, list, opts...)
}

// tolerateRoles makes a client from withRoleNotes report a role it may not
// read as an empty one (after the note) instead of an error, for commands
// that show everything else they can; other clients are returned as they are.
func tolerateRoles(c client.Client) client.Client {
	switch rn := c.(type) {
	case *roleNotes:
		rn.tolerate = true
	case *roleNotesWatch:
		rn.tolerate = true
	}
	return c
}

func (r *roleNotes) note(what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.noted[what] {
		return
	}
	r.noted[what] = true
	fmt.Fprintf(r.errOut, "Note: you may not read %s, so whether it exists and what its rules allow is not checked here "+
		"(the server checks)\n", what)
}

func (r *roleNotes) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	err := r.Client.Get(ctx, key, obj, opts...)
	if err == nil || !apierrors.IsForbidden(err) {
		return err
	}
	var what string
	switch obj.(type) {
	case *rbacv1.Role:
		what = fmt.Sprintf("%s in namespace %s", accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: key.Name}, key.Namespace)
	case *rbacv1.ClusterRole:
		what = accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: key.Name}.String()
	default:
		return err
	}
	r.note(what)
	if r.tolerate {
		return nil
	}
	return err
}

func (r *roleNotes) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	err := r.Client.List(ctx, list, opts...)
	if err == nil || !apierrors.IsForbidden(err) {
		return err
	}
	if _, ok := list.(*rbacv1.ClusterRoleList); !ok {
		return err
	}
	r.note("the ClusterRoles that an aggregated ClusterRole collects")
	if r.tolerate {
		return nil
	}
	return err
}
