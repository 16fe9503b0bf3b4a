// Package inventory finds the standing access of service accounts: every
// ServiceAccount, every RoleBinding and ClusterRoleBinding that applies to
// it (directly, through its user name, or through the groups
// system:serviceaccounts, system:serviceaccounts:<namespace> and
// system:authenticated), the rules each binding grants with aggregated
// ClusterRoles expanded, where each binding came from, what it lets the
// service account do (policy.Capabilities) and how severe that is
// (policy.CapabilitySeverity, by scope and exposure).
//
// Build is pure: it takes the objects as read from the cluster, and what
// could not be read, and returns a Report. `kubectl rolegate inventory`
// and the manager's standing-access metric both call it.
package inventory

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"rolegate.dev/rolegate/internal/policy"
)

// Resources the inventory reads, as Unreadable names them.
const (
	ResourceServiceAccounts     = "serviceaccounts"
	ResourceRoles               = "roles"
	ResourceClusterRoles        = "clusterroles"
	ResourceRoleBindings        = "rolebindings"
	ResourceClusterRoleBindings = "clusterrolebindings"
	ResourcePods                = "pods"
	ResourceSecrets             = "secrets"
)

// Groups that hold service accounts.
const (
	GroupAllServiceAccounts = "system:serviceaccounts"
	GroupAuthenticated      = "system:authenticated"
	serviceAccountUser      = "system:serviceaccount:"
)

// LegacyTokenAnnotation names the service account whose token a legacy
// token Secret holds; it is in the Secret's metadata, so finding token
// Secrets needs no read of any Secret's data.
const LegacyTokenAnnotation = corev1.ServiceAccountNameKey

// Input is what Build reads. Secrets are metadata only: the inventory never
// needs their data.
type Input struct {
	ServiceAccounts     []corev1.ServiceAccount
	Roles               []rbacv1.Role
	ClusterRoles        []rbacv1.ClusterRole
	RoleBindings        []rbacv1.RoleBinding
	ClusterRoleBindings []rbacv1.ClusterRoleBinding
	Pods                []corev1.Pod
	Secrets             []metav1.PartialObjectMetadata
	// Unreadable lists the resources that could not be read; Build judges
	// what depends on them as unknown, never as harmless.
	Unreadable []Unreadable
}

// Options select what Build reports.
type Options struct {
	// Namespace limits the report to the service accounts of one
	// namespace; "" reports every namespace.
	Namespace string
	// IncludeRolegate also reports rolegate's own time-bound grants.
	IncludeRolegate bool
}

// Report is the inventory; its JSON form is the output of
// `kubectl rolegate inventory -o json`, and fields are only ever added.
type Report struct {
	// ServiceAccounts are every service account in scope, and every one a
	// binding names that does not exist, most severe first.
	ServiceAccounts []ServiceAccount `json:"serviceAccounts"`
	// DanglingBindings name a service account that does not exist: one
	// created with that name inherits them.
	DanglingBindings []DanglingBinding `json:"danglingBindings"`
	// Unreadable lists what could not be read: the report is incomplete.
	Unreadable []Unreadable `json:"unreadable"`
}

// ServiceAccount is one service account and its standing access.
type ServiceAccount struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Exists is false for a service account only bindings name, null when
	// the service accounts of its namespace could not be read.
	Exists *bool `json:"exists"`
	// Bindings are the bindings that apply to it.
	Bindings []Binding `json:"bindings"`
	// Capabilities is the union of its bindings' capabilities.
	Capabilities []policy.Capability `json:"capabilities"`
	// Severity is the most severe of its bindings'.
	Severity policy.Severity `json:"severity"`
	// Exposure says how its token is reachable; see Exposure.
	Exposure Exposure `json:"-"`
}

// Binding is a RoleBinding or ClusterRoleBinding as it applies to one
// service account.
type Binding struct {
	Kind       string              `json:"kind"`
	Namespace  string              `json:"namespace,omitempty"`
	Name       string              `json:"name"`
	RoleRef    RoleRef             `json:"roleRef"`
	Provenance Provenance          `json:"provenance"`
	Via        string              `json:"via"`
	Scope      policy.Scope        `json:"scope"`
	Severity   policy.Severity     `json:"severity"`
	Caps       []policy.Capability `json:"capabilities"`
	// Rules are the rules the binding grants, aggregated ClusterRoles
	// expanded; null when the role could not be read.
	Rules []rbacv1.PolicyRule `json:"rules"`
	// RoleMissing is set when the role does not exist: the binding grants
	// nothing now, and everything a role of that name will hold.
	RoleMissing bool `json:"roleMissing,omitempty"`
}

// RoleRef names the binding's role.
type RoleRef struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// DanglingBinding is a binding whose service account subject does not exist.
type DanglingBinding struct {
	Binding
	ServiceAccount string `json:"serviceAccount"`
}

// Unreadable is a resource that could not be listed.
type Unreadable struct {
	Resource string `json:"resource"`
	// Namespace is empty for a cluster-wide list.
	Namespace string `json:"namespace,omitempty"`
	Reason    string `json:"reason"`
}

// What reads "secrets in namespace team-a" or "clusterroles cluster-wide".
func (u Unreadable) What() string {
	if u.Namespace != "" {
		return u.Resource + " in namespace " + u.Namespace
	}
	return u.Resource + " cluster-wide"
}

// String reads "secrets in namespace team-a: forbidden ...".
func (u Unreadable) String() string {
	return u.What() + ": " + u.Reason
}

// Exposure is how a service account's credentials are reachable.
type Exposure string

// Exposures.
const (
	// ExposurePods: running pods mount its token.
	ExposurePods Exposure = "pods"
	// ExposureTokenSecret: a legacy token Secret holds a token for it.
	ExposureTokenSecret Exposure = "token-secret"
	// ExposureBoth: both of the above.
	ExposureBoth Exposure = "pods+token-secret"
	// ExposureNone: neither; its access is standing but unused.
	ExposureNone Exposure = "none"
	// ExposureUnknown: pods or Secrets could not be read; judged exposed.
	ExposureUnknown Exposure = "unknown"
)

// exposed reports whether severity counts the service account as exposed.
func (e Exposure) exposed() bool { return e != ExposureNone }

// BindingKey names a binding: "RoleBinding team-a/ci" or
// "ClusterRoleBinding ci".
func (b *Binding) BindingKey() string {
	if b.Namespace == "" {
		return b.Kind + " " + b.Name
	}
	return b.Kind + " " + b.Namespace + "/" + b.Name
}

// builder holds Build's indexes.
type builder struct {
	in   *Input
	opts Options

	clusterRoles map[string]*rbacv1.ClusterRole
	roles        map[string]*rbacv1.Role
	// ruleCache memoizes the rules of each role reference.
	ruleCache map[RoleRef]map[string]roleRules
	// accounts holds every service account by "namespace/name"; inScope
	// the existing ones, for group subjects.
	accounts map[string]*ServiceAccount
	inScope  []*ServiceAccount
}

type roleRules struct {
	rules   []rbacv1.PolicyRule
	missing bool
	unknown bool
	err     error
}

// Build makes the inventory.
func Build(in *Input, opts Options) (*Report, error) {
	b := newBuilder(in, opts)
	for i := range in.ClusterRoleBindings {
		crb := &in.ClusterRoleBindings[i]
		if err := b.apply(&crb.ObjectMeta, "ClusterRoleBinding", crb.RoleRef, crb.Subjects); err != nil {
			return nil, err
		}
	}
	for i := range in.RoleBindings {
		rb := &in.RoleBindings[i]
		// A RoleBinding in any namespace may name a service account in
		// scope: apply keeps the subjects in scope.
		if err := b.apply(&rb.ObjectMeta, "RoleBinding", rb.RoleRef, rb.Subjects); err != nil {
			return nil, err
		}
	}
	return b.report(), nil
}

func newBuilder(in *Input, opts Options) *builder {
	b := &builder{
		in: in, opts: opts,
		clusterRoles: make(map[string]*rbacv1.ClusterRole, len(in.ClusterRoles)),
		roles:        make(map[string]*rbacv1.Role, len(in.Roles)),
		ruleCache:    map[RoleRef]map[string]roleRules{},
		accounts:     map[string]*ServiceAccount{},
	}
	for i := range in.ClusterRoles {
		b.clusterRoles[in.ClusterRoles[i].Name] = &in.ClusterRoles[i]
	}
	for i := range in.Roles {
		r := &in.Roles[i]
		b.roles[r.Namespace+"/"+r.Name] = r
	}
	for i := range in.ServiceAccounts {
		sa := &in.ServiceAccounts[i]
		if !b.inNamespace(sa.Namespace) {
			continue
		}
		a := &ServiceAccount{Namespace: sa.Namespace, Name: sa.Name, Exists: ptr(true)}
		b.accounts[sa.Namespace+"/"+sa.Name] = a
		b.inScope = append(b.inScope, a)
	}
	slices.SortFunc(b.inScope, compareAccounts)
	return b
}

// apply adds a binding to every service account a subject of it names.
func (b *builder) apply(meta *metav1.ObjectMeta, kind string, ref rbacv1.RoleRef, subjects []rbacv1.Subject) error {
	prov := Detect(meta)
	if prov == ProvenanceRolegate && !b.opts.IncludeRolegate {
		return nil
	}
	rr, err := b.rules(RoleRef{Kind: ref.Kind, Name: ref.Name}, meta.Namespace)
	if err != nil {
		return fmt.Errorf("%s %s: %w", kind, meta.Name, err)
	}
	scope := policy.BindingScope(kind, meta.Namespace)
	base := Binding{
		Kind: kind, Namespace: meta.Namespace, Name: meta.Name,
		RoleRef: RoleRef{Kind: ref.Kind, Name: ref.Name}, Provenance: prov, Scope: scope,
		Caps: policy.Capabilities(rr.rules, scope == policy.ScopeCluster), Rules: rr.rules, RoleMissing: rr.missing,
	}
	switch {
	case rr.unknown:
		base.Rules = nil
	case base.Rules == nil:
		base.Rules = []rbacv1.PolicyRule{}
	}
	if base.Caps == nil {
		base.Caps = []policy.Capability{}
	}
	seen := map[*ServiceAccount]bool{}
	add := func(a *ServiceAccount, via string) {
		if seen[a] {
			return
		}
		seen[a] = true
		bb := base
		bb.Via = via
		a.Bindings = append(a.Bindings, bb)
	}
	for _, s := range subjects {
		if s.Kind == rbacv1.GroupKind {
			for _, a := range b.groupMembers(s.Name) {
				add(a, "Group "+s.Name)
			}
			continue
		}
		ns, name, ok := serviceAccountSubject(s, meta.Namespace)
		if !ok || !b.inNamespace(ns) {
			continue
		}
		via := rbacv1.ServiceAccountKind
		if s.Kind == rbacv1.UserKind {
			via = "User " + s.Name
		}
		add(b.account(ns, name), via)
	}
	return nil
}

// groupMembers are the existing service accounts in scope that a group
// holds: all of them for system:serviceaccounts and system:authenticated,
// a namespace's for system:serviceaccounts:<namespace>, none otherwise.
func (b *builder) groupMembers(group string) []*ServiceAccount {
	if group == GroupAllServiceAccounts || group == GroupAuthenticated {
		return b.inScope
	}
	ns, ok := strings.CutPrefix(group, GroupAllServiceAccounts+":")
	if !ok {
		return nil
	}
	var out []*ServiceAccount
	for _, a := range b.inScope {
		if a.Namespace == ns {
			out = append(out, a)
		}
	}
	return out
}

// account is the service account ns/name, added as not existing (or
// unknown, when its namespace's service accounts could not be read) when
// only a binding names it.
func (b *builder) account(ns, name string) *ServiceAccount {
	key := ns + "/" + name
	a := b.accounts[key]
	if a == nil {
		a = &ServiceAccount{Namespace: ns, Name: name}
		if !b.unreadable(ResourceServiceAccounts, ns) {
			a.Exists = ptr(false)
		}
		b.accounts[key] = a
	}
	return a
}

// report rates every account and lists them, most severe first.
func (b *builder) report() *Report {
	rep := &Report{Unreadable: slices.Clone(b.in.Unreadable), DanglingBindings: []DanglingBinding{}}
	if rep.Unreadable == nil {
		rep.Unreadable = []Unreadable{}
	}
	accounts := b.accounts
	exposure := b.exposures()
	rep.ServiceAccounts = make([]ServiceAccount, 0, len(accounts))
	for key, a := range accounts {
		a.Exposure = exposure[key]
		switch {
		case a.Exposure != "":
		case b.unreadable(ResourcePods, a.Namespace) || b.unreadable(ResourceSecrets, a.Namespace):
			a.Exposure = ExposureUnknown
		default:
			a.Exposure = ExposureNone
		}
		a.finish()
		if a.Bindings == nil {
			a.Bindings = []Binding{}
		}
		rep.ServiceAccounts = append(rep.ServiceAccounts, *a)
		if a.Exists != nil && !*a.Exists {
			for _, bd := range a.Bindings {
				if bd.Via == rbacv1.ServiceAccountKind || strings.HasPrefix(bd.Via, "User ") {
					rep.DanglingBindings = append(rep.DanglingBindings, DanglingBinding{Binding: bd, ServiceAccount: key})
				}
			}
		}
	}
	slices.SortFunc(rep.ServiceAccounts, func(x, y ServiceAccount) int {
		if c := cmp.Compare(y.Severity.Rank(), x.Severity.Rank()); c != 0 {
			return c
		}
		return compareAccounts(&x, &y)
	})
	slices.SortFunc(rep.DanglingBindings, func(x, y DanglingBinding) int {
		return cmp.Or(cmp.Compare(x.ServiceAccount, y.ServiceAccount), cmp.Compare(x.BindingKey(), y.BindingKey()))
	})
	return rep
}

// finish computes the severity of each binding for this service account
// and the account's capabilities and severity.
func (a *ServiceAccount) finish() {
	exposed := a.Exposure.exposed()
	has := map[policy.Capability]bool{}
	a.Severity = policy.SeverityNone
	for i := range a.Bindings {
		bd := &a.Bindings[i]
		bd.Severity = policy.SeverityNone
		for _, c := range bd.Caps {
			has[c] = true
			bd.Severity = policy.MaxSeverity(bd.Severity, policy.CapabilitySeverity(c, bd.Scope, exposed))
		}
		a.Severity = policy.MaxSeverity(a.Severity, bd.Severity)
	}
	slices.SortFunc(a.Bindings, func(x, y Binding) int { return cmp.Compare(x.BindingKey(), y.BindingKey()) })
	a.Capabilities = []policy.Capability{}
	for _, c := range policy.AllCapabilities {
		if has[c] {
			a.Capabilities = append(a.Capabilities, c)
		}
	}
}

func compareAccounts(x, y *ServiceAccount) int {
	return cmp.Or(cmp.Compare(x.Namespace, y.Namespace), cmp.Compare(x.Name, y.Name))
}

// serviceAccountSubject is the service account a subject names directly:
// kind ServiceAccount (namespace defaulting to the RoleBinding's, as the
// authorizer does) or the service account's user name
// system:serviceaccount:<namespace>:<name>.
func serviceAccountSubject(s rbacv1.Subject, bindingNamespace string) (ns, name string, ok bool) {
	switch s.Kind {
	case rbacv1.ServiceAccountKind:
		ns = cmp.Or(s.Namespace, bindingNamespace)
		return ns, s.Name, ns != "" && s.Name != ""
	case rbacv1.UserKind:
		rest, found := strings.CutPrefix(s.Name, serviceAccountUser)
		if !found {
			return "", "", false
		}
		ns, name, ok = strings.Cut(rest, ":")
		return ns, name, ok && ns != "" && name != ""
	}
	return "", "", false
}

func (b *builder) inNamespace(ns string) bool {
	return b.opts.Namespace == "" || ns == b.opts.Namespace
}

// unreadable reports whether resource could not be read in namespace ns,
// either there or cluster-wide.
func (b *builder) unreadable(resource, ns string) bool {
	return slices.ContainsFunc(b.in.Unreadable, func(u Unreadable) bool {
		return u.Resource == resource && (u.Namespace == "" || u.Namespace == ns)
	})
}

// rules resolves a role reference of a binding in namespace ns ("" for a
// ClusterRoleBinding).
func (b *builder) rules(ref RoleRef, ns string) (roleRules, error) {
	key := ns
	if ref.Kind == "ClusterRole" {
		key = ""
	}
	if byNS, ok := b.ruleCache[ref]; ok {
		if rr, ok := byNS[key]; ok {
			return rr, rr.err
		}
	} else {
		b.ruleCache[ref] = map[string]roleRules{}
	}
	var rr roleRules
	switch ref.Kind {
	case "ClusterRole":
		cr := b.clusterRoles[ref.Name]
		switch {
		case cr != nil:
			rules, err := policy.AggregateRules(cr, b.matchingClusterRoles)
			rr = roleRules{rules: rules, err: err}
		case b.unreadable(ResourceClusterRoles, ""):
			rr.unknown = true
		default:
			rr.missing = true
		}
	case "Role":
		r := b.roles[ns+"/"+ref.Name]
		switch {
		case r != nil:
			rr.rules = r.Rules
		case b.unreadable(ResourceRoles, ns):
			rr.unknown = true
		default:
			rr.missing = true
		}
	default:
		rr.err = fmt.Errorf("roleRef.kind %q is neither Role nor ClusterRole", ref.Kind)
	}
	b.ruleCache[ref][key] = rr
	return rr, rr.err
}

func (b *builder) matchingClusterRoles(sel labels.Selector) ([]rbacv1.ClusterRole, error) {
	var out []rbacv1.ClusterRole
	for i := range b.in.ClusterRoles {
		if sel.Matches(labels.Set(b.in.ClusterRoles[i].Labels)) {
			out = append(out, b.in.ClusterRoles[i])
		}
	}
	return out, nil
}

// exposures finds, per "namespace/name", how a service account is exposed:
// pods that have not terminated and mount its token, legacy token Secrets.
func (b *builder) exposures() map[string]Exposure {
	pods, secrets := map[string]bool{}, map[string]bool{}
	automountOff := map[string]bool{}
	for i := range b.in.ServiceAccounts {
		sa := &b.in.ServiceAccounts[i]
		if sa.AutomountServiceAccountToken != nil && !*sa.AutomountServiceAccountToken {
			automountOff[sa.Namespace+"/"+sa.Name] = true
		}
	}
	for i := range b.in.Pods {
		p := &b.in.Pods[i]
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		key := p.Namespace + "/" + cmp.Or(p.Spec.ServiceAccountName, "default")
		if mountsToken(p, automountOff[key]) {
			pods[key] = true
		}
	}
	for i := range b.in.Secrets {
		s := &b.in.Secrets[i]
		if name := s.Annotations[LegacyTokenAnnotation]; name != "" {
			secrets[s.Namespace+"/"+name] = true
		}
	}
	out := map[string]Exposure{}
	for k := range pods {
		out[k] = ExposurePods
	}
	for k := range secrets {
		if out[k] == ExposurePods {
			out[k] = ExposureBoth
		} else {
			out[k] = ExposureTokenSecret
		}
	}
	return out
}

// mountsToken reports whether a pod mounts its service account's token:
// the pod's automountServiceAccountToken wins over the service account's,
// and a projected serviceAccountToken volume mounts one regardless.
func mountsToken(p *corev1.Pod, saAutomountOff bool) bool {
	for _, v := range p.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, src := range v.Projected.Sources {
			if src.ServiceAccountToken != nil {
				return true
			}
		}
	}
	if p.Spec.AutomountServiceAccountToken != nil {
		return *p.Spec.AutomountServiceAccountToken
	}
	return !saAutomountOff
}

func ptr[T any](v T) *T { return &v }

// BindingsBySeverity counts the distinct bindings that apply to a service
// account, each under the most severe of its severities for the accounts
// it applies to; every severity is present, zero when no binding has it.
// Dangling bindings count too: they are standing access waiting for an
// account.
func (r *Report) BindingsBySeverity() map[policy.Severity]int {
	worst := map[string]policy.Severity{}
	for i := range r.ServiceAccounts {
		for j := range r.ServiceAccounts[i].Bindings {
			b := &r.ServiceAccounts[i].Bindings[j]
			key := b.BindingKey()
			if s, ok := worst[key]; !ok || b.Severity.Rank() > s.Rank() {
				worst[key] = b.Severity
			}
		}
	}
	out := make(map[policy.Severity]int, len(policy.Severities))
	for _, s := range policy.Severities {
		out[s] = 0
	}
	for _, s := range worst {
		out[s]++
	}
	return out
}
