// Package lint checks AccessRequest and AccessDecision manifests against the
// ApprovalPolicies found next to them, offline: no cluster, the same
// internal/policy code as admission. It is what `kubectl rolegate lint` runs
// in a GitOps repository before anything reaches the API server.
//
// What admission knows and a Git tree does not is handled explicitly:
//   - namespace labels come from Namespace manifests in the tree or from
//     Options.NamespaceLabels; without either, only policies with an empty
//     namespaceSelector are known to govern, and a warning says so;
//   - the requester is written at admission, so requester rules run only
//     when Options.Requester is set, and a manifest that sets spec.requester
//     (or an AccessDecision that sets spec.reviewer) is refused;
//   - whether a Role exists is not checked; but Roles and ClusterRoles found
//     among the inputs are analysed as the controller analyses catalog
//     roles: one whose rules let a holder outlive or widen a temporary grant
//     (policy.PersistenceRisks, with aggregation among the input
//     ClusterRoles) is reported on the entitlement that offers it, and on
//     the requests for it, unless the entitlement sets allowPersistenceRisk.
package lint

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	sigsyaml "sigs.k8s.io/yaml"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
)

// The kinds of the RBAC roles found among the inputs, as a role reference
// names them.
const (
	kindRole        = string(accessv1alpha1.RoleKindRole)
	kindClusterRole = string(accessv1alpha1.RoleKindClusterRole)
)

// Severity tells whether a finding refuses the manifest.
type Severity string

const (
	// Error: admission would refuse the manifest.
	Error Severity = "error"
	// Warning: the manifest cannot be fully checked offline.
	Warning Severity = "warning"
)

// Reasons of findings that internal/policy does not name.
const (
	ReasonIdentitySet     = "IdentitySet"
	ReasonInvalidObject   = "InvalidObject"
	ReasonInvalidYAML     = "InvalidYAML"
	ReasonUnknownPolicy   = "UnknownPolicy"
	ReasonNoNamespace     = "NoNamespace"
	ReasonDuplicateObject = "DuplicateObject"
	ReasonOverlap         = "OverlappingPolicy"
)

// Finding is one problem, located at the line of the offending field.
type Finding struct {
	File     string
	Line     int
	Field    string
	Message  string
	Reason   string
	Severity Severity
}

// String is `file:line: field: message`; warnings read
// `file:line: warning: field: message`.
func (f Finding) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d: ", f.File, f.Line)
	if f.Severity == Warning {
		b.WriteString("warning: ")
	}
	if f.Field != "" {
		b.WriteString(f.Field + ": ")
	}
	b.WriteString(f.Message)
	return b.String()
}

// Options supply what a Git tree cannot tell.
type Options struct {
	// NamespaceLabels are the labels of namespaces, by name; they take
	// precedence over Namespace manifests in the tree.
	NamespaceLabels map[string]map[string]string
	// Requester, when set, is checked against each policy's requesters as
	// admission would check the user who creates the request.
	Requester *accessv1alpha1.UserInfo
}

// Result is everything found.
type Result struct {
	Findings []Finding
	// Requests is how many AccessRequests were checked.
	Requests int
	// Objects is how many rolegate objects (of any kind) were checked.
	Objects int
}

// Warnings counts the findings that do not refuse a manifest.
func (r Result) Warnings() int { return len(r.Findings) - r.Errors() }

// Errors counts the findings that refuse a manifest.
func (r Result) Errors() int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == Error {
			n++
		}
	}
	return n
}

// doc is one Kubernetes object read from a source.
type doc struct {
	src        *Source
	node       *yaml.Node // the object's mapping
	apiVersion string
	kind       string
	// refused is set when the CRD's schema or CEL rules refuse the object:
	// the API server stops there, so the policy checks do not run on it.
	refused bool
}

func (d *doc) line(field string) int { return lineOf(d.node, field) }

// describe is "NAME at FILE:LINE", or "at FILE:LINE" for an unnamed object.
func (d *doc) describe() string {
	where := fmt.Sprintf("at %s:%d", d.src.Path, d.node.Line)
	for i := 0; i+1 < len(d.node.Content); i += 2 {
		if d.node.Content[i].Value == "metadata" && d.node.Content[i+1].Kind == yaml.MappingNode {
			if name := scalar(d.node.Content[i+1], "name"); name != "" {
				return fmt.Sprintf("%q %s", name, where)
			}
		}
	}
	return where
}

func (d *doc) finding(sev Severity, reason, field, msg string) Finding {
	return Finding{File: d.src.Path, Line: d.line(field), Field: field, Message: msg, Reason: reason, Severity: sev}
}

func (d *doc) violation(v policy.Violation) Finding {
	return d.finding(Error, v.Reason, v.Field, v.Message)
}

// Lint checks the sources: it parses them, validates the rolegate objects
// against their CRDs, reads the policies, roles and namespaces among them,
// then checks the policies' catalogs and every request and decision.
func Lint(sources []Source, o Options) Result {
	var res Result
	var docs []*doc
	for i := range sources {
		ds, fs := parse(&sources[i])
		docs = append(docs, ds...)
		res.Findings = append(res.Findings, fs...)
	}

	l := linter{o: o, nsLabels: map[string]map[string]string{}, clusterRoles: map[string]*roleDoc{},
		policyAt: map[string]*doc{}}
	res.Findings = append(res.Findings, l.validateSchemas(docs, &res.Objects)...)
	res.Findings = append(res.Findings, l.collect(docs)...)
	for ns, nsLabels := range o.NamespaceLabels {
		l.nsLabels[ns] = nsLabels
	}
	for _, p := range l.policies {
		res.Findings = append(res.Findings, l.risks(&p)...)
	}
	res.Findings = append(res.Findings, l.overlaps()...)
	res.Findings = append(res.Findings, l.checkObjects(docs, &res.Requests)...)
	sortFindings(res.Findings, sources)
	return res
}

// collect reads what the other checks need from the objects the API server
// would admit: Roles, ClusterRoles, Namespaces' labels and ApprovalPolicies.
func (l *linter) collect(docs []*doc) []Finding {
	var out []Finding
	for _, d := range docs {
		if d.refused {
			continue
		}
		switch {
		case d.apiVersion == rbacv1.SchemeGroupVersion.String() && (d.kind == kindRole || d.kind == kindClusterRole):
			if r := readRole(d); r != nil && d.kind == kindRole {
				l.roles = append(l.roles, r)
			} else if r != nil {
				l.clusterRoles[r.name] = r
			}
		case d.apiVersion == "v1" && d.kind == "Namespace":
			var ns struct {
				Metadata metav1.ObjectMeta `json:"metadata"`
			}
			if err := decode(d, &ns, false); err == nil && ns.Metadata.Name != "" {
				l.nsLabels[ns.Metadata.Name] = ns.Metadata.Labels
			}
		case d.apiVersion == accessv1alpha1.GroupVersion.String() && d.kind == "ApprovalPolicy":
			out = append(out, l.readPolicy(d)...)
		}
	}
	return out
}

// readPolicy reads an ApprovalPolicy as the policy webhook judges it: one
// it refuses (broken required tags) is reported and, like one the schema
// refuses, not linted against; a later definition of the same name
// replaces an earlier one, with a warning.
func (l *linter) readPolicy(d *doc) []Finding {
	var p accessv1alpha1.ApprovalPolicy
	if err := decode(d, &p, true); err != nil {
		l.refusedPolicies = append(l.refusedPolicies, d.describe())
		return []Finding{d.finding(Error, ReasonInvalidObject, "", err.Error())}
	}
	if vs := policy.ValidateRequiredTags(&p); len(vs) > 0 {
		l.refusedPolicies = append(l.refusedPolicies, d.describe())
		out := make([]Finding, 0, len(vs))
		for _, v := range vs {
			out = append(out, d.violation(v))
		}
		return out
	}
	var out []Finding
	if prev, ok := l.policyAt[p.Name]; ok {
		out = append(out, d.finding(Warning, ReasonDuplicateObject, "metadata.name",
			fmt.Sprintf("ApprovalPolicy %q is also defined at %s:%d; this later definition is the one linted against",
				p.Name, prev.src.Path, prev.node.Line)))
		l.policies = slices.DeleteFunc(l.policies, func(q accessv1alpha1.ApprovalPolicy) bool { return q.Name == p.Name })
	}
	l.policyAt[p.Name] = d
	l.policies = append(l.policies, p)
	return out
}

// overlaps warns, as the policy webhook does, about each policy that offers
// a role another policy before it among the inputs offers in namespaces
// both govern (among the namespaces known offline).
func (l *linter) overlaps() []Finding {
	namespaces := make([]corev1.Namespace, 0, len(l.nsLabels))
	for name, nsLabels := range l.nsLabels {
		namespaces = append(namespaces, corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: nsLabels}})
	}
	slices.SortFunc(namespaces, func(a, b corev1.Namespace) int { return strings.Compare(a.Name, b.Name) })
	var out []Finding
	for i := range l.policies {
		p := &l.policies[i]
		for j := range i {
			other := &l.policies[j]
			for _, o := range policy.Overlaps(p, other, namespaces) {
				out = append(out, l.policyAt[p.Name].finding(Warning, ReasonOverlap, "spec.entitlements", o.String(p.Name, other.Name)))
			}
		}
	}
	return out
}

// checkObjects checks every AccessRequest and AccessDecision the API
// server's schema admits, and counts the requests.
func (l *linter) checkObjects(docs []*doc, requests *int) []Finding {
	var out []Finding
	for _, d := range docs {
		if d.apiVersion != accessv1alpha1.GroupVersion.String() {
			continue
		}
		if d.kind == "AccessRequest" {
			*requests++
		}
		if d.refused {
			continue
		}
		switch d.kind {
		case "AccessRequest":
			out = append(out, l.request(d)...)
		case "AccessDecision":
			out = append(out, l.decision(d)...)
		}
	}
	return out
}

// sortFindings orders findings by source, in the order given, then line.
func sortFindings(findings []Finding, sources []Source) {
	order := map[string]int{}
	for i, s := range sources {
		order[s.Path] = i
	}
	slices.SortStableFunc(findings, func(a, b Finding) int {
		if c := order[a.File] - order[b.File]; c != 0 {
			return c
		}
		return a.Line - b.Line
	})
}

// validateSchemas validates every rolegate object against its CRD, as the
// API server does before any webhook runs, marks the refused ones, and
// counts the objects.
func (l *linter) validateSchemas(docs []*doc, objects *int) []Finding {
	var out []Finding
	for _, d := range docs {
		if !strings.HasPrefix(d.apiVersion, accessv1alpha1.GroupVersion.Group+"/") {
			continue
		}
		fs, _ := schemaFindings(d)
		out = append(out, fs...)
		d.refused = len(fs) > 0
		*objects++
		if d.refused && d.kind == "ApprovalPolicy" {
			l.refusedPolicies = append(l.refusedPolicies, d.describe())
		}
	}
	return out
}

type linter struct {
	o Options
	// refusedPolicies name the ApprovalPolicies among the inputs that the
	// API server would refuse ("name at file:line"): requests cannot be
	// checked against them.
	refusedPolicies []string
	nsLabels        map[string]map[string]string
	policies        []accessv1alpha1.ApprovalPolicy
	policyAt        map[string]*doc
	// roles are the Roles among the inputs, in order; clusterRoles the
	// ClusterRoles by name (a later definition replaces an earlier one).
	roles        []*roleDoc
	clusterRoles map[string]*roleDoc
}

// roleDoc is a Role or ClusterRole read from the inputs.
type roleDoc struct {
	doc             *doc
	name, namespace string
	labels          map[string]string
	rules           []rbacv1.PolicyRule
	aggregation     *rbacv1.AggregationRule
}

// readRole reads a Role or ClusterRole leniently: a manifest rolegate does
// not own is not linted, only analysed; one that cannot be read is skipped.
func readRole(d *doc) *roleDoc {
	var r struct {
		Metadata        metav1.ObjectMeta       `json:"metadata"`
		Rules           []rbacv1.PolicyRule     `json:"rules"`
		AggregationRule *rbacv1.AggregationRule `json:"aggregationRule"`
	}
	if err := decode(d, &r, false); err != nil || r.Metadata.Name == "" {
		return nil
	}
	out := &roleDoc{doc: d, name: r.Metadata.Name, labels: r.Metadata.Labels, rules: r.Rules}
	if d.kind == kindClusterRole {
		out.aggregation = r.AggregationRule
		return out
	}
	out.namespace = r.Metadata.Namespace
	if d.src.Namespace != "" {
		out.namespace = d.src.Namespace
	}
	return out
}

func (r *roleDoc) where() string { return fmt.Sprintf("%s:%d", r.doc.src.Path, r.doc.node.Line) }

// roleRules are the rules of a role found among the inputs: a ClusterRole
// with the rules of the input ClusterRoles it aggregates.
func (l *linter) roleRules(r *roleDoc) ([]rbacv1.PolicyRule, error) {
	if r.doc.kind != kindClusterRole {
		return r.rules, nil
	}
	cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: r.name}, Rules: r.rules, AggregationRule: r.aggregation}
	return policy.AggregateRules(cr, func(sel labels.Selector) ([]rbacv1.ClusterRole, error) {
		var out []rbacv1.ClusterRole
		for _, c := range l.clusterRoles {
			if sel.Matches(labels.Set(c.labels)) {
				out = append(out, rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: c.name, Labels: c.labels},
					Rules: c.rules, AggregationRule: c.aggregation})
			}
		}
		return out, nil
	})
}

// findRole is the input role a request for ref in namespace would get;
// nil if the inputs do not hold it.
func (l *linter) findRole(ref accessv1alpha1.RoleRef, namespace string) *roleDoc {
	if ref.Kind == accessv1alpha1.RoleKindClusterRole {
		return l.clusterRoles[ref.Name]
	}
	var found *roleDoc
	for _, r := range l.roles {
		if r.name == ref.Name && r.namespace == namespace {
			found = r
		}
	}
	return found
}

// governs tells whether p governs namespace: known is false when the
// namespace or its labels are not known offline.
func (l *linter) governs(p *accessv1alpha1.ApprovalPolicy, namespace string) (governed, known bool) {
	if selectsAll(p.Spec.NamespaceSelector) {
		return true, true
	}
	nsLabels, ok := l.nsLabels[namespace]
	if namespace == "" || !ok {
		return false, false
	}
	sel, err := metav1.LabelSelectorAsSelector(p.Spec.NamespaceSelector)
	if err != nil {
		return false, true
	}
	return sel.Matches(labels.Set(nsLabels)), true
}

// risks reports the catalog roles of p, found among the inputs, whose
// rules let a holder outlive or widen a grant, on the entitlement that
// offers each (as the controller reports them on the policy's Ready
// condition). A Role counts in the namespaces p governs; one whose
// namespace p may govern, for all the inputs tell, is a warning.
func (l *linter) risks(p *accessv1alpha1.ApprovalPolicy) []Finding {
	d := l.policyAt[p.Name]
	var out []Finding
	for i, e := range p.Spec.Entitlements {
		if e.AllowPersistenceRisk {
			continue
		}
		field := "spec.entitlements[" + strconv.Itoa(i) + "]"
		var candidates []*roleDoc
		if e.RoleRef.Kind == accessv1alpha1.RoleKindClusterRole {
			if r := l.clusterRoles[e.RoleRef.Name]; r != nil {
				candidates = append(candidates, r)
			}
		} else {
			for _, r := range l.roles {
				if r.name == e.RoleRef.Name {
					candidates = append(candidates, r)
				}
			}
		}
		for _, r := range candidates {
			sev, role := Error, e.RoleRef.String()
			consequence := "a holder could outlive or widen a temporary grant, so requests for it are refused"
			if r.doc.kind == kindRole {
				governed, known := l.governs(p, r.namespace)
				switch {
				case known && !governed:
					continue
				case !known && r.namespace == "":
					sev, role = Warning, role+" without a namespace"
					consequence = fmt.Sprintf("requests for it are refused if ApprovalPolicy %q governs the namespace "+
						"it is applied in, which cannot be told offline", p.Name)
				case !known:
					sev, role = Warning, role+" in namespace "+r.namespace
					consequence = fmt.Sprintf("requests for it are refused if ApprovalPolicy %q governs namespace %s, "+
						"which cannot be told offline (add the Namespace manifest or --namespace-labels)", p.Name, r.namespace)
				default:
					role += " in namespace " + r.namespace
				}
			}
			rules, err := l.roleRules(r)
			if err != nil {
				out = append(out, r.doc.finding(Warning, ReasonInvalidObject, "aggregationRule", err.Error()))
				continue
			}
			risks := policy.PersistenceRisks(rules)
			if len(risks) == 0 {
				continue
			}
			out = append(out, d.finding(sev, accessv1alpha1.ReasonEntitlementAllowsPersistence, field, fmt.Sprintf("%s; %s; %s",
				policy.DescribeRisks(role+" ("+r.where()+")", risks), consequence, policy.PersistenceRiskFix)))
		}
	}
	return out
}

func (l *linter) request(d *doc) []Finding {
	var req accessv1alpha1.AccessRequest
	if err := decode(d, &req, true); err != nil {
		return []Finding{d.finding(Error, ReasonInvalidObject, "", err.Error())}
	}
	var out []Finding
	if req.Spec.Requester != nil {
		out = append(out, d.finding(Error, ReasonIdentitySet, "spec.requester",
			"is written by rolegate from the authenticated user; remove it from the manifest"))
	}
	if d.src.Namespace != "" {
		req.Namespace = d.src.Namespace
	}
	if req.Namespace == "" {
		return append(out, d.finding(Warning, ReasonNoNamespace, "metadata.namespace",
			"not set, so kubectl would use the current context's namespace and the governing ApprovalPolicy "+
				"cannot be told offline; set metadata.namespace"))
	}
	if len(l.policies) == 0 && len(l.refusedPolicies) > 0 {
		return append(out, d.finding(Warning, ReasonUnknownPolicy, "spec", fmt.Sprintf(
			"cannot be checked offline: ApprovalPolicy %s is refused (see its errors); fix it and lint again",
			strings.Join(l.refusedPolicies, ", "))))
	}
	if len(l.policies) == 0 {
		return append(out, d.finding(Warning, ReasonUnknownPolicy, "spec",
			"no ApprovalPolicy found in the linted paths, so this request cannot be checked offline; lint the directory with the policies too"))
	}

	var p *accessv1alpha1.ApprovalPolicy
	var v *policy.Violation
	if nsLabels, ok := l.nsLabels[req.Namespace]; ok {
		p, v = policy.Select(l.policies, nsLabels, &req)
	} else {
		// Only a policy that selects every namespace is known to govern.
		var all []accessv1alpha1.ApprovalPolicy
		for _, q := range l.policies {
			if selectsAll(q.Spec.NamespaceSelector) {
				all = append(all, q)
			}
		}
		if len(all) < len(l.policies) {
			out = append(out, d.finding(Warning, ReasonUnknownPolicy, "spec", fmt.Sprintf(
				"cannot tell which ApprovalPolicy governs namespace %s offline; add the Namespace manifest or --namespace-labels",
				req.Namespace)))
		}
		if len(all) == 0 {
			return out
		}
		p, v = policy.Select(all, nil, &req)
		if v != nil && len(all) < len(l.policies) {
			// A policy whose selector we cannot evaluate may allow it.
			return out
		}
	}
	if v != nil {
		return append(out, d.violation(*v))
	}

	checked := req.DeepCopy()
	checked.Spec.Requester = nil
	if l.o.Requester != nil {
		checked.Spec.Requester = &accessv1alpha1.Requester{UserInfo: *l.o.Requester}
	}
	for _, v := range policy.Validate(p, checked) {
		switch v.Reason {
		case accessv1alpha1.ReasonRoleNotFound:
			continue
		case accessv1alpha1.ReasonRequesterMissing, accessv1alpha1.ReasonRequesterNotAllowed:
			if l.o.Requester == nil {
				continue
			}
		}
		out = append(out, d.violation(v))
	}
	// Admission refuses a role whose rules the entitlement does not accept.
	if r := l.findRole(req.Spec.RoleRef, req.Namespace); r != nil {
		if rules, err := l.roleRules(r); err == nil {
			if v := policy.RiskViolation(checked, policy.FindEntitlement(p, req.Spec.RoleRef), policy.PersistenceRisks(rules)); v != nil {
				out = append(out, d.violation(*v))
			}
		}
	}
	return out
}

func (l *linter) decision(d *doc) []Finding {
	var dec accessv1alpha1.AccessDecision
	if err := decode(d, &dec, true); err != nil {
		return []Finding{d.finding(Error, ReasonInvalidObject, "", err.Error())}
	}
	if dec.Spec.Reviewer != nil {
		return []Finding{d.finding(Error, ReasonIdentitySet, "spec.reviewer",
			"is written by rolegate from the authenticated user; remove it from the manifest")}
	}
	return nil
}

// selectsAll reports whether the selector is empty ({}), which selects
// every namespace whatever its labels.
func selectsAll(s *metav1.LabelSelector) bool {
	return s != nil && len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0
}

// parse splits a source into its Kubernetes objects. Documents that are not
// Kubernetes objects (no apiVersion or kind) are skipped; a file that is not
// YAML at all is reported as a warning and skipped.
func parse(src *Source) ([]*doc, []Finding) {
	var docs []*doc
	dec := yaml.NewDecoder(bytes.NewReader(src.Data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			// kubectl apply would refuse the whole file: an error, at the
			// line the parser names.
			line := 1
			if len(docs) > 0 {
				line = docs[len(docs)-1].node.Line
			}
			msg := strings.TrimPrefix(err.Error(), "yaml: ")
			if m := yamlLine.FindStringSubmatch(msg); m != nil {
				line, _ = strconv.Atoi(m[1])
				msg = strings.TrimPrefix(msg, m[0])
			}
			return docs, []Finding{{File: src.Path, Line: line, Reason: ReasonInvalidYAML, Severity: Error,
				Message: "not valid YAML: " + msg}}
		}
		if n.Kind != yaml.DocumentNode || len(n.Content) == 0 || n.Content[0].Kind != yaml.MappingNode {
			continue
		}
		m := n.Content[0]
		d := &doc{src: src, node: m, apiVersion: scalar(m, "apiVersion"), kind: scalar(m, "kind")}
		if d.apiVersion == "" || d.kind == "" {
			continue
		}
		docs = append(docs, d)
	}
}

// yamlLine is the "line N: " a YAML parse error starts with.
var yamlLine = regexp.MustCompile(`^line (\d+): `)

// decode converts the object as kubectl would (YAML to JSON to the Go
// type); strict also refuses unknown fields, as kubectl's default
// server-side field validation does.
func decode(d *doc, into any, strict bool) error {
	b, err := yaml.Marshal(d.node)
	if err != nil {
		return err
	}
	if strict {
		err = sigsyaml.UnmarshalStrict(b, into)
	} else {
		err = sigsyaml.Unmarshal(b, into)
	}
	if err != nil {
		return fmt.Errorf("cannot read %s: %s", d.kind, strings.TrimPrefix(err.Error(), "error unmarshaling JSON: while decoding JSON: "))
	}
	return nil
}

func scalar(m *yaml.Node, key string) string {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && m.Content[i+1].Kind == yaml.ScalarNode {
			return m.Content[i+1].Value
		}
	}
	return ""
}

// lineOf is the line of the field (a dotted JSON path such as
// spec.tags.owner or spec.entitlements[1].roleRef; keys may themselves
// contain dots), or of its nearest present parent, or of the object.
func lineOf(n *yaml.Node, field string) int {
	if field == "" {
		return n.Line
	}
	segs := strings.Split(field, ".")
	for ; len(segs) > 0; segs = segs[:len(segs)-1] {
		if k := findKey(n, segs); k != nil {
			return k.Line
		}
	}
	return n.Line
}

func findKey(n *yaml.Node, segs []string) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for j := len(segs); j >= 1; j-- {
		key := strings.Join(segs[:j], ".")
		index := -1
		if name, idx, ok := splitIndex(key); ok {
			key, index = name, idx
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value != key {
				continue
			}
			keyNode, value := n.Content[i], n.Content[i+1]
			if index >= 0 {
				if value.Kind != yaml.SequenceNode || index >= len(value.Content) {
					continue
				}
				keyNode, value = value.Content[index], value.Content[index]
			}
			if j == len(segs) {
				return keyNode
			}
			if k := findKey(value, segs[j:]); k != nil {
				return k
			}
		}
	}
	return nil
}

// splitIndex splits "entitlements[2]" into "entitlements" and 2.
func splitIndex(seg string) (string, int, bool) {
	name, rest, ok := strings.Cut(seg, "[")
	if !ok || !strings.HasSuffix(rest, "]") {
		return "", 0, false
	}
	i, err := strconv.Atoi(strings.TrimSuffix(rest, "]"))
	if err != nil || i < 0 {
		return "", 0, false
	}
	return name, i, true
}

// ParseNamespaceLabels reads a --namespace-labels value, `ns=k=v,k2=v2`
// (`ns=` for a namespace without labels).
func ParseNamespaceLabels(s string) (string, map[string]string, error) {
	ns, rest, ok := strings.Cut(s, "=")
	if !ok || ns == "" {
		return "", nil, fmt.Errorf("--namespace-labels %q: want NAMESPACE=KEY=VALUE[,KEY=VALUE...]", s)
	}
	nsLabels := map[string]string{}
	if rest == "" {
		return ns, nsLabels, nil
	}
	for _, kv := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return "", nil, fmt.Errorf("--namespace-labels %q: label %q is not KEY=VALUE", s, kv)
		}
		nsLabels[k] = v
	}
	return ns, nsLabels, nil
}
