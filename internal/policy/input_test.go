package policy

import (
	"strings"
	"testing"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

func TestValidateInput(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*accessv1alpha1.AccessRequest)
		// want is "Reason field: message part"; empty means valid.
		want string
	}{
		{name: "accepts SPEC's example request"},
		{name: "accepts a justification over several lines, indented with tabs",
			mutate: func(r *accessv1alpha1.AccessRequest) { r.Spec.Justification = "CHG-1234:\n\t1. migrate\n\t2. verify" }},
		{name: "accepts non-Latin text that reads as written",
			mutate: func(r *accessv1alpha1.AccessRequest) {
				r.Spec.Justification = "Migration für Kunden — 移行 — הגירה"
			}},
		{name: "rejects a ServiceAccount name that cannot exist",
			mutate: func(r *accessv1alpha1.AccessRequest) { r.Spec.ServiceAccount.Name = "Evil_SA:x" },
			want:   `InvalidServiceAccount spec.serviceAccount.name: "Evil_SA:x" is not a valid ServiceAccount name: a lowercase RFC 1123 subdomain`},
		{name: "accepts a dotted ServiceAccount name",
			mutate: func(r *accessv1alpha1.AccessRequest) { r.Spec.ServiceAccount.Name = "ledger.migrator-2" }},
		{name: "rejects a ServiceAccount namespace that cannot exist",
			mutate: func(r *accessv1alpha1.AccessRequest) { r.Spec.ServiceAccount.Namespace = "kube.system" },
			want:   `InvalidServiceAccount spec.serviceAccount.namespace: "kube.system" is not a valid namespace name`},
		{name: "rejects a right-to-left override in the justification and names its position",
			mutate: func(r *accessv1alpha1.AccessRequest) { r.Spec.Justification = "ok \u202Etxt.exe" },
			want:   "InvalidText spec.justification: character 4 is the invisible formatting character U+202E"},
		{name: "rejects a bidirectional isolate",
			mutate: func(r *accessv1alpha1.AccessRequest) { r.Spec.Justification = "a\u2066b" },
			want:   "InvalidText spec.justification: character 2 is the invisible formatting character U+2066"},
		{name: "rejects the Arabic letter mark",
			mutate: func(r *accessv1alpha1.AccessRequest) { r.Spec.Justification = "\u061C" },
			want:   "U+061C"},
		{name: "rejects a zero-width space",
			mutate: func(r *accessv1alpha1.AccessRequest) { r.Spec.Justification = "approve\u200Bd" },
			want:   "U+200B"},
		{name: "rejects a carriage return, which can hide the start of a line",
			mutate: func(r *accessv1alpha1.AccessRequest) { r.Spec.Justification = "fine\rrm -rf" },
			want:   "InvalidText spec.justification: character 5 is the control character U+000D; control characters other than newline and tab are not allowed"},
		{name: "rejects an escape sequence",
			mutate: func(r *accessv1alpha1.AccessRequest) { r.Spec.Justification = "\x1b[2Jok" },
			want:   "U+001B"},
		{name: "rejects a newline in a tag value",
			mutate: func(r *accessv1alpha1.AccessRequest) { r.Spec.Tags["owner"] = "team\nledger" },
			want:   "InvalidText spec.tags.owner: character 5 is the control character U+000A; control characters are not allowed"},
		{name: "rejects a left-to-right mark in a tag value",
			mutate: func(r *accessv1alpha1.AccessRequest) { r.Spec.Tags["owner"] = "team\u200E" },
			want:   "InvalidText spec.tags.owner: character 5 is the invisible formatting character U+200E"},
		{name: "rejects an override in a tag key",
			mutate: func(r *accessv1alpha1.AccessRequest) { r.Spec.Tags["own\u202Eer"] = "x" },
			want:   "InvalidText spec.tags: key character 4 is the invisible formatting character U+202E"},
		{name: "rejects a justification longer than the CRD allows",
			mutate: func(r *accessv1alpha1.AccessRequest) { r.Spec.Justification = strings.Repeat("é", 1025) },
			want:   "InvalidText spec.justification: is 1025 characters long; at most 1024 are allowed"},
		{name: "accepts a justification of exactly the limit, counted in characters",
			mutate: func(r *accessv1alpha1.AccessRequest) { r.Spec.Justification = strings.Repeat("é", 1024) }},
		{name: "rejects a tag value longer than the CRD allows",
			mutate: func(r *accessv1alpha1.AccessRequest) { r.Spec.Tags["owner"] = strings.Repeat("x", 254) },
			want:   "InvalidText spec.tags.owner: is 254 characters long; at most 253 are allowed"},
		{name: "rejects a tag key longer than the CRD allows",
			mutate: func(r *accessv1alpha1.AccessRequest) { r.Spec.Tags[strings.Repeat("k", 64)] = "x" },
			want:   "InvalidText spec.tags: key is 64 characters long; at most 63 are allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, req := example(nil, tc.mutate)
			got := ValidateInput(req)
			if tc.want == "" {
				if len(got) > 0 {
					t.Fatalf("ValidateInput() = %v, want none", got)
				}
				return
			}
			if len(got) != 1 || !strings.Contains(got[0].Reason+" "+got[0].Error(), tc.want) {
				t.Fatalf("ValidateInput() = %v, want one violation containing %q", got, tc.want)
			}
			// The controller refuses with the same words: Validate runs the same checks.
			p, _ := example(nil, nil)
			if all := Validate(p, req); len(all) == 0 || all[0] != got[0] {
				t.Errorf("Validate() = %v, want it to start with %v", all, got[0])
			}
		})
	}
}

func TestDeceptive(t *testing.T) {
	for _, r := range []rune{0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0x200E, 0x200F, 0x061C,
		0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x00AD, 0xE0041} {
		if !Deceptive(r) {
			t.Errorf("Deceptive(%U) = false, want true", r)
		}
	}
	for _, r := range "aZ09-_. é移ה—\u00A0" {
		if Deceptive(r) {
			t.Errorf("Deceptive(%U) = true, want false", r)
		}
	}
}
