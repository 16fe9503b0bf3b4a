package utils

import (
	"strings"
	"sync"
)

// Warnings collects the Warning headers the API server returns to a
// client (set it as the rest.Config's WarningHandler), as kubectl prints
// them.
type Warnings struct {
	mu   sync.Mutex
	text []string
}

// HandleWarningHeader records one warning.
func (w *Warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.text = append(w.text, text)
}

// All returns every warning received so far, one a line.
func (w *Warnings) All() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.text, "\n")
}

// Take returns the warnings received since the last Take and forgets them.
func (w *Warnings) Take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.text
	w.text = nil
	return out
}
