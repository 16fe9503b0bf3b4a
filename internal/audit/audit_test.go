package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"rolegate.dev/rolegate/internal/policy"
)

func TestJSONSinkWritesTheWholeRequestOnOneLine(t *testing.T) {
	var buf bytes.Buffer
	s := NewJSONSink(&buf)
	s.now = func() time.Time { return time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC) }
	justification := "Run schema migration for CHG-1234:\n\t1. migrate\n\t2. verify \"quoted\" " + strings.Repeat("x", 2000)
	s.Write(context.Background(), Record{
		Event: "Granted", Request: "ledger-migrate-4711", Namespace: "payments", Policy: "payments",
		Requester: "alice", Reviewers: []Reviewer{{Username: "carol", Decision: "Approve", Tier: "security"}},
		Role: "Role/db-migrator", ServiceAccount: "payments/ledger-migrator",
		Tags:          map[string]string{"type": "temporary", "owner": "team-ledger"},
		Justification: justification, Reason: "Granted",
		Links: []policy.TicketLink{{Key: "change", Value: "CHG-1234", URL: "https://tickets.example/browse/CHG-1234"}},
	})
	out := buf.String()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("want exactly one line, got %q", out)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got["justification"] != justification {
		t.Errorf("justification = %q, want the full text back", got["justification"])
	}
	tags, _ := got["tags"].(map[string]any)
	if tags["type"] != "temporary" || tags["owner"] != "team-ledger" {
		t.Errorf("tags = %v", got["tags"])
	}
	links, _ := got["links"].([]any)
	if len(links) != 1 {
		t.Fatalf("links = %v, want the ticket link", got["links"])
	}
	if l, _ := links[0].(map[string]any); l["key"] != "change" || l["value"] != "CHG-1234" ||
		l["url"] != "https://tickets.example/browse/CHG-1234" {
		t.Errorf("links[0] = %v", links[0])
	}
	for _, k := range []string{"request", "policy", "requester", "reviewers", "audit", "time"} {
		if _, ok := got[k]; !ok {
			t.Errorf("the line has no %q: %s", k, out)
		}
	}
}
