package main

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/scheme"
)

var dev = &user{name: "frank", groups: []string{"payments-devs", "system:authenticated"}}

func requests(t *testing.T, c client.Client) []accessv1alpha1.AccessRequest {
	t.Helper()
	var list accessv1alpha1.AccessRequestList
	if err := c.List(t.Context(), &list, client.InNamespace("payments")); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func TestRequestCreatesAndNamesTheDecidingTier(t *testing.T) {
	c := cliClient(dev, nil)
	out, errOut, err := runCLI(t, c, "request", "payments-api", "--role", "ClusterRole/edit", "--for", "90m",
		"--reason", "CHG-9: fix config", "--tag", "ticket=CHG-9", "--tag", "type=temporary")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	want := regexp.MustCompile(`^accessrequest\.access\.rolegate\.dev/(payments-api-\w+) created\n` +
		`ApprovalPolicy "payments", sensitivity medium: tier app-owners decides; approvers: User alice, Group payments-owners, Group security-oncall\n$`)
	m := want.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("output:\n%s", out)
	}
	ar := &accessv1alpha1.AccessRequest{}
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: "payments", Name: m[1]}, ar); err != nil {
		t.Fatal(err)
	}
	s := ar.Spec
	if s.ServiceAccount.Name != "payments-api" || s.RoleRef.String() != "ClusterRole/edit" || s.Duration.Duration != 90*time.Minute ||
		s.Justification != "CHG-9: fix config" || s.Tags["ticket"] != "CHG-9" || s.Tags["type"] != "temporary" || s.Requester != nil {
		t.Errorf("spec = %+v", s)
	}
}

func TestRequestNamedAutoApproved(t *testing.T) {
	c := cliClient(dev, nil)
	out, _, err := runCLI(t, c, "request", "payments-api", "--name", "look", "--role", "clusterrole/view", "--for", "1h",
		"--reason", "debug", "--tag", "ticket=1", "--tag", "type=temporary")
	if err != nil {
		t.Fatal(err)
	}
	want := "accessrequest.access.rolegate.dev/look created\n" +
		"ApprovalPolicy \"payments\" auto-approves ClusterRole/view: no review needed\n"
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
}

func TestRequestPrecheckRefusesAndCreatesNothing(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{
			name: "role outside the catalog",
			args: []string{"--role", "ClusterRole/admin", "--for", "1h", "--tag", "ticket=1", "--tag", "type=temporary"},
			want: []string{
				"The request would be refused:\n" +
					"  spec.roleRef: no policy allows ClusterRole admin in namespace payments; roles that can be requested here: " +
					"ClusterRole/view, ClusterRole/edit, Role/db-migrator (ApprovalPolicy \"payments\")\n" +
					"ApprovalPolicy \"payments\" requires:\n",
				"    ClusterRole/edit  maxDuration 2h0m0s  sensitivity medium\n",
			},
		},
		{
			name: "missing tag, bad tag value and too long",
			args: []string{"--role", "Role/db-migrator", "--for", "3h", "--tag", "type=forever"},
			want: []string{
				"The request would be refused:\n" +
					"  spec.duration: 3h0m0s exceeds the maxDuration 1h0m0s of Role/db-migrator in ApprovalPolicy \"payments\"; ask for 1h0m0s or less\n" +
					"  spec.tags.ticket: required by ApprovalPolicy \"payments\"; set any non-empty value\n" +
					"  spec.tags.type: \"forever\" is not allowed by ApprovalPolicy \"payments\"; allowed: temporary, break-glass\n" +
					"ApprovalPolicy \"payments\" requires:\n" +
					"  requesters: Group payments-devs\n" +
					"  justification: required (--reason)\n" +
					"  tags (--tag KEY=VALUE):\n" +
					"    ticket: any non-empty value\n" +
					"    type: one of temporary, break-glass\n" +
					"  roles (--role, with --for up to maxDuration):\n" +
					"    ClusterRole/view  maxDuration 8h0m0s  sensitivity low  auto-approved\n" +
					"    ClusterRole/edit  maxDuration 2h0m0s  sensitivity medium\n" +
					"    Role/db-migrator  maxDuration 1h0m0s  sensitivity high\n" +
					"  approvers:\n" +
					"    app-owners (up to medium, 1 approval(s), escalates after 30m0s): User alice, Group payments-owners\n" +
					"    security (1 approval(s)): Group security-oncall\n",
			},
		},
		{
			name: "requester not allowed",
			args: []string{"--role", "ClusterRole/edit", "--for", "1h", "--tag", "ticket=1", "--tag", "type=temporary"},
			want: []string{"  spec.requester: frank may not open requests under ApprovalPolicy \"payments\"; allowed requesters: Group payments-devs\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := dev
			if tt.name == "requester not allowed" {
				u = &user{name: "frank", groups: []string{"x"}}
			}
			c := cliClient(u, nil)
			args := append([]string{"request", "payments-api", "--reason", "because"}, tt.args...)
			out, errOut, err := runCLI(t, c, args...)
			if !errors.Is(err, errRefused) {
				t.Fatalf("err = %v, want the refusal", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr:\n%s\nwant it to contain:\n%s", errOut, w)
				}
			}
			if out != "" {
				t.Errorf("stdout = %q", out)
			}
			if n := len(requests(t, c)); n != 4 {
				t.Errorf("%d requests in payments, want the fixture's 4: nothing created", n)
			}
		})
	}
}

func TestRequestDryRunCreatesNothing(t *testing.T) {
	c := cliClient(dev, nil)
	out, _, err := runCLI(t, c, "request", "payments-api", "--name", "try", "--role", "ClusterRole/edit", "--for", "1h",
		"--reason", "r", "--tag", "ticket=1", "--tag", "type=temporary", "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "accessrequest.access.rolegate.dev/try created (server dry run)\n") {
		t.Errorf("output:\n%s", out)
	}
	if n := len(requests(t, c)); n != 4 {
		t.Errorf("%d requests, want 4", n)
	}
}

// A user who may not read policies, or may not ask who they are, still
// gets to ask: the server checks.
func TestRequestSkipsWhatTheUserMayNotRead(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: "access.rolegate.dev", Resource: "approvalpolicies"}, "", errForbidden)
	noPolicies := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(cliObjects()...).
		WithInterceptorFuncs(interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, l client.ObjectList, o ...client.ListOption) error {
			if _, ok := l.(*accessv1alpha1.ApprovalPolicyList); ok {
				return forbidden
			}
			return c.List(ctx, l, o...)
		}}).Build()
	args := []string{"request", "payments-api", "--name", "n", "--role", "ClusterRole/edit", "--for", "1h", "--reason", "r",
		"--tag", "ticket=1", "--tag", "type=temporary"}

	out, errOut, err := runCLI(t, noPolicies, args...)
	if err != nil || out != "accessrequest.access.rolegate.dev/n created\n" ||
		errOut != "Note: you may not read ApprovalPolicies; skipping the client-side policy check (the server still checks)\n" {
		t.Errorf("policies forbidden: err %v\nstdout %q\nstderr %q", err, out, errOut)
	}

	out, errOut, err = runCLI(t, cliClient(nil, nil), args...)
	if err != nil || !strings.HasPrefix(out, "accessrequest.access.rolegate.dev/n created\n") ||
		!strings.Contains(errOut, "the requesters rule is left to the server") {
		t.Errorf("SelfSubjectReview forbidden: err %v\nstdout %q\nstderr %q", err, out, errOut)
	}
}

func TestRequestExtendsSchedulesAndBreaksGlass(t *testing.T) {
	c := cliClient(dev, nil)
	_, errOut, err := runCLI(t, c, "request", "payments-api", "--name", "later", "--role", "ClusterRole/edit", "--for", "30m",
		"--reason", "CHG-9", "--tag", "ticket=CHG-9", "--tag", "type=temporary", "--start", "2026-12-01T22:00:00Z")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	ar := &accessv1alpha1.AccessRequest{}
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: "payments", Name: "later"}, ar); err != nil {
		t.Fatal(err)
	}
	if st := ar.Spec.StartTime; st == nil || !st.Time.Equal(time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)) {
		t.Errorf("startTime = %v", st)
	}
	start, err := parseStart("+2h", time.Date(2026, 11, 29, 5, 0, 0, 500, time.UTC))
	if err != nil || !start.Time.Equal(time.Date(2026, 11, 29, 7, 0, 0, 0, time.UTC)) {
		t.Errorf("+2h = %v, %v", start, err)
	}
	o := requestOptions{role: "Role/db-migrator", duration: 20 * time.Minute, extends: "payments-api-7xk2p", emergency: true}
	built, err := o.build("payments", "payments-api")
	if err != nil {
		t.Fatal(err)
	}
	if built.Spec.Extends != "payments-api-7xk2p" || built.Spec.Tags["type"] != accessv1alpha1.BreakGlassTagValue {
		t.Errorf("spec = %+v", built.Spec)
	}
}

func TestRequestRejectsBadFlags(t *testing.T) {
	for args, want := range map[string]string{
		"--role edit --for 1h":                                      `--role must be Role/NAME or ClusterRole/NAME, got "edit"`,
		"--role Role/x --for -1h":                                   "--for must be a positive duration",
		"--role Role/x --for 1h --tag novalue":                      `--tag must be KEY=VALUE, got "novalue"`,
		"--for 1h":                                                  `required flag(s) "role" not set`,
		"--role Role/x --for 1h --start soon":                       `--start must be an RFC 3339 time or +DURATION (e.g. +2h), got "soon"`,
		"--role Role/x --for 1h --start +-1h":                       `--start must be an RFC 3339 time or +DURATION`,
		"--role Role/x --for 1h --break-glass --tag type=temporary": "--break-glass sets the tag type=break-glass; remove --tag type=temporary",
	} {
		_, _, err := runCLI(t, cliClient(dev, nil), append([]string{"request", "sa"}, strings.Fields(args)...)...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", args, err, want)
		}
	}
}
