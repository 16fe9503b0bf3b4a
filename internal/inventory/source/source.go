// Package source reads what inventory.Build needs from a cluster, page by
// page, recording what it may not read instead of failing: the CLI and the
// manager's standing-access metric share it.
package source

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"rolegate.dev/rolegate/internal/inventory"
)

// DefaultPageSize is how many objects one list call asks for.
const DefaultPageSize = 500

// Options tune Read.
type Options struct {
	// PageSize is how many objects one list call asks for; 0 means
	// DefaultPageSize.
	PageSize int64
	// SkipSecrets leaves Secrets unread and records them as unreadable
	// with this reason, so that exposure through legacy token Secrets is
	// judged unknown (exposed), never absent. RBAC cannot grant a
	// metadata-only list: whoever may list Secrets' metadata may read their
	// data, which the manager should not hold cluster-wide.
	SkipSecrets string
}

// Read lists service accounts, pods and Secrets (their metadata only: the
// inventory never reads a Secret's data) in namespace, or in every
// namespace when it is "", and Roles, RoleBindings, ClusterRoles and
// ClusterRoleBindings in every namespace (see listAcross). A list the API server forbids is
// recorded in Input.Unreadable; any other error is returned.
func Read(ctx context.Context, c client.Reader, namespace string, o Options) (*inventory.Input, error) {
	pageSize := o.PageSize
	if pageSize <= 0 {
		pageSize = DefaultPageSize
	}
	in := &inventory.Input{}
	r := reader{ctx: ctx, c: c, in: in, pageSize: pageSize}

	var sas corev1.ServiceAccountList
	r.list(inventory.ResourceServiceAccounts, namespace, &sas, func() { in.ServiceAccounts = append(in.ServiceAccounts, sas.Items...) })
	var roles rbacv1.RoleList
	r.listAcross(inventory.ResourceRoles, namespace, &roles, func() { in.Roles = append(in.Roles, roles.Items...) })
	var clusterRoles rbacv1.ClusterRoleList
	r.list(inventory.ResourceClusterRoles, "", &clusterRoles, func() { in.ClusterRoles = append(in.ClusterRoles, clusterRoles.Items...) })
	var rbs rbacv1.RoleBindingList
	r.listAcross(inventory.ResourceRoleBindings, namespace, &rbs, func() { in.RoleBindings = append(in.RoleBindings, rbs.Items...) })
	var crbs rbacv1.ClusterRoleBindingList
	r.list(inventory.ResourceClusterRoleBindings, "", &crbs, func() {
		in.ClusterRoleBindings = append(in.ClusterRoleBindings, crbs.Items...)
	})
	var pods corev1.PodList
	r.list(inventory.ResourcePods, namespace, &pods, func() {
		for i := range pods.Items {
			p := &pods.Items[i]
			// Keep only what the inventory reads of a pod.
			in.Pods = append(in.Pods, corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name},
				Spec: corev1.PodSpec{ServiceAccountName: p.Spec.ServiceAccountName,
					AutomountServiceAccountToken: p.Spec.AutomountServiceAccountToken, Volumes: tokenVolumes(p.Spec.Volumes)},
				Status: corev1.PodStatus{Phase: p.Status.Phase},
			})
		}
	})
	if o.SkipSecrets != "" {
		in.Unreadable = append(in.Unreadable,
			inventory.Unreadable{Resource: inventory.ResourceSecrets, Namespace: namespace, Reason: o.SkipSecrets})
	} else {
		r.secrets(namespace)
	}
	if r.err != nil {
		return nil, r.err
	}
	return in, nil
}

// secrets lists the metadata of Secrets and keeps the legacy token ones.
func (r *reader) secrets(namespace string) {
	in := r.in
	secrets := &metav1.PartialObjectMetadataList{}
	secrets.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
	r.list(inventory.ResourceSecrets, namespace, secrets, func() {
		for i := range secrets.Items {
			s := secrets.Items[i]
			if s.Annotations[inventory.LegacyTokenAnnotation] == "" {
				continue
			}
			in.Secrets = append(in.Secrets, metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
				Namespace: s.Namespace, Name: s.Name,
				Annotations: map[string]string{inventory.LegacyTokenAnnotation: s.Annotations[inventory.LegacyTokenAnnotation]},
			}})
		}
	})
}

// tokenVolumes keeps the projected volumes that mount a service account token.
func tokenVolumes(vols []corev1.Volume) []corev1.Volume {
	var out []corev1.Volume
	for _, v := range vols {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.ServiceAccountToken != nil {
				out = append(out, v)
				break
			}
		}
	}
	return out
}

type reader struct {
	ctx      context.Context
	c        client.Reader
	in       *inventory.Input
	pageSize int64
	err      error
}

// listAcross reads Roles or RoleBindings for the service accounts of
// namespace: a RoleBinding in any namespace may grant to them, so it reads
// every namespace when it may. When only namespace itself may be read, it
// reads that and records that the other namespaces went unseen.
func (r *reader) listAcross(resource, namespace string, list client.ObjectList, each func()) {
	if namespace == "" {
		r.list(resource, "", list, each)
		return
	}
	before := len(r.in.Unreadable)
	r.list(resource, "", list, each)
	if r.err != nil || len(r.in.Unreadable) == before {
		return
	}
	u := &r.in.Unreadable[before]
	u.Reason += fmt.Sprintf("; only namespace %s was read, so %s in other namespaces that grant to its service accounts are not seen",
		namespace, resource)
	r.list(resource, namespace, list, each)
}

// list reads every page of resource into list, calling each after each
// page. After the first error it does nothing.
func (r *reader) list(resource, namespace string, list client.ObjectList, each func()) {
	if r.err != nil {
		return
	}
	cont := ""
	for {
		opts := []client.ListOption{client.Limit(r.pageSize), client.Continue(cont)}
		if namespace != "" {
			opts = append(opts, client.InNamespace(namespace))
		}
		if err := r.c.List(r.ctx, list, opts...); err != nil {
			if apierrors.IsForbidden(err) {
				r.in.Unreadable = append(r.in.Unreadable, inventory.Unreadable{Resource: resource, Namespace: namespace, Reason: err.Error()})
				return
			}
			where := "in every namespace"
			if namespace != "" {
				where = "in namespace " + namespace
			}
			r.err = fmt.Errorf("listing %s %s: %w", resource, where, err)
			return
		}
		each()
		if cont = list.GetContinue(); cont == "" {
			return
		}
	}
}
