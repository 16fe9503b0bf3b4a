package policy

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// LinkPlaceholder is where a required tag's link template takes the value.
const LinkPlaceholder = "{value}"

// ReasonInvalidRequiredTag is the reason of a violation in an
// ApprovalPolicy's requiredTags: a pattern that is not RE2, a link template
// that cannot render a URL.
const ReasonInvalidRequiredTag = "InvalidRequiredTag"

// TicketLink is a required tag's value rendered through the tag's link
// template: where an approver or an auditor reads the ticket.
type TicketLink struct {
	// Key is the tag's name, Value the request's value for it.
	Key   string `json:"key"`
	Value string `json:"value"`
	// URL is the rendered link.
	URL string `json:"url"`
}

// ValidateRequiredTags checks the pattern and link of each of a policy's
// required tags: the pattern must compile as RE2 and the link must be an
// http or https URL template containing {value}. It is what the policy
// webhook refuses and what lint reports, so both say the same.
func ValidateRequiredTags(p *accessv1alpha1.ApprovalPolicy) []Violation {
	var out []Violation
	for i := range p.Spec.RequiredTags {
		t := &p.Spec.RequiredTags[i]
		field := "spec.requiredTags[" + strconv.Itoa(i) + "]"
		if _, err := tagPattern(t); err != nil {
			out = append(out, Violation{Reason: ReasonInvalidRequiredTag, Field: field + ".pattern", Message: fmt.Sprintf(
				"%q is not an RE2 regular expression (%v); write one such as ^CHG-[0-9]+$", t.Pattern, patternError(err))})
		}
		if msg := linkProblem(t.Link); msg != "" {
			out = append(out, Violation{Reason: ReasonInvalidRequiredTag, Field: field + ".link", Message: fmt.Sprintf(
				"%q %s; write a template such as https://tickets.example/browse/%s", t.Link, msg, LinkPlaceholder)})
		}
	}
	return out
}

// patternError is the compiler's complaint without its "error parsing
// regexp: " prefix, which the message already says in other words.
func patternError(err error) string {
	return strings.TrimPrefix(err.Error(), "error parsing regexp: ")
}

// linkProblem says what is wrong with a link template, or "" when it is
// empty or renders an http(s) URL: a scheme of http or https, a host, and
// no whitespace or control characters.
func linkProblem(link string) string {
	if link == "" {
		return ""
	}
	if !strings.Contains(link, LinkPlaceholder) {
		return "does not contain " + LinkPlaceholder + ", where the tag's value goes"
	}
	rest, ok := strings.CutPrefix(link, "https://")
	if !ok {
		rest, ok = strings.CutPrefix(link, "http://")
	}
	if !ok {
		return "is not an http or https URL"
	}
	if strings.ContainsFunc(link, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "is not a URL: it contains whitespace or control characters"
	}
	if host, _, _ := strings.Cut(rest, "/"); host == "" || strings.HasPrefix(host, LinkPlaceholder) ||
		strings.ContainsAny(host[:1], "?#:@") {
		return "has no host before " + LinkPlaceholder + " or the path"
	}
	return ""
}

// tagPattern compiles a required tag's pattern; nil without one.
func tagPattern(t *accessv1alpha1.RequiredTag) (*regexp.Regexp, error) {
	if t.Pattern == "" {
		return nil, nil
	}
	return regexp.Compile(t.Pattern)
}

// TagRequired reports whether a required tag applies to a request of the
// given effective sensitivity: always without minSensitivity, otherwise
// from that sensitivity up.
func TagRequired(t *accessv1alpha1.RequiredTag, sens accessv1alpha1.Sensitivity) bool {
	return t.MinSensitivity == "" || sens.Rank() >= t.MinSensitivity.Rank()
}

// patternViolation checks a present tag value against the tag's pattern: a
// value that does not match it, or a pattern that does not compile (a
// policy admitted while its webhook was down), is a violation on the
// request's tag that names the pattern.
func patternViolation(p *accessv1alpha1.ApprovalPolicy, t *accessv1alpha1.RequiredTag, v string) *Violation {
	re, err := tagPattern(t)
	field := FieldTags + "." + t.Key
	switch {
	case err != nil:
		return &Violation{Reason: accessv1alpha1.ReasonTagValueNotAllowed, Field: field, Message: fmt.Sprintf(
			"cannot be checked: the pattern %q of ApprovalPolicy %q is not an RE2 regular expression; "+
				"ask the platform team to fix the policy's requiredTags", t.Pattern, p.Name)}
	case re != nil && !re.MatchString(v):
		return &Violation{Reason: accessv1alpha1.ReasonTagValueNotAllowed, Field: field, Message: fmt.Sprintf(
			"%q does not match the pattern %s required by ApprovalPolicy %q", v, t.Pattern, p.Name)}
	}
	return nil
}

// RenderLink renders a link template with a value, percent-encoded as one
// path segment (every byte but ASCII letters, digits and -._~) so that a
// value cannot change the link's host, path or query; "" when the template
// is empty or does not render an http(s) URL.
func RenderLink(template, value string) string {
	if template == "" || value == "" || linkProblem(template) != "" {
		return ""
	}
	return strings.ReplaceAll(template, LinkPlaceholder, escapeSegment(value))
}

func escapeSegment(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// TicketLinks are the links of a request's tags under its policy: one for
// each required tag with a link template that the request carries, in the
// policy's order. A value the tag's pattern refuses gets no link.
func TicketLinks(p *accessv1alpha1.ApprovalPolicy, req *accessv1alpha1.AccessRequest) []TicketLink {
	if p == nil || req == nil {
		return nil
	}
	var out []TicketLink
	for i := range p.Spec.RequiredTags {
		t := &p.Spec.RequiredTags[i]
		v := req.Spec.Tags[t.Key]
		if t.Link == "" || v == "" || patternViolation(p, t, v) != nil {
			continue
		}
		if u := RenderLink(t.Link, v); u != "" {
			out = append(out, TicketLink{Key: t.Key, Value: v, URL: u})
		}
	}
	return out
}

// DescribeTag says what a required tag accepts and when it is required,
// for people writing a request: "one of a, b", "a value matching P" or "any
// non-empty value", then "from sensitivity S up" when it has a
// minSensitivity.
func DescribeTag(t *accessv1alpha1.RequiredTag) string {
	var out string
	switch {
	case len(t.Values) > 0:
		out = "one of " + strings.Join(t.Values, ", ")
	case t.Pattern != "":
		out = "a value matching " + t.Pattern
	default:
		out = "any non-empty value"
	}
	if len(t.Values) > 0 && t.Pattern != "" {
		out += " (matching " + t.Pattern + ")"
	}
	if t.MinSensitivity != "" {
		out += ", required from sensitivity " + string(t.MinSensitivity) + " up"
	}
	return out
}
