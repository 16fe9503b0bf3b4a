package controller

import (
	"encoding/json"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

func TestAuditRecordsCarryTheTicketLinks(t *testing.T) {
	objs := fixture()
	for _, o := range objs {
		switch o := o.(type) {
		case *accessv1alpha1.ApprovalPolicy:
			o.Spec.RequiredTags = []accessv1alpha1.RequiredTag{{Key: "change", Pattern: `^CHG-[0-9]+$`,
				Link: "https://tickets.example/browse/{value}"}}
		case *accessv1alpha1.AccessRequest:
			o.Spec.Tags = map[string]string{"change": "CHG-1234"}
		}
	}
	h := newHarness(t, interceptor.Funcs{}, objs...)
	if _, err := h.reconcile(t, "view-req"); err != nil {
		t.Fatal(err)
	}
	var granted map[string]any
	for _, line := range strings.Split(strings.TrimSpace(h.audit.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if rec["event"] == accessv1alpha1.ReasonGranted {
			granted = rec
		}
	}
	if granted == nil {
		t.Fatalf("no Granted audit line in:\n%s", h.audit.String())
	}
	links, _ := granted["links"].([]any)
	if len(links) != 1 {
		t.Fatalf("links = %v, want the change ticket's", granted["links"])
	}
	if l, _ := links[0].(map[string]any); l["url"] != "https://tickets.example/browse/CHG-1234" || l["key"] != "change" {
		t.Errorf("links[0] = %v", links[0])
	}
}
