// Package audit writes rolegate's audit trail: one JSON line per state
// change of an AccessRequest, on a logger of its own so that it can be
// shipped and retained apart from the operator's diagnostic logs.
package audit

import (
	"context"
	"encoding/json"
	"io"
	"sync"
	"time"

	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"rolegate.dev/rolegate/internal/policy"
)

// Reviewer is one counted decision in an audit record.
type Reviewer struct {
	Username string    `json:"username"`
	Decision string    `json:"decision"`
	Tier     string    `json:"tier,omitempty"`
	Time     time.Time `json:"time"`
}

// Record is one state change of an AccessRequest, or an attestation that
// recertified an ApprovalPolicy (Event Attested: Attestation names the
// AccessDecision, UID is its UID, and Request, Role and ServiceAccount are
// empty).
type Record struct {
	// Event is the transition, as the Kubernetes event reason (Granted, Revoked, ...).
	Event       string `json:"event"`
	Request     string `json:"request,omitempty"`
	Attestation string `json:"attestation,omitempty"`
	Namespace   string `json:"namespace"`
	UID         string `json:"uid"`
	Policy      string `json:"policy,omitempty"`
	Requester   string `json:"requester,omitempty"`
	Via         string `json:"via,omitempty"`
	// Reviewers are the approvers and other reviewers whose decisions counted.
	Reviewers      []Reviewer `json:"reviewers,omitempty"`
	Role           string     `json:"role,omitempty"`
	ServiceAccount string     `json:"serviceAccount,omitempty"`
	// Tags and Justification are the request's, in full: the audit keeps
	// what the approvers were shown. JSON escapes every control character,
	// so a justification over several lines stays one line of the log.
	Tags          map[string]string `json:"tags,omitempty"`
	Justification string            `json:"justification,omitempty"`
	// Links are the request's ticket links under its policy, rendered when
	// the record was written: the ticket that justified the access.
	Links       []policy.TicketLink `json:"links,omitempty"`
	RoleBinding string              `json:"roleBinding,omitempty"`
	GrantedAt   *time.Time          `json:"grantedAt,omitempty"`
	ExpiresAt   *time.Time          `json:"expiresAt,omitempty"`
	RevokedAt   *time.Time          `json:"revokedAt,omitempty"`
	Reason      string              `json:"reason"`
	Message     string              `json:"message,omitempty"`
}

// Sink receives audit records.
type Sink interface {
	Write(ctx context.Context, r Record)
}

// JSONSink writes each record as one JSON line.
type JSONSink struct {
	mu  sync.Mutex
	enc *json.Encoder
	now func() time.Time
}

// NewJSONSink writes records to w as JSON lines, each with "time" and
// "audit": "rolegate" so that a log shipper can pick them out of a shared
// stream.
func NewJSONSink(w io.Writer) *JSONSink {
	return &JSONSink{enc: json.NewEncoder(w), now: time.Now}
}

type line struct {
	Time  time.Time `json:"time"`
	Audit string    `json:"audit"`
	Record
}

// Write emits the record. An audit line that cannot be written is reported
// on the operator's log, never silently dropped.
func (s *JSONSink) Write(ctx context.Context, r Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enc.Encode(line{Time: s.now().UTC(), Audit: "rolegate", Record: r}); err != nil {
		logf.FromContext(ctx).Error(err, "Failed to write audit record", "event", r.Event, "request", r.Namespace+"/"+r.Request)
	}
}

// Discard drops every record.
type Discard struct{}

// Write drops the record.
func (Discard) Write(context.Context, Record) {}
