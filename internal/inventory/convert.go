package inventory

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
)

// ConvertOptions shape what Convert emits.
type ConvertOptions struct {
	// PolicyName names the ApprovalPolicy; empty means
	// standing-<namespace>-<service account>.
	PolicyName string
	// Approvers decide the requests: the policy's one approver tier.
	Approvers []accessv1alpha1.Subject
	// Requesters may open requests; empty leaves the policy's default.
	Requesters []accessv1alpha1.Subject
	// Duration is the AccessRequest's duration; MaxDuration the
	// entitlement's.
	Duration, MaxDuration time.Duration
}

// Conversion is what replaces a service account's standing bindings: an
// ApprovalPolicy with one entitlement per role, one AccessRequest per
// binding, the narrower Roles suggested for risky roles, and notes for the
// reader (what cannot be reproduced, what was narrowed).
type Conversion struct {
	Policy   *accessv1alpha1.ApprovalPolicy
	Requests []*accessv1alpha1.AccessRequest
	Roles    []*rbacv1.Role
	Notes    []string
}

// Convert turns the bindings of a service account (as Build reports them)
// into just-in-time access. A RoleBinding is reproduced in its namespace; a
// ClusterRoleBinding in the service account's namespace only, since
// rolegate grants RoleBindings (a note says so). A role with persistence
// risks (policy.PersistenceRisks) is replaced by a narrower Role of the
// same rules without them: wildcard verbs become read verbs, wildcard
// resources, non-resource URLs and risky verbs are dropped. Bindings that
// apply through a group are left out with a note: converting them would
// change every member of the group.
func Convert(a *ServiceAccount, bindings []Binding, o ConvertOptions) (*Conversion, error) {
	conv, err := newConversion(a, o)
	if err != nil {
		return nil, err
	}
	var namespaces []string
	for _, b := range bindings {
		ns, converted, err := conv.convertBinding(a, b, o)
		if err != nil {
			return nil, err
		}
		if converted && !slices.Contains(namespaces, ns) {
			namespaces = append(namespaces, ns)
		}
	}
	spec := &conv.Policy.Spec
	if len(spec.Entitlements) == 0 {
		return nil, fmt.Errorf("service account %s/%s has no binding of its own to convert", a.Namespace, a.Name)
	}
	slices.Sort(namespaces)
	spec.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
		Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpIn, Values: namespaces}}}
	return conv, nil
}

// newConversion checks the options and starts the conversion with an
// ApprovalPolicy that has one approver tier and no entitlement yet.
func newConversion(a *ServiceAccount, o ConvertOptions) (*Conversion, error) {
	if len(o.Approvers) == 0 {
		return nil, fmt.Errorf("no approvers: pass --approver KIND:NAME (User, Group or ServiceAccount) for the policy's approver tier")
	}
	if o.Duration <= 0 || o.MaxDuration < o.Duration {
		return nil, fmt.Errorf("duration %s must be positive and at most maxDuration %s", o.Duration, o.MaxDuration)
	}
	name := o.PolicyName
	if name == "" {
		name = dnsName("standing-" + a.Namespace + "-" + a.Name)
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return nil, fmt.Errorf("policy name %q: %s", name, strings.Join(errs, "; "))
	}
	return &Conversion{Policy: &accessv1alpha1.ApprovalPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: accessv1alpha1.GroupVersion.String(), Kind: "ApprovalPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: accessv1alpha1.ApprovalPolicySpec{
			Requesters: o.Requesters,
			Approvers:  []accessv1alpha1.ApproverTier{{Name: "owners", Subjects: o.Approvers}},
		},
	}}, nil
}

// convertBinding adds the entitlement and the AccessRequest that replace
// one binding, and returns the namespace the request grants in. A binding
// that applies through a group is left out with a note (converted false).
func (c *Conversion) convertBinding(a *ServiceAccount, b Binding, o ConvertOptions) (ns string, converted bool, err error) {
	if b.Via != rbacv1.ServiceAccountKind && !strings.HasPrefix(b.Via, "User ") {
		c.Notes = append(c.Notes, fmt.Sprintf("%s applies through %s and is left as it is: converting it would change every member",
			b.BindingKey(), b.Via))
		return "", false, nil
	}
	if b.Rules == nil {
		return "", false, fmt.Errorf("%s: the rules of %s/%s could not be read; convert with a user who may read it",
			b.BindingKey(), b.RoleRef.Kind, b.RoleRef.Name)
	}
	ns = c.grantNamespace(a, b)
	ref := c.grantedRole(b, ns)
	spec := &c.Policy.Spec
	if !slices.ContainsFunc(spec.Entitlements, func(e accessv1alpha1.Entitlement) bool { return e.RoleRef == ref }) {
		spec.Entitlements = append(spec.Entitlements, accessv1alpha1.Entitlement{
			RoleRef: ref, MaxDuration: metav1.Duration{Duration: o.MaxDuration}, Sensitivity: sensitivity(b.Severity)})
	}
	c.addRequest(a, b, ref, ns, o.Duration)
	return ns, true, nil
}

// grantNamespace is where the replacement of a binding grants: the
// RoleBinding's namespace, or for a ClusterRoleBinding the service
// account's own (with a note: rolegate grants in one namespace).
func (c *Conversion) grantNamespace(a *ServiceAccount, b Binding) string {
	if b.Kind != "ClusterRoleBinding" {
		return b.Namespace
	}
	c.Notes = append(c.Notes, fmt.Sprintf("%s grants %s/%s in every namespace; rolegate grants in one namespace, "+
		"so this reproduces it in %s only (request other namespaces alike; cluster-scoped resources are not reproduced)",
		b.BindingKey(), b.RoleRef.Kind, b.RoleRef.Name, a.Namespace))
	return a.Namespace
}

// grantedRole is the role the replacement grants: the bound role, or a
// narrower Role in ns without the rules that carry persistence risks
// (added to the conversion, with a note).
func (c *Conversion) grantedRole(b Binding, ns string) accessv1alpha1.RoleRef {
	ref := accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKind(b.RoleRef.Kind), Name: b.RoleRef.Name}
	if b.RoleMissing {
		c.Notes = append(c.Notes, fmt.Sprintf("%s refers to %s, which does not exist; the entitlement keeps the reference",
			b.BindingKey(), ref))
	}
	risks := policy.PersistenceRisks(b.Rules)
	if len(risks) == 0 {
		return ref
	}
	role := narrowRole(b.Rules, ns, dnsName(b.RoleRef.Name+"-jit"))
	c.Roles = append(c.Roles, role)
	c.Notes = append(c.Notes, fmt.Sprintf("%s/%s is risky (%s); suggested instead: Role %s/%s without those rules",
		b.RoleRef.Kind, b.RoleRef.Name, policy.DescribeRisks(b.RoleRef.Kind+"/"+b.RoleRef.Name, risks), ns, role.Name))
	return accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: role.Name}
}

// addRequest adds the AccessRequest for ref in ns that replaces binding b;
// when ns is not the service account's namespace, the policy lets
// requests name service accounts of that namespace.
func (c *Conversion) addRequest(a *ServiceAccount, b Binding, ref accessv1alpha1.RoleRef, ns string, d time.Duration) {
	req := &accessv1alpha1.AccessRequest{
		TypeMeta:   metav1.TypeMeta{APIVersion: accessv1alpha1.GroupVersion.String(), Kind: "AccessRequest"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: dnsName(a.Name + "-" + ref.Name)},
		Spec: accessv1alpha1.AccessRequestSpec{
			ServiceAccount: accessv1alpha1.ServiceAccountReference{Name: a.Name},
			RoleRef:        ref,
			Duration:       metav1.Duration{Duration: d},
			Justification:  "just-in-time replacement of standing " + b.BindingKey(),
			Policy:         c.Policy.Name,
		},
	}
	if ns != a.Namespace {
		spec := &c.Policy.Spec
		req.Spec.ServiceAccount.Namespace = a.Namespace
		if !slices.Contains(spec.ServiceAccountNamespaces, a.Namespace) {
			spec.ServiceAccountNamespaces = append(spec.ServiceAccountNamespaces, a.Namespace)
		}
	}
	c.Requests = append(c.Requests, req)
}

// sensitivity of an entitlement for a binding of this severity.
func sensitivity(s policy.Severity) accessv1alpha1.Sensitivity {
	switch s {
	case policy.SeverityCritical:
		return accessv1alpha1.SensitivityCritical
	case policy.SeverityHigh:
		return accessv1alpha1.SensitivityHigh
	case policy.SeverityMedium:
		return accessv1alpha1.SensitivityMedium
	default:
		return accessv1alpha1.SensitivityLow
	}
}

// readVerbs replace a wildcard verb in a narrowed role.
var readVerbs = []string{"get", "list", "watch"}

// narrowRole keeps, of each rule, the verb and resource pairs that carry
// no persistence risk.
func narrowRole(rules []rbacv1.PolicyRule, ns, name string) *rbacv1.Role {
	role := &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "Role"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Rules:      []rbacv1.PolicyRule{},
	}
	for _, r := range rules {
		if len(r.Resources) == 0 || slices.Contains(r.Resources, rbacv1.ResourceAll) {
			continue
		}
		verbs := r.Verbs
		if slices.Contains(verbs, rbacv1.VerbAll) {
			verbs = readVerbs
		}
		// Group the resources by the verbs they keep, in rule order.
		var kept []rbacv1.PolicyRule
		for _, res := range r.Resources {
			var ok []string
			for _, v := range verbs {
				one := rbacv1.PolicyRule{APIGroups: r.APIGroups, Resources: []string{res}, Verbs: []string{v}}
				if len(policy.PersistenceRisks([]rbacv1.PolicyRule{one})) == 0 {
					ok = append(ok, v)
				}
			}
			if len(ok) == 0 {
				continue
			}
			i := slices.IndexFunc(kept, func(k rbacv1.PolicyRule) bool { return slices.Equal(k.Verbs, ok) })
			if i < 0 {
				kept = append(kept, rbacv1.PolicyRule{APIGroups: r.APIGroups, Verbs: ok, ResourceNames: r.ResourceNames})
				i = len(kept) - 1
			}
			kept[i].Resources = append(kept[i].Resources, res)
		}
		role.Rules = append(role.Rules, kept...)
	}
	return role
}

// dnsName makes s a valid object name: lower case, ':' and other
// characters replaced by '-', at most 63 characters.
func dnsName(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '.' {
			b[i] = '-'
		}
	}
	out := strings.Trim(string(b), "-.")
	if len(out) > 63 {
		out = strings.TrimRight(out[:63], "-.")
	}
	return out
}

// WriteYAML prints the conversion as YAML documents ready for
// `kubectl apply -f -`, the notes as comments before them.
func (c *Conversion) WriteYAML(w io.Writer) error {
	fmt.Fprintln(w, "# Just-in-time replacement of standing access (docs/inventory.md describes the migration).")
	for _, n := range c.Notes {
		fmt.Fprintln(w, "# NOTE: "+n)
	}
	objs := make([]any, 0, 1+len(c.Roles)+len(c.Requests))
	objs = append(objs, c.Policy)
	for _, r := range c.Roles {
		objs = append(objs, r)
	}
	for _, r := range c.Requests {
		objs = append(objs, r)
	}
	for _, o := range objs {
		raw, err := yaml.Marshal(o)
		if err != nil {
			return err
		}
		var doc map[string]any
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			return err
		}
		// Drop what a manifest does not carry.
		delete(doc, "status")
		if m, ok := doc["metadata"].(map[string]any); ok {
			delete(m, "creationTimestamp")
		}
		if raw, err = yaml.Marshal(doc); err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "---\n%s", raw); err != nil {
			return err
		}
	}
	return nil
}
