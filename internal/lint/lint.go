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
//   - whether a Role exists is not checked.
package lint

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsyaml "sigs.k8s.io/yaml"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
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
}

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
}

func (d *doc) line(field string) int { return lineOf(d.node, field) }

func (d *doc) finding(sev Severity, reason, field, msg string) Finding {
	return Finding{File: d.src.Path, Line: d.line(field), Field: field, Message: msg, Reason: reason, Severity: sev}
}

func (d *doc) violation(v policy.Violation) Finding {
	return d.finding(Error, v.Reason, v.Field, v.Message)
}

// Lint checks the sources.
func Lint(sources []Source, o Options) Result {
	var res Result
	var docs []*doc
	for i := range sources {
		ds, fs := parse(&sources[i])
		docs = append(docs, ds...)
		res.Findings = append(res.Findings, fs...)
	}

	l := linter{o: o, nsLabels: map[string]map[string]string{}}
	policyAt := map[string]*doc{}
	for _, d := range docs {
		switch {
		case d.apiVersion == "v1" && d.kind == "Namespace":
			var ns struct {
				Metadata metav1.ObjectMeta `json:"metadata"`
			}
			if err := decode(d, &ns, false); err == nil && ns.Metadata.Name != "" {
				l.nsLabels[ns.Metadata.Name] = ns.Metadata.Labels
			}
		case d.apiVersion == accessv1alpha1.GroupVersion.String() && d.kind == "ApprovalPolicy":
			var p accessv1alpha1.ApprovalPolicy
			if err := decode(d, &p, true); err != nil {
				res.Findings = append(res.Findings, d.finding(Error, ReasonInvalidObject, "", err.Error()))
				continue
			}
			if prev, ok := policyAt[p.Name]; ok {
				res.Findings = append(res.Findings, d.finding(Warning, ReasonDuplicateObject, "metadata.name",
					fmt.Sprintf("ApprovalPolicy %q is also defined at %s:%d; this later definition is the one linted against",
						p.Name, prev.src.Path, prev.node.Line)))
				l.policies = slices.DeleteFunc(l.policies, func(q accessv1alpha1.ApprovalPolicy) bool { return q.Name == p.Name })
			}
			policyAt[p.Name] = d
			l.policies = append(l.policies, p)
		}
	}
	for ns, labels := range o.NamespaceLabels {
		l.nsLabels[ns] = labels
	}

	for _, d := range docs {
		if d.apiVersion != accessv1alpha1.GroupVersion.String() {
			continue
		}
		switch d.kind {
		case "AccessRequest":
			res.Requests++
			res.Findings = append(res.Findings, l.request(d)...)
		case "AccessDecision":
			res.Findings = append(res.Findings, l.decision(d)...)
		}
	}
	order := map[string]int{}
	for i, s := range sources {
		order[s.Path] = i
	}
	slices.SortStableFunc(res.Findings, func(a, b Finding) int {
		if c := order[a.File] - order[b.File]; c != 0 {
			return c
		}
		return a.Line - b.Line
	})
	return res
}

type linter struct {
	o        Options
	nsLabels map[string]map[string]string
	policies []accessv1alpha1.ApprovalPolicy
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
	if len(l.policies) == 0 {
		return append(out, d.finding(Warning, ReasonUnknownPolicy, "spec",
			"no ApprovalPolicy found in the linted paths, so this request cannot be checked offline; lint the directory with the policies too"))
	}

	var p *accessv1alpha1.ApprovalPolicy
	var v *policy.Violation
	if labels, ok := l.nsLabels[req.Namespace]; ok {
		p, v = policy.Select(l.policies, labels, &req)
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
			line := 1
			if len(docs) > 0 {
				line = docs[len(docs)-1].node.Line
			}
			return docs, []Finding{{File: src.Path, Line: line, Reason: ReasonInvalidYAML, Severity: Warning,
				Message: "not valid YAML, skipped: " + strings.TrimPrefix(err.Error(), "yaml: ")}}
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
// spec.tags.owner; keys may themselves contain dots), or of its nearest
// present parent, or of the object.
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
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value != key {
				continue
			}
			if j == len(segs) {
				return n.Content[i]
			}
			if k := findKey(n.Content[i+1], segs[j:]); k != nil {
				return k
			}
		}
	}
	return nil
}

// ParseNamespaceLabels reads a --namespace-labels value, `ns=k=v,k2=v2`
// (`ns=` for a namespace without labels).
func ParseNamespaceLabels(s string) (string, map[string]string, error) {
	ns, rest, ok := strings.Cut(s, "=")
	if !ok || ns == "" {
		return "", nil, fmt.Errorf("--namespace-labels %q: want NAMESPACE=KEY=VALUE[,KEY=VALUE...]", s)
	}
	labels := map[string]string{}
	if rest == "" {
		return ns, labels, nil
	}
	for _, kv := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return "", nil, fmt.Errorf("--namespace-labels %q: label %q is not KEY=VALUE", s, kv)
		}
		labels[k] = v
	}
	return ns, labels, nil
}
