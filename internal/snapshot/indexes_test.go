package snapshot_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/snapshot"
)

func indexedRequest(name, extends, saNamespace, sa string) *accessv1alpha1.AccessRequest {
	return &accessv1alpha1.AccessRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "payments"},
		Spec: accessv1alpha1.AccessRequestSpec{Extends: extends,
			ServiceAccount: accessv1alpha1.ServiceAccountReference{Name: sa, Namespace: saNamespace}},
	}
}

func indexedBinding(name, request string, managed bool) *rbacv1.RoleBinding {
	labels := map[string]string{accessv1alpha1.RequestLabel: request}
	if managed {
		labels[accessv1alpha1.ManagedByLabel] = accessv1alpha1.ManagedByValue
	}
	return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "payments", Labels: labels},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"}}
}

// TestIndexesAnswerTheirQueries lists through each index of Indexes on a
// client that registers exactly that list, as the manager's cache does.
func TestIndexesAnswerTheirQueries(t *testing.T) {
	c := reader(
		indexedRequest("base", "", "", "ledger-migrator"),
		indexedRequest("more", "base", "", "ledger-migrator"),
		indexedRequest("elsewhere", "", "ledger", "ledger-migrator"),
		&accessv1alpha1.AccessDecision{ObjectMeta: metav1.ObjectMeta{Name: "carol", Namespace: "payments"},
			Spec: accessv1alpha1.AccessDecisionSpec{Request: "base"}},
		&accessv1alpha1.AccessDecision{ObjectMeta: metav1.ObjectMeta{Name: "dave", Namespace: "payments"},
			Spec: accessv1alpha1.AccessDecisionSpec{Request: "more"}},
		indexedBinding("rolegate-base-1a2b3", "base", true),
		indexedBinding("rolegate-more-4c5d6", "more", true),
		// Somebody else's binding wearing the request label only.
		indexedBinding("lookalike", "base", false),
	)
	names := func(list client.ObjectList, field, value string) []string {
		t.Helper()
		if err := c.List(context.Background(), list, client.MatchingFields{field: value}); err != nil {
			t.Fatalf("listing by %s=%s: %v", field, value, err)
		}
		var out []string
		switch l := list.(type) {
		case *accessv1alpha1.AccessRequestList:
			for i := range l.Items {
				out = append(out, l.Items[i].Name)
			}
		case *accessv1alpha1.AccessDecisionList:
			for i := range l.Items {
				out = append(out, l.Items[i].Name)
			}
		case *rbacv1.RoleBindingList:
			for i := range l.Items {
				out = append(out, l.Items[i].Name)
			}
		}
		slices.Sort(out)
		return out
	}
	for _, tt := range []struct {
		list         client.ObjectList
		field, value string
		want         []string
	}{
		{&accessv1alpha1.AccessDecisionList{}, snapshot.DecisionRequestIndex, "base", []string{"carol"}},
		{&accessv1alpha1.AccessRequestList{}, snapshot.ExtendsIndex, "base", []string{"more"}},
		{&accessv1alpha1.AccessRequestList{}, snapshot.ServiceAccountIndex, "payments/ledger-migrator", []string{"base", "more"}},
		{&accessv1alpha1.AccessRequestList{}, snapshot.ServiceAccountIndex, "ledger/ledger-migrator", []string{"elsewhere"}},
		{&rbacv1.RoleBindingList{}, snapshot.BindingRequestIndex, "base", []string{"rolegate-base-1a2b3"}},
	} {
		if got := names(tt.list, tt.field, tt.value); !slices.Equal(got, tt.want) {
			t.Errorf("%s=%s: got %v, want %v", tt.field, tt.value, got, tt.want)
		}
	}
}

// recordingIndexer is a client.FieldIndexer that records what is
// registered and fails on the field named fail.
type recordingIndexer struct {
	fields []string
	fail   string
}

func (r *recordingIndexer) IndexField(_ context.Context, _ client.Object, field string, _ client.IndexerFunc) error {
	if field == r.fail {
		return errors.New("informer already started")
	}
	r.fields = append(r.fields, field)
	return nil
}

func TestSetupIndexesRegistersEveryIndex(t *testing.T) {
	rec := &recordingIndexer{}
	if err := snapshot.SetupIndexes(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, ix := range snapshot.Indexes() {
		want = append(want, ix.Field)
	}
	if !slices.Equal(rec.fields, want) {
		t.Errorf("registered %v, want %v", rec.fields, want)
	}
	err := snapshot.SetupIndexes(context.Background(), &recordingIndexer{fail: snapshot.ExtendsIndex})
	if err == nil || !strings.Contains(err.Error(), snapshot.ExtendsIndex) {
		t.Errorf("a failed registration returned %v, want an error naming %s", err, snapshot.ExtendsIndex)
	}
}
