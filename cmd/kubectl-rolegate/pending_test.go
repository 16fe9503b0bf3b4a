package main

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
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
			want: "NAME         REQUESTER   ROLE               SERVICEACCOUNT   TIER         AGE   ESCALATES-IN   JUSTIFICATION\n" +
				"edit-carol   carol       ClusterRole/edit   payments-api     app-owners   10m   20m            CHG-1\n",
		},
		{
			name: "security sees every tier's requests oldest first, but not its own",
			user: &user{name: "carol", groups: []string{"security-oncall"}},
			want: "NAME           REQUESTER   ROLE               SERVICEACCOUNT   TIER       AGE   ESCALATES-IN   JUSTIFICATION\n" +
				"edit-bob       bob         ClusterRole/edit   payments-api     security   2h    -              CHG-1\n" +
				"migrate-dave   dave        Role/db-migrator   payments-api     security   1h    -              CHG-1\n",
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

// breakGlassGrant is a break-glass grant of view by frank awaiting review.
func breakGlassGrant() *accessv1alpha1.AccessRequest {
	bg := cliRequest("bg-frank", "frank", "view", accessv1alpha1.RoleKindClusterRole, 15*time.Minute)
	bg.Spec.Tags["type"] = "break-glass"
	bg.Spec.Justification = "INC-88: payments down"
	bg.Status.GrantedAt = &metav1.Time{Time: now.Add(-15 * time.Minute)}
	bg.Status.Conditions = []metav1.Condition{
		{Type: accessv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: accessv1alpha1.ReasonGranted,
			Message: "granted", LastTransitionTime: metav1.NewTime(now)},
		{Type: accessv1alpha1.ConditionReviewed, Status: metav1.ConditionFalse, Reason: accessv1alpha1.ReasonReviewPending,
			Message: "waiting for an Acknowledge decision", LastTransitionTime: metav1.NewTime(now)},
	}
	return bg
}

func TestPendingListsBreakGlassAwaitingAcknowledgement(t *testing.T) {
	out, errOut, err := runCLI(t, cliClient(&user{name: "bob", groups: []string{"payments-owners"}}, nil, breakGlassGrant()), "pending")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	want := "NAME         REQUESTER   ROLE               SERVICEACCOUNT   TIER         AGE   ESCALATES-IN   JUSTIFICATION\n" +
		"edit-carol   carol       ClusterRole/edit   payments-api     app-owners   10m   20m            CHG-1\n" +
		"\nBreak-glass grants awaiting your acknowledgement (kubectl rolegate ack NAME -n NAMESPACE -m COMMENT):\n" +
		"NAME       REQUESTER   ROLE               SERVICEACCOUNT   TIER         AGE   GRANTED   JUSTIFICATION\n" +
		"bg-frank   frank       ClusterRole/view   payments-api     app-owners   15m   15m ago   INC-88: payments down\n"
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
	// frank opened it: he may not review it.
	out, _, err = runCLI(t, cliClient(&user{name: "frank", groups: []string{"payments-owners"}}, nil, breakGlassGrant()), "pending")
	if err != nil || strings.Contains(out, "bg-frank") {
		t.Errorf("the requester is offered his own break-glass grant: err %v\n%s", err, out)
	}
}

func TestPendingShowsJustificationSafely(t *testing.T) {
	tricky := cliRequest("tricky", "erin", "edit", accessv1alpha1.RoleKindClusterRole, 5*time.Minute)
	tricky.Spec.Justification = "looks fine \u202eexe.kcatta\u202c then a very long story\nover lines"
	tricky.Spec.Tags["ticket"] = "CHG-9\u2066"
	u := &user{name: "bob", groups: []string{"payments-owners"}}

	out, _, err := runCLI(t, cliClient(u, nil, tricky), "pending")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `looks fine \u202eexe.kc…`) || strings.ContainsRune(out, '\u202e') {
		t.Errorf("justification not escaped and cut:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if len([]rune(line)) > 120 {
			t.Errorf("line wider than 120 columns: %q", line)
		}
	}

	out, _, err = runCLI(t, cliClient(u, nil, tricky), "pending", "-o", "wide")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `then a very long story over lines`) || !strings.Contains(out, `ticket=CHG-9\u2066,type=temporary`) {
		t.Errorf("wide output lacks the full justification or the tags:\n%s", out)
	}

	out, _, err = runCLI(t, cliClient(u, nil, tricky), "pending", "-o", "yaml")
	if err != nil {
		t.Fatal(err)
	}
	var list accessv1alpha1.AccessRequestList
	if err := yaml.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 2 || list.Items[1].Spec.Justification != tricky.Spec.Justification {
		t.Errorf("yaml does not hold the requests in full:\n%s", out)
	}
}
