// Command devenv runs rolegate against an embedded control plane
// (kube-apiserver and etcd, as envtest starts them), without a cluster.
//
//	go run ./hack/devenv dev    # control plane + CRDs + manager + sample policy; admin kubeconfig in bin/dev/kubeconfig
//	go run ./hack/devenv demo   # the samples walked through request -> approval -> grant -> expiry -> revocation
//
// Both need KUBEBUILDER_ASSETS (the directory hack/setup-envtest.sh prints);
// `make dev` and `make demo` set it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

const usage = `Usage: go run ./hack/devenv <command> [flags]

Runs rolegate against an embedded control plane (kube-apiserver and etcd, as
envtest starts them): the CRDs from config/crd/bases, the manager built by
internal/app.NewManager, and the sample world from config/samples (namespace
payments, ServiceAccount ledger-migrator, Role db-migrator, ApprovalPolicy
payments). Needs KUBEBUILDER_ASSETS; 'make dev' and 'make demo' set it
(KUBEBUILDER_ASSETS=$(hack/setup-envtest.sh)).

Commands:
  dev    run until interrupted; writes an admin kubeconfig to bin/dev/kubeconfig
         and prints the audit trail as it happens
  demo   walk the samples through request -> approval -> grant -> expiry ->
         revocation, printing each step; exits 0 only if every step happened

Run 'go run ./hack/devenv <command> -h' for the command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, a second one kills the process at once.
	go func() { <-ctx.Done(); stop() }()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		printf(os.Stderr, "%v\n", err)
		os.Exit(1)
	}
}

// run dispatches a command line (without the program name).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		printf(stderr, "%s", usage)
		return errUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		printf(stdout, "%s", usage)
		return nil
	case "dev":
		o := devOptions{LogOutput: stderr}
		fs := newFlagSet("dev", stderr, "Starts the embedded control plane, the manager and the sample policy, writes an admin\n"+
			"kubeconfig and runs until interrupted (Ctrl-C).")
		fs.StringVar(&o.Kubeconfig, "kubeconfig", "bin/dev/kubeconfig", "where to write the admin kubeconfig (relative to the repository root)")
		fs.BoolVar(&o.Verbose, "v", false, "show the manager's info logs (on stderr)")
		if err := fs.Parse(args[1:]); err != nil {
			return helpIsNotAnError(err)
		}
		return runDev(ctx, stdout, o)
	case "demo":
		o := demoOptions{LogOutput: stderr}
		fs := newFlagSet("demo", stderr, "Walks the samples through request -> approval -> grant -> expiry -> revocation against an\n"+
			"embedded control plane; exits 0 only when every step happened.")
		fs.DurationVar(&o.Duration, "duration", 20*time.Second, "access duration the request asks for (overrides the sample's 1h)")
		fs.DurationVar(&o.Timeout, "timeout", 3*time.Minute, "give up (and fail) after this long")
		fs.BoolVar(&o.Verbose, "v", false, "show the manager's info logs (on stderr)")
		if err := fs.Parse(args[1:]); err != nil {
			return helpIsNotAnError(err)
		}
		if o.Duration <= 0 || o.Timeout <= 0 {
			return errors.New("demo: -duration and -timeout must be positive")
		}
		return runDemo(ctx, stdout, o)
	default:
		printf(stderr, "unknown command %q (want dev or demo)\n\n%s", args[0], usage)
		return errUsage
	}
}

func newFlagSet(name string, out io.Writer, doc string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		printf(out, "Usage: go run ./hack/devenv %s [flags]\n\n%s\n\nFlags:\n", name, doc)
		fs.PrintDefaults()
	}
	return fs
}

// helpIsNotAnError makes -h exit 0 after printing the usage; any other flag
// error (already printed by the flag package) exits 2.
func helpIsNotAnError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return errUsage
}

// errUsage reports a command line that could not be parsed; its message
// has already been printed.
var errUsage = errors.New("usage")

// printf writes to the terminal (or a test buffer); a failed write there has
// nowhere better to be reported.
func printf(w io.Writer, format string, args ...any) {
	_, _ = fmt.Fprintf(w, format, args...)
}
