package notify

import (
	"fmt"
	"strings"
	"time"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
)

// slackMessage is a Slack incoming-webhook payload.
type slackMessage struct {
	Text string `json:"text"`
}

// headlines say what each event means for the reader.
var headlines = map[accessv1alpha1.NotificationEvent]string{
	accessv1alpha1.NotifyPending:    "awaits approval",
	accessv1alpha1.NotifyEscalated:  "was escalated",
	accessv1alpha1.NotifyGranted:    "was granted",
	accessv1alpha1.NotifyBreakGlass: "got break-glass access, review owed",
	accessv1alpha1.NotifyExpiring:   "expires soon",
	accessv1alpha1.NotifyRevoked:    "access ended",
}

// SlackText renders n as one line of Slack mrkdwn: the event, the request,
// the service account and role, who must act, the expiry, the message and
// the ticket links.
func SlackText(n Notification) string {
	var b strings.Builder
	headline := headlines[n.Event]
	if headline == "" {
		headline = string(n.Event)
	}
	fmt.Fprintf(&b, "*[rolegate] %s*: AccessRequest `%s/%s` %s", slackEscape(string(n.Event)),
		slackEscape(n.Request.Namespace), slackEscape(n.Request.Name), slackEscape(headline))
	fmt.Fprintf(&b, " (%s for service account `%s`", slackEscape(n.Role), slackEscape(n.ServiceAccount))
	if n.Requester != "" {
		fmt.Fprintf(&b, ", asked by %s", slackEscape(n.Requester))
	}
	fmt.Fprintf(&b, ", policy %s).", slackEscape(n.Policy))
	if len(n.Recipients) > 0 || n.Tier != "" {
		b.WriteString(" Must act:")
		if n.Tier != "" {
			fmt.Fprintf(&b, " tier *%s*", slackEscape(n.Tier))
		}
		if len(n.Recipients) > 0 {
			subjects := make([]string, len(n.Recipients))
			for i, s := range n.Recipients {
				subjects[i] = slackEscape(policy.FormatSubject(s))
			}
			if n.Tier != "" {
				b.WriteString(" —")
			}
			b.WriteString(" " + strings.Join(subjects, ", "))
		}
		b.WriteString(".")
	}
	if n.ExpiresAt != nil {
		fmt.Fprintf(&b, " Expires %s.", n.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if m := strings.TrimSpace(n.Message); m != "" {
		b.WriteString(" " + slackEscape(strings.Join(strings.Fields(m), " ")))
	}
	if len(n.Links) > 0 {
		links := make([]string, len(n.Links))
		for i, l := range n.Links {
			links[i] = "<" + slackURLEscaper.Replace(l.URL) + "|" + slackEscape(l.Key+"="+l.Value) + ">"
		}
		b.WriteString(" Tickets: " + strings.Join(links, ", ") + ".")
	}
	return b.String()
}

// slackURLEscaper percent-encodes the characters that would end a Slack
// link's URL early (<URL|text>).
var slackURLEscaper = strings.NewReplacer("<", "%3C", ">", "%3E", "|", "%7C")

var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// slackEscape escapes the characters Slack reads as control sequences.
func slackEscape(s string) string { return slackEscaper.Replace(s) }
