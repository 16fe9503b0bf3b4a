package report

import (
	"fmt"
	"io"
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

// WriteStandingTable prints the standing-access section after the table:
// bindings and service accounts by severity, dangling bindings, and what
// could not be read. It prints nothing when there is nothing to show.
func WriteStandingTable(w io.Writer, s *StandingAccess) error {
	if s.empty() {
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
		fmt.Fprintln(w, "INCOMPLETE: could not read the following; the counts above miss what they hold:")
		for _, u := range s.Unreadable {
			fmt.Fprintln(w, "  "+u)
		}
	}
	return nil
}
