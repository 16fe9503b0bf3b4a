package main

import (
	"testing"
	"unicode/utf8"
)

func TestCell(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		limit int
		want  string
	}{
		{"plain text is kept", "CHG-1234: migrate", 40, "CHG-1234: migrate"},
		{"line breaks and tabs become spaces", "line one\nline\ttwo\r\n", 0, "line one line two"},
		{"a right-to-left override is shown, not obeyed", "approve \u202egnp.exe", 0, `approve \u202egnp.exe`},
		{"isolates and marks are shown", "a\u2066b\u2069c\u200f", 0, `a\u2066b\u2069c\u200f`},
		{"other control characters are shown", "bell\x07 esc\x1b[31m", 0, `bell\u0007 esc\u001b[31m`},
		{"invalid UTF-8 is shown", "ok\xffok", 0, `ok\ufffdok`},
		{"long text is cut with an ellipsis", "abcdefghij", 5, "abcd…"},
		{"cut at a rune boundary", "ééééééé", 4, "ééé…"},
		{"text at the limit is not cut", "abcde", 5, "abcde"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cell(tt.in, tt.limit)
			if got != tt.want {
				t.Errorf("cell(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("cell(%q) = %q is not valid UTF-8", tt.in, got)
			}
		})
	}
}
