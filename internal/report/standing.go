package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"rolegate.dev/rolegate/internal/inventory"
	"rolegate.dev/rolegate/internal/policy"
)

// StandingAccess summarizes the standing access of service accounts that
// does not go through rolegate (internal/inventory): what
// rolegate_standing_serviceaccount_bindings exports, read as the user.
type StandingAccess struct {
	// Bindings counts the bindings that apply to service accounts by
	// severity, each under its most severe account.
	Bindings map[policy.Severity]int `json:"bindings"`
	// ServiceAccounts counts service accounts by severity.
	ServiceAccounts map[policy.Severity]int `json:"serviceAccounts"`
	// DanglingBindings counts bindings to service accounts that do not exist.
	DanglingBindings int `json:"danglingBindings"`
	// Unreadable lists what could not be read; the counts miss it.
	Unreadable []string `json:"unreadable"`
	// unread names what could not be read, without the server's reasons:
	// what the table prints.
	unread []string
}

// Standing summarizes an inventory.
func Standing(rep *inventory.Report) *StandingAccess {
	s := &StandingAccess{Bindings: rep.BindingsBySeverity(), ServiceAccounts: map[policy.Severity]int{},
		DanglingBindings: len(rep.DanglingBindings), Unreadable: []string{}}
	for _, sev := range policy.Severities {
		s.ServiceAccounts[sev] = 0
	}
	for _, a := range rep.ServiceAccounts {
		s.ServiceAccounts[a.Severity]++
	}
	for _, u := range rep.Unreadable {
		s.Unreadable = append(s.Unreadable, u.String())
		s.unread = append(s.unread, u.What())
	}
	return s
}

// empty reports whether there is nothing to show: no binding applies to a
// service account and everything was read.
func (s *StandingAccess) empty() bool {
	if s == nil {
		return true
	}
	for _, n := range s.Bindings {
		if n > 0 {
			return false
		}
	}
	return s.DanglingBindings == 0 && len(s.Unreadable) == 0
}

// nothingRead reports whether the section has no finding and missed
// something: typically a user without read access to RBAC objects.
func (s *StandingAccess) nothingRead() bool {
	for _, n := range s.Bindings {
		if n > 0 {
			return false
		}
	}
	return s.DanglingBindings == 0 && len(s.unread) > 0
}

// WriteStandingTable prints the standing-access section after the table:
// bindings and service accounts by severity, dangling bindings, and what
// could not be read. It prints nothing when there is nothing to show.
func WriteStandingTable(w io.Writer, s *StandingAccess) error {
	if s.empty() {
		return nil
	}
	if s.nothingRead() {
		fmt.Fprintf(w, "\nSTANDING SERVICE-ACCOUNT ACCESS: not shown; you may not read %s "+
			"(`kubectl rolegate inventory` with those permissions lists it)\n", strings.Join(s.unread, ", "))
		return nil
	}
	fmt.Fprintln(w, "\nSTANDING SERVICE-ACCOUNT ACCESS (outside rolegate; `kubectl rolegate inventory` lists it):")
	tw := tabwriter.NewWriter(w, 6, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "SEVERITY\tBINDINGS\tSERVICEACCOUNTS")
	for _, sev := range policy.Severities {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", sev, s.Bindings[sev], s.ServiceAccounts[sev])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if s.DanglingBindings > 0 {
		fmt.Fprintf(w, "DANGLING: %d binding(s) name a service account that does not exist; one created with that name inherits them.\n",
			s.DanglingBindings)
	}
	if len(s.Unreadable) > 0 {
		fmt.Fprintf(w, "INCOMPLETE: could not read %s; the counts above miss what they hold "+
			"(`kubectl rolegate inventory -o yaml` gives the reasons)\n", strings.Join(s.unread, ", "))
	}
	return nil
}
