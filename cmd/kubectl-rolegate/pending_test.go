package main

import (
	"strings"
	"testing"
)

func TestPendingListsWhatTheUserMayDecide(t *testing.T) {
	tests := []struct {
		name string
		user *user
		want string
	}{
		{
			// edit-bob escalated to security after 30m; migrate-dave is
			// high, above app-owners' bound.
			name: "an app owner sees only what app-owners decide now",
			user: &user{name: "bob", groups: []string{"payments-owners"}},
			want: "NAMESPACE   NAME         REQUESTER   ROLE               SERVICEACCOUNT   SENSITIVITY   TIER         AGE   ESCALATES-IN\n" +
				"payments    edit-carol   carol       ClusterRole/edit   payments-api     medium        app-owners   10m   20m\n",
		},
		{
			name: "security sees every tier's requests oldest first, but not its own",
			user: &user{name: "carol", groups: []string{"security-oncall"}},
			want: "NAMESPACE   NAME           REQUESTER   ROLE               SERVICEACCOUNT   SENSITIVITY   TIER       AGE   ESCALATES-IN\n" +
				"payments    edit-bob       bob         ClusterRole/edit   payments-api     medium        security   2h    -\n" +
				"payments    migrate-dave   dave        Role/db-migrator   payments-api     high          security   1h    -\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := runCLI(t, cliClient(tt.user, nil), "pending")
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			if out != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", out, tt.want)
			}
		})
	}
}

func TestPendingNothingToDecide(t *testing.T) {
	out, errOut, err := runCLI(t, cliClient(&user{name: "nobody"}, nil), "pending", "-A")
	if err != nil || out != "" || errOut != "No pending requests in any namespace that nobody may decide.\n" {
		t.Errorf("err %v stdout %q stderr %q", err, out, errOut)
	}
}

func TestPendingNeedsToKnowTheUser(t *testing.T) {
	_, _, err := runCLI(t, cliClient(nil, nil), "pending")
	if err == nil || !strings.Contains(err.Error(), "asking the API server who you are (SelfSubjectReview)") {
		t.Errorf("err = %v", err)
	}
}
