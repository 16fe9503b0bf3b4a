package main

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"rolegate.dev/rolegate/internal/policy"
)

// ellipsis marks text cut short in a table cell.
const ellipsis = "…"

// cell makes user-written text (a justification, a tag value) safe for one
// table cell: line breaks and tabs become spaces, other control characters
// and Unicode bidirectional overrides and isolates are shown escaped
// (\u202e), so what an approver reads is what was written; the result is cut
// at a rune boundary to at most limit runes, ending in "…" when cut. A limit
// of 0 or less does not cut.
func cell(s string, limit int) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case r == utf8.RuneError:
			b.WriteString(`\ufffd`)
		case unicode.IsControl(r) || (policy.Deceptive(r) && r != '\u200d'):
			b.WriteString(escapeRune(r))
		default:
			b.WriteRune(r)
		}
	}
	out := strings.TrimSpace(b.String())
	if limit > 0 && utf8.RuneCountInString(out) > limit {
		runes := []rune(out)
		keep := max(limit-1, 0)
		out = strings.TrimRight(string(runes[:keep]), " ") + ellipsis
	}
	return out
}

func escapeRune(r rune) string {
	const hex = "0123456789abcdef"
	if r > 0xffff {
		return `\U` + string([]byte{hex[r>>28&0xf], hex[r>>24&0xf], hex[r>>20&0xf], hex[r>>16&0xf],
			hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf]})
	}
	return `\u` + string([]byte{hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf]})
}
