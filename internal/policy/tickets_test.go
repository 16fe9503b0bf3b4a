package policy

import (
	"slices"
	"strings"
	"testing"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// withTicket adds a change-ticket tag to the example policy.
func withTicket(t accessv1alpha1.RequiredTag) func(*accessv1alpha1.ApprovalPolicy) {
	return func(p *accessv1alpha1.ApprovalPolicy) {
		t.Key = "change"
		p.Spec.RequiredTags = append(p.Spec.RequiredTags, t)
	}
}

func setTag(key, value string) func(*accessv1alpha1.AccessRequest) {
	return func(r *accessv1alpha1.AccessRequest) { r.Spec.Tags[key] = value }
}

func TestValidateRequiredTags(t *testing.T) {
	cases := []struct {
		name string
		tag  accessv1alpha1.RequiredTag
		// want are "field: message fragment" pairs, in order; empty means valid.
		want []string
	}{
		{name: "accepts an anchored pattern and an https link",
			tag: accessv1alpha1.RequiredTag{Pattern: `^CHG-[0-9]+$`, Link: "https://tickets.example/browse/{value}"}},
		{name: "accepts an http link with the value in the query",
			tag: accessv1alpha1.RequiredTag{Link: "http://tickets.example/search?q={value}"}},
		{name: "refuses a pattern that is not RE2",
			tag:  accessv1alpha1.RequiredTag{Pattern: `^CHG-[0-9+$`},
			want: []string{`spec.requiredTags[5].pattern: "^CHG-[0-9+$" is not an RE2 regular expression (missing closing ]`}},
		{name: "refuses Perl lookahead, which RE2 does not have",
			tag:  accessv1alpha1.RequiredTag{Pattern: `^(?=CHG)`},
			want: []string{`spec.requiredTags[5].pattern: "^(?=CHG)" is not an RE2 regular expression`}},
		{name: "refuses a link without {value}",
			tag:  accessv1alpha1.RequiredTag{Link: "https://tickets.example/browse/"},
			want: []string{`spec.requiredTags[5].link: "https://tickets.example/browse/" does not contain {value}`}},
		{name: "refuses a link that is not http or https",
			tag:  accessv1alpha1.RequiredTag{Link: "javascript:alert('{value}')"},
			want: []string{`spec.requiredTags[5].link: "javascript:alert('{value}')" is not an http or https URL`}},
		{name: "refuses a link without a host",
			tag:  accessv1alpha1.RequiredTag{Link: "https:///browse/{value}"},
			want: []string{`spec.requiredTags[5].link: "https:///browse/{value}" has no host`}},
		{name: "refuses a link whose host is the value",
			tag:  accessv1alpha1.RequiredTag{Link: "https://{value}/browse"},
			want: []string{`spec.requiredTags[5].link: "https://{value}/browse" has no host`}},
		{name: "refuses a link with a space",
			tag:  accessv1alpha1.RequiredTag{Link: "https://tickets.example/browse {value}"},
			want: []string{`spec.requiredTags[5].link: "https://tickets.example/browse {value}" is not a URL`}},
		{name: "reports both of one tag's problems",
			tag: accessv1alpha1.RequiredTag{Pattern: `(`, Link: "ftp://tickets.example/{value}"},
			want: []string{`spec.requiredTags[5].pattern: "(" is not an RE2`,
				`spec.requiredTags[5].link: "ftp://tickets.example/{value}" is not an http or https URL`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := example(withTicket(tc.tag), nil)
			got := ValidateRequiredTags(p)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d violations %v, want %d", len(got), got, len(tc.want))
			}
			for i, v := range got {
				if v.Reason != ReasonInvalidRequiredTag || !strings.HasPrefix(v.Error(), tc.want[i]) {
					t.Errorf("violation %d = %s %q, want %s %q...", i, v.Reason, v.Error(), ReasonInvalidRequiredTag, tc.want[i])
				}
			}
		})
	}
}

func TestValidateTicketTags(t *testing.T) {
	ticket := accessv1alpha1.RequiredTag{Pattern: `^CHG-[0-9]+$`, Link: "https://tickets.example/browse/{value}"}
	fromHigh := ticket
	fromHigh.MinSensitivity = accessv1alpha1.SensitivityHigh
	cases := []struct {
		name    string
		policy  func(*accessv1alpha1.ApprovalPolicy)
		request func(*accessv1alpha1.AccessRequest)
		// want is "Reason field: message" of the only violation; empty means valid.
		want string
	}{
		{name: "accepts a value matching the pattern",
			policy: withTicket(ticket), request: setTag("change", "CHG-1234")},
		{name: "refuses a value not matching the pattern, naming the tag and the pattern",
			policy: withTicket(ticket), request: setTag("change", "chg 1234"),
			want: `TagValueNotAllowed spec.tags.change: "chg 1234" does not match the pattern ^CHG-[0-9]+$ required by ApprovalPolicy "payments"`},
		{name: "a missing patterned tag says what to set",
			policy: withTicket(ticket),
			want:   `MissingTag spec.tags.change: required by ApprovalPolicy "payments"; set a value matching ^CHG-[0-9]+$`},
		{name: "requires a tag with minSensitivity high of a high request",
			policy: withTicket(fromHigh),
			want: `MissingTag spec.tags.change: required by ApprovalPolicy "payments" from sensitivity high up ` +
				`(this request is high); set a value matching ^CHG-[0-9]+$`},
		{name: "does not require a tag with minSensitivity high of a low request",
			policy: withTicket(fromHigh),
			request: func(r *accessv1alpha1.AccessRequest) {
				withRole(r, accessv1alpha1.RoleKindRole, "config-reader", "low")
			}},
		{name: "an entitlement's floor raises a low-tagged request to the tag's minSensitivity",
			policy: withTicket(fromHigh), request: setTag("sensitivity", "low"),
			want: `MissingTag spec.tags.change: required by ApprovalPolicy "payments" from sensitivity high up (this request is high)`},
		{name: "checks the pattern of an optional tag a low request carries",
			policy: withTicket(fromHigh),
			request: func(r *accessv1alpha1.AccessRequest) {
				withRole(r, accessv1alpha1.RoleKindRole, "config-reader", "low").Spec.Tags["change"] = "soon"
			},
			want: `TagValueNotAllowed spec.tags.change: "soon" does not match the pattern ^CHG-[0-9]+$`},
		{name: "a stored policy with an invalid pattern refuses the value with a way out",
			policy:  withTicket(accessv1alpha1.RequiredTag{Pattern: `[`}),
			request: setTag("change", "CHG-1"),
			want: `TagValueNotAllowed spec.tags.change: cannot be checked: the pattern "[" of ApprovalPolicy "payments" ` +
				`is not an RE2 regular expression; ask the platform team`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, req := example(tc.policy, tc.request)
			got := Validate(p, req)
			if tc.want == "" {
				if len(got) != 0 {
					t.Fatalf("want no violations, got %v", got)
				}
				return
			}
			if len(got) != 1 || !strings.HasPrefix(got[0].Reason+" "+got[0].Error(), tc.want) {
				t.Fatalf("got %v\nwant one: %s...", got, tc.want)
			}
		})
	}
}

func TestTicketLinks(t *testing.T) {
	p, req := example(func(p *accessv1alpha1.ApprovalPolicy) {
		p.Spec.RequiredTags = append(p.Spec.RequiredTags,
			accessv1alpha1.RequiredTag{Key: "change", Pattern: `^CHG-[0-9]+$`, Link: "https://tickets.example/browse/{value}"},
			accessv1alpha1.RequiredTag{Key: "incident", Link: "https://pager.example/incidents/{value}?view=full"},
			accessv1alpha1.RequiredTag{Key: "runbook"},
			accessv1alpha1.RequiredTag{Key: "broken", Link: "https://tickets.example/browse/"})
	}, func(r *accessv1alpha1.AccessRequest) {
		r.Spec.Tags["change"] = "CHG-1234"
		r.Spec.Tags["incident"] = "INC 7/../admin"
		r.Spec.Tags["runbook"] = "db"
		r.Spec.Tags["broken"] = "x"
	})
	want := []TicketLink{
		{Key: "change", Value: "CHG-1234", URL: "https://tickets.example/browse/CHG-1234"},
		// A value is one escaped path segment: it cannot leave the template's path.
		{Key: "incident", Value: "INC 7/../admin", URL: "https://pager.example/incidents/INC%207%2F..%2Fadmin?view=full"},
	}
	if got := TicketLinks(p, req); !slices.Equal(got, want) {
		t.Errorf("TicketLinks =\n  %v\nwant\n  %v", got, want)
	}

	req.Spec.Tags["change"] = "not-a-ticket"
	if got := TicketLinks(p, req); len(got) != 1 || got[0].Key != "incident" {
		t.Errorf("a value the pattern refuses got a link: %v", got)
	}
	if got := TicketLinks(nil, req); got != nil {
		t.Errorf("without a policy: %v", got)
	}
}

func TestDescribeTag(t *testing.T) {
	for _, tc := range []struct {
		tag  accessv1alpha1.RequiredTag
		want string
	}{
		{accessv1alpha1.RequiredTag{Key: "owner"}, "any non-empty value"},
		{accessv1alpha1.RequiredTag{Key: "type", Values: []string{"temporary", "recurring"}}, "one of temporary, recurring"},
		{accessv1alpha1.RequiredTag{Key: "change", Pattern: `^CHG-[0-9]+$`, MinSensitivity: accessv1alpha1.SensitivityHigh},
			"a value matching ^CHG-[0-9]+$, required from sensitivity high up"},
		{accessv1alpha1.RequiredTag{Key: "env", Values: []string{"prod-1", "staging"}, Pattern: `^prod-`},
			"one of prod-1, staging (matching ^prod-)"},
	} {
		if got := DescribeTag(&tc.tag); got != tc.want {
			t.Errorf("DescribeTag(%+v) = %q, want %q", tc.tag, got, tc.want)
		}
	}
}

// FuzzRenderLink: whatever the value, a rendered link keeps the template's
// text around {value} and the value's part holds only unreserved characters
// and percent escapes, so no value can change the link's host, path or query.
func FuzzRenderLink(f *testing.F) {
	for _, seed := range []string{"CHG-1234", "INC 7/../admin", "a?b#c", "x@evil.example", "é\u202e", ""} {
		f.Add(seed)
	}
	const prefix, suffix = "https://tickets.example/browse/", "?view=full"
	f.Fuzz(func(t *testing.T, value string) {
		got := RenderLink(prefix+LinkPlaceholder+suffix, value)
		if value == "" {
			if got != "" {
				t.Fatalf("empty value rendered %q", got)
			}
			return
		}
		middle, hasPrefix := strings.CutPrefix(got, prefix)
		middle, hasSuffix := strings.CutSuffix(middle, suffix)
		if !hasPrefix || !hasSuffix {
			t.Fatalf("%q rendered %q, outside the template", value, got)
		}
		const allowed = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%"
		if i := strings.IndexFunc(middle, func(r rune) bool { return !strings.ContainsRune(allowed, r) }); i >= 0 {
			t.Fatalf("%q rendered %q: %q is not escaped", value, got, middle[i:])
		}
	})
}
