package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

func TestGetTable(t *testing.T) {
	out, _, err := runCLI(t, cliClient(dev, nil), "get")
	if err != nil {
		t.Fatal(err)
	}
	want := `NAME           STATUS            POLICY     SERVICEACCOUNT   ROLE               REQUESTER   EXPIRES   AGE
edit-bob       PendingApproval   payments   payments-api     ClusterRole/edit   bob         -         2h
edit-carol     PendingApproval   payments   payments-api     ClusterRole/edit   carol       -         10m
migrate-dave   PendingApproval   payments   payments-api     Role/db-migrator   dave        -         1h
view-erin      Granted           payments   payments-api     ClusterRole/view   erin        in 40m    20m
`
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}

	out, _, err = runCLI(t, cliClient(dev, nil), "get", "view-erin", "-A", "-o", "wide")
	if err == nil || !strings.Contains(err.Error(), "cannot be combined with -A") {
		t.Errorf("name with -A: err = %v, out %q", err, out)
	}
	out, _, err = runCLI(t, cliClient(dev, nil), "get", "-A", "-o", "wide")
	if err != nil || !strings.HasPrefix(out, "NAMESPACE   NAME           STATUS            POLICY     SERVICEACCOUNT   ROLE               REQUESTER   EXPIRES   AGE   SENSITIVITY   TIER   DURATION\n") ||
		!strings.Contains(out, "payments    view-erin      Granted           payments   payments-api     ClusterRole/view   erin        in 40m    20m   low           -      1h0m0s\n") {
		t.Errorf("-A -o wide: err %v\n%s", err, out)
	}
}

func TestGetYAMLAndJSON(t *testing.T) {
	out, _, err := runCLI(t, cliClient(dev, nil), "get", "view-erin", "-o", "yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "apiVersion: access.rolegate.dev/v1alpha1\nkind: AccessRequest\nmetadata:\n") ||
		!strings.Contains(out, "  roleBinding: rolegate-view-erin\n") {
		t.Errorf("yaml:\n%s", out)
	}

	out, _, err = runCLI(t, cliClient(dev, nil), "get", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list accessv1alpha1.AccessRequestList
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if list.Kind != "AccessRequestList" || len(list.Items) != 4 || list.Items[3].Kind != "AccessRequest" || list.Items[3].Name != "view-erin" {
		t.Errorf("list = %s %d items", list.Kind, len(list.Items))
	}
}

func TestGetErrors(t *testing.T) {
	_, _, err := runCLI(t, cliClient(dev, nil), "get", "-o", "xml")
	if err == nil || err.Error() != `unsupported output format "xml" for get; supported formats: table, wide, yaml, json` {
		t.Errorf("err = %v", err)
	}
	if _, _, err := runCLI(t, cliClient(dev, nil), "get", "nope"); !apierrors.IsNotFound(err) {
		t.Errorf("err = %v, want NotFound", err)
	}
	_, errOut, err := runCLI(t, cliClient(dev, nil), "-n", "ledger", "get")
	if err != nil || errOut != "No AccessRequests found in ledger namespace.\n" {
		t.Errorf("err %v, stderr %q", err, errOut)
	}
}

func TestGetExpiresBlankOnceEnded(t *testing.T) {
	revoked := cliRequest("revoked-frank", "frank", "view", accessv1alpha1.RoleKindClusterRole, 30*time.Minute)
	revoked.Status.Conditions = []metav1.Condition{{Type: accessv1alpha1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: accessv1alpha1.ReasonRevoked, Message: "revoked by alice", LastTransitionTime: metav1.NewTime(now)}}
	revoked.Status.ExpiresAt = &metav1.Time{Time: now.Add(30 * time.Minute)}
	revoked.Status.RevokedAt = &metav1.Time{Time: now.Add(-time.Minute)}
	out, _, err := runCLI(t, cliClient(dev, nil, revoked), "get", "revoked-frank")
	if err != nil {
		t.Fatal(err)
	}
	want := "NAME            STATUS    POLICY     SERVICEACCOUNT   ROLE               REQUESTER   EXPIRES   AGE\n" +
		"revoked-frank   Revoked   payments   payments-api     ClusterRole/view   frank                 30m\n"
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
}
