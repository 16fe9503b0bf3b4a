package report

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// colPolicy heads the column that names the policy.
const colPolicy = "POLICY"

// Columns are the wide table's headers, in order.
var Columns = []string{
	colPolicy, "REQUESTS", "APPROVED", "DENIED", "TIMED-OUT", "INVALID", "ESCALATED", "ESC-RATE",
	"APPROVAL-P50", "APPROVAL-P95", "ACTIVE", "OVERDUE", "PENDING", "OLDEST-PENDING", "BREAK-GLASS", "UNREVIEWED",
	"BG-ACK-P50",
}

// DefaultColumns are the headers of the default table, a subset of Columns
// that fits 120 columns; WriteWideTable prints them all.
var DefaultColumns = []string{
	colPolicy, "REQUESTS", "APPROVED", "DENIED", "PENDING", "ACTIVE", "OVERDUE", "APPROVAL-P50", "BREAK-GLASS", "UNREVIEWED",
}

// BreakGlassColumns are the headers of the list of unreviewed break-glass
// grants, in order.
var BreakGlassColumns = []string{
	"REQUEST", colPolicy, "SERVICEACCOUNT", "ROLE", "REQUESTER", "TIER", "GRANTED-AT", "SINCE-GRANT",
}

// empty is how a figure with nothing to measure is shown.
const empty = "-"

// WriteTable prints the report as a kubectl-style table: one row per
// policy and a TOTAL row. Break-glass grants that await review come first,
// one line each, so that nobody reading the report can miss them.
func WriteTable(w io.Writer, r Report) error { return writeTable(w, r, DefaultColumns) }

// WriteWideTable is WriteTable with every column of Columns.
func WriteWideTable(w io.Writer, r Report) error { return writeTable(w, r, Columns) }

func writeTable(w io.Writer, r Report, columns []string) error {
	// The same settings as kubectl's printers.GetNewTabWriter. A line
	// without tabs ends a block of aligned columns, so the list and the
	// table are aligned separately.
	tw := tabwriter.NewWriter(w, 6, 4, 3, ' ', 0)
	if n := len(r.UnreviewedBreakGlassRequests); n > 0 {
		fmt.Fprintf(tw, "UNREVIEWED BREAK-GLASS: %d grant(s) given without approval that no reviewer has acknowledged yet.\n", n)
		fmt.Fprintln(tw, "A reviewer of the TIER shown, or of a later tier, acknowledges each with: "+
			"kubectl rolegate ack NAME -n NAMESPACE -m COMMENT")
		fmt.Fprintln(tw, strings.Join(BreakGlassColumns, "\t"))
		for _, bg := range r.UnreviewedBreakGlassRequests {
			fmt.Fprintln(tw, strings.Join(breakGlassCells(bg), "\t"))
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintln(tw, strings.Join(columns, "\t"))
	for _, row := range append(slices.Clone(r.Policies), r.Total) {
		fmt.Fprintln(tw, strings.Join(pick(cells(row), columns), "\t"))
	}
	return tw.Flush()
}

// pick are the cells (in Columns order) of the named columns.
func pick(all []string, columns []string) []string {
	out := make([]string, 0, len(columns))
	for _, c := range columns {
		out = append(out, all[slices.Index(Columns, c)])
	}
	return out
}

func cells(r Row) []string {
	return []string{
		r.Policy,
		fmt.Sprint(r.Requests), fmt.Sprint(r.Approved), fmt.Sprint(r.Denied), fmt.Sprint(r.TimedOut),
		fmt.Sprint(r.Invalid), fmt.Sprint(r.Escalated), rate(r.EscalationRate),
		seconds(r.TimeToApprovalP50Seconds), seconds(r.TimeToApprovalP95Seconds),
		fmt.Sprint(r.ActiveGrants), fmt.Sprint(r.OverdueGrants), fmt.Sprint(r.Pending),
		seconds(r.OldestPendingSeconds), fmt.Sprint(r.BreakGlass), fmt.Sprint(r.UnreviewedBreakGlass),
		seconds(r.BreakGlassAckP50Seconds),
	}
}

func breakGlassCells(bg BreakGlassRequest) []string {
	grantedAt := empty
	if bg.GrantedAt != nil {
		grantedAt = bg.GrantedAt.UTC().Format(time.RFC3339)
	}
	return []string{
		bg.Namespace + "/" + bg.Name, bg.Policy, bg.ServiceAccount, bg.Role,
		cmp.Or(bg.Requester, empty), cmp.Or(bg.Tier, empty), grantedAt, seconds(bg.SinceGrantSeconds),
	}
}

func rate(v *float64) string {
	if v == nil {
		return empty
	}
	return fmt.Sprintf("%.0f%%", *v*100)
}

func seconds(v *float64) string {
	if v == nil {
		return empty
	}
	return FormatDuration(time.Duration(math.Round(*v * float64(time.Second))))
}

// WriteJSON prints the report as indented JSON (the Report struct).
func WriteJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// FormatDuration renders a duration compactly with at most its two largest
// units, truncating the rest: 45s, 12m, 1m30s, 3h20m, 2d4h. Negative
// durations render as 0s.
func FormatDuration(d time.Duration) string {
	s := int64(max(d, 0) / time.Second)
	const minute, hour, day = 60, 60 * 60, 24 * 60 * 60
	two := func(big int64, bigUnit string, small int64, smallUnit string) string {
		if small == 0 {
			return fmt.Sprintf("%d%s", big, bigUnit)
		}
		return fmt.Sprintf("%d%s%d%s", big, bigUnit, small, smallUnit)
	}
	switch {
	case s < minute:
		return fmt.Sprintf("%ds", s)
	case s < hour:
		return two(s/minute, "m", s%minute, "s")
	case s < day:
		return two(s/hour, "h", s%hour/minute, "m")
	default:
		return two(s/day, "d", s%day/hour, "h")
	}
}
