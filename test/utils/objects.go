package utils

import (
	"sort"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Objects is a rendered set of manifests (a kustomize build or a Helm render).
type Objects []*unstructured.Unstructured

// OfKind returns the objects of one kind, in order.
func (o Objects) OfKind(kind string) Objects {
	var out Objects
	for _, u := range o {
		if u.GetKind() == kind {
			out = append(out, u)
		}
	}
	return out
}

// Find returns the object of that kind, namespace and name, or nil.
func (o Objects) Find(kind, namespace, name string) *unstructured.Unstructured {
	for _, u := range o {
		if u.GetKind() == kind && u.GetNamespace() == namespace && u.GetName() == name {
			return u
		}
	}
	return nil
}

// IDs names every object, sorted, for messages.
func (o Objects) IDs() []string {
	out := make([]string, 0, len(o))
	for _, u := range o {
		out = append(out, ObjectID(u))
	}
	sort.Strings(out)
	return out
}

// One returns the only object of the kind, failing the test otherwise.
func (o Objects) One(t testing.TB, kind string) *unstructured.Unstructured {
	t.Helper()
	all := o.OfKind(kind)
	if len(all) != 1 {
		t.Fatalf("want exactly one %s, got %v", kind, all.IDs())
	}
	return all[0]
}

// ObjectID names an object as "Kind namespace/name" (or "Kind name").
func ObjectID(u *unstructured.Unstructured) string {
	if u.GetNamespace() == "" {
		return u.GetKind() + " " + u.GetName()
	}
	return u.GetKind() + " " + u.GetNamespace() + "/" + u.GetName()
}
