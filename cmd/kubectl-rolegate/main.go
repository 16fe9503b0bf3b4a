// Command kubectl-rolegate is rolegate's command-line client. Installed on
// the PATH it is also a kubectl plugin: `kubectl rolegate ...`.
//
// Every command reads the kubectl connection flags (--kubeconfig, --context,
// -n/--namespace, --as, --as-group, ...) from the root command, so it talks
// to the same cluster, as the same user, as kubectl would.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/scheme"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	os.Exit(run(os.Args[1:], streams, rootOptions{}))
}

// Exit codes: success, an error (a refusal, a request that ended without
// access, a failure), a command line that cannot be run as given, and a
// --wait whose timeout passed before the request settled.
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitTimedOut = 3
)

// run executes the command line and returns the exit code: errors are
// printed as kubectl prints them, "error: ...", and exit with exitError,
// exitUsage or exitTimedOut.
func run(args []string, streams genericiooptions.IOStreams, o rootOptions) int {
	cmd := newRootCmd(streams, o)
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(streams.ErrOut, "error: "+err.Error())
		switch {
		case errors.As(err, new(usageError)):
			return exitUsage
		case errors.Is(err, errWaitTimeout):
			return exitTimedOut
		}
		return exitError
	}
	return exitOK
}

// rootOptions replace the parts of the CLI that touch the outside world;
// the zero value is the real thing.
type rootOptions struct {
	// newClient builds the client from the REST config the flags select.
	newClient func(*rest.Config) (client.Client, error)
	// now is the clock.
	now func() time.Time
}

// newRootCmd builds `kubectl rolegate` with every subcommand.
func newRootCmd(streams genericiooptions.IOStreams, o rootOptions) *cobra.Command {
	if o.newClient == nil {
		o.newClient = newClient
	}
	if o.now == nil {
		o.now = time.Now
	}
	flags := genericclioptions.NewConfigFlags(true)
	cmd := &cobra.Command{
		// The binary is kubectl-rolegate; help and usage show it the way
		// users call it as a plugin.
		Use:         "kubectl-rolegate",
		Annotations: map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl rolegate"},
		Short:       "Request, approve and audit time-bound access for service accounts",
		Long: `kubectl rolegate works with rolegate's AccessRequests, AccessDecisions and
ApprovalPolicies. It uses kubectl's connection flags and kubeconfig, so it
reaches the same cluster as the same user (including --as impersonation).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Cobra would otherwise add a "completion" command to a plugin.
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	flags.AddFlags(cmd.PersistentFlags())

	f := &flagsFactory{flags: flags, newClient: o.newClient, errOut: streams.ErrOut}
	cmd.AddCommand(
		newRequestCmd(f, streams),
		newDecideCmd(f, streams, accessv1alpha1.DecisionApprove),
		newDecideCmd(f, streams, accessv1alpha1.DecisionDeny),
		newDecideCmd(f, streams, accessv1alpha1.DecisionRevoke),
		newDecideCmd(f, streams, accessv1alpha1.DecisionAcknowledge),
		newAttestCmd(f, streams),
		newPendingCmd(f, streams, o.now),
		newExplainCmd(f, streams, o.now),
		newCatalogCmd(f, streams),
		newGetCmd(f, streams, o.now),
		newReportCmd(f, streams, o.now),
		newInventoryCmd(f, streams), newConvertCmd(f, streams),
		newLintCmd(streams),
		newVersionCmd(streams),
	)
	return cmd
}

// clientFactory gives commands what they need to reach the cluster.
type clientFactory interface {
	// Client is a client for the cluster, user and context the flags select.
	Client() (client.Client, error)
	// Namespace is the namespace from -n, or else the kubeconfig context's,
	// or else "default", as kubectl chooses it.
	Namespace() (string, error)
}

// flagsFactory is the clientFactory behind the kubectl connection flags.
type flagsFactory struct {
	flags     *genericclioptions.ConfigFlags
	newClient func(*rest.Config) (client.Client, error)
	// errOut receives the notes about roles the user may not read and the
	// API server's warnings.
	errOut io.Writer
}

func (f *flagsFactory) Client() (client.Client, error) {
	cfg, err := f.flags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	// Admission warnings (a request held back for review, a tag near its
	// limit) reach the user the way kubectl shows them.
	cfg.WarningHandler = rest.NewWarningWriter(f.errOut, rest.WarningWriterOptions{Deduplicate: true})
	c, err := f.newClient(cfg)
	if err != nil {
		return nil, err
	}
	return withRoleNotes(c, f.errOut, false), nil
}

func (f *flagsFactory) Namespace() (string, error) {
	ns, _, err := f.flags.ToRawKubeConfigLoader().Namespace()
	return ns, err
}

// newClient builds a controller-runtime client that knows client-go's
// kinds and rolegate's API.
// It can watch too (client.WithWatch), for request --wait and get --watch.
func newClient(cfg *rest.Config) (client.Client, error) {
	return client.NewWithWatch(cfg, client.Options{Scheme: scheme.Scheme})
}
