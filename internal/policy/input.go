package policy

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// Reasons for a request whose spec is malformed, whatever the policy. They
// are Validated=False reasons like those in api/v1alpha1.
const (
	// ReasonInvalidServiceAccount: spec.serviceAccount does not name a
	// ServiceAccount that can exist.
	ReasonInvalidServiceAccount = "InvalidServiceAccount"
	// ReasonInvalidText: justification or a tag holds a character that
	// would show an approver something other than what was written, or is
	// too long.
	ReasonInvalidText = "InvalidText"
)

// Bounds on free text, the same as the CRD's.
const (
	MaxJustificationLength = 1024
	MaxTagKeyLength        = 63
	MaxTagValueLength      = 253
)

// Field paths of the request's free text.
const (
	FieldJustification = "spec.justification"
	FieldTags          = "spec.tags"
)

// ValidateInput checks what a request's spec must be whatever policy
// governs it: a ServiceAccount name the API server would accept, and
// justification and tags that read as they were written. Validate runs it
// too, so the controller refuses what admission refuses, with the same
// messages; admission runs it alone when no policy can be selected, so the
// author sees every mistake at once.
func ValidateInput(req *accessv1alpha1.AccessRequest) []Violation {
	var out []Violation
	sa := req.Spec.ServiceAccount
	for _, msg := range validation.IsDNS1123Subdomain(sa.Name) {
		out = append(out, Violation{Reason: ReasonInvalidServiceAccount, Field: "spec.serviceAccount.name",
			Message: fmt.Sprintf("%q is not a valid ServiceAccount name: %s", sa.Name, msg)})
	}
	if sa.Namespace != "" {
		for _, msg := range validation.IsDNS1123Label(sa.Namespace) {
			out = append(out, Violation{Reason: ReasonInvalidServiceAccount, Field: "spec.serviceAccount.namespace",
				Message: fmt.Sprintf("%q is not a valid namespace name: %s", sa.Namespace, msg)})
		}
	}
	if v := checkText(FieldJustification, req.Spec.Justification, MaxJustificationLength, true); v != nil {
		out = append(out, *v)
	}
	for _, k := range slices.Sorted(maps.Keys(req.Spec.Tags)) {
		if v := checkText(FieldTags, k, MaxTagKeyLength, false); v != nil {
			v.Message = "key " + v.Message
			out = append(out, *v)
		}
		if v := checkText(FieldTags+"."+k, req.Spec.Tags[k], MaxTagValueLength, false); v != nil {
			out = append(out, *v)
		}
	}
	return out
}

// checkText refuses text longer than limit characters, invalid UTF-8,
// control characters (newline and tab too unless multiline), and the
// invisible format characters that change how text is shown without being
// seen (see Deceptive). The message names the first offending character by
// its position and code point, so it can be found in any editor.
func checkText(field, s string, limit int, multiline bool) *Violation {
	bad := func(format string, args ...any) *Violation {
		return &Violation{Reason: ReasonInvalidText, Field: field, Message: fmt.Sprintf(format, args...)}
	}
	if n := utf8.RuneCountInString(s); n > limit {
		return bad("is %d characters long; at most %d are allowed", n, limit)
	}
	pos := 0
	for i, r := range s {
		pos++
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], string(utf8.RuneError)):
			return bad("is not valid UTF-8 at byte %d", i)
		case multiline && (r == '\n' || r == '\t'):
		case unicode.IsControl(r):
			allowed := "control characters are not allowed"
			if multiline {
				allowed = "control characters other than newline and tab are not allowed"
			}
			return bad("character %d is the control character %U; %s", pos, r, allowed)
		case Deceptive(r):
			return bad("character %d is the invisible formatting character %U, which can make text display "+
				"differently from what it says; remove it", pos, r)
		}
	}
	return nil
}

// Deceptive reports whether r is an invisible character that changes how
// the text around it is displayed: the Unicode bidirectional controls
// (embeddings and overrides U+202A–U+202E, isolates U+2066–U+2069, marks
// U+200E, U+200F and U+061C), zero-width characters (U+200B–U+200D,
// U+2060, U+FEFF), and every other format character (category Cf, such as
// soft hyphens and tag characters).
func Deceptive(r rune) bool {
	switch {
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069, r == 0x200E, r == 0x200F, r == 0x061C:
		return true
	case r >= 0x200B && r <= 0x200D, r == 0x2060, r == 0xFEFF:
		return true
	}
	return unicode.Is(unicode.Cf, r)
}
