package main

import (
	"bytes"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"rolegate.dev/rolegate/internal/scheme"
)

// TestAdmissionWarningsReachTheUser: every command's client prints the API
// server's warnings (a request held back, a tag near its limit) on stderr
// as kubectl does, once each.
func TestAdmissionWarningsReachTheUser(t *testing.T) {
	flags := genericclioptions.NewConfigFlags(false)
	flags.APIServer = ptr.To("https://127.0.0.1:6443")
	var got *rest.Config
	var errOut bytes.Buffer
	f := &flagsFactory{flags: flags, errOut: &errOut, newClient: func(cfg *rest.Config) (client.Client, error) {
		got = cfg
		return fake.NewClientBuilder().WithScheme(scheme.Scheme).Build(), nil
	}}
	if _, err := f.Client(); err != nil {
		t.Fatal(err)
	}
	if got == nil || got.WarningHandler == nil {
		t.Fatal("the client's REST config has no warning handler: admission warnings would be dropped")
	}
	const warning = "held back: the policy asks for a ticket reference in tag ticket"
	got.WarningHandler.HandleWarningHeader(299, "-", warning)
	got.WarningHandler.HandleWarningHeader(299, "-", warning)
	if s := errOut.String(); strings.Count(s, "Warning: "+warning) != 1 {
		t.Errorf("stderr = %q, want the warning once, as kubectl prints it", s)
	}
}
