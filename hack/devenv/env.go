package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/app"
)

// The sample world of config/samples.
const (
	sampleNamespace      = "payments"
	sampleServiceAccount = "ledger-migrator"
	sampleRole           = "db-migrator"
	samplePolicy         = "payments"
	sampleRequest        = "ledger-migrate-4711"
	// The people of the samples: alice asks, carol (security on call) approves.
	sampleRequester      = "alice"
	sampleRequesterGroup = "payments-devs"
	sampleReviewer       = "carol"
	sampleReviewerGroup  = "security-oncall"

	policySample   = "config/samples/access_v1alpha1_approvalpolicy.yaml"
	requestSample  = "config/samples/access_v1alpha1_accessrequest.yaml"
	decisionSample = "config/samples/access_v1alpha1_accessdecision.yaml"

	modulePath = "rolegate.dev/rolegate"
)

// migratorVerbs are what Role db-migrator allows on configmaps and jobs.
var migratorVerbs = []string{"get", "list", "watch", "create", "update"}

// errNoAssets explains how to get the control-plane binaries.
var errNoAssets = errors.New("KUBEBUILDER_ASSETS is not set: it must name the directory holding the envtest " +
	"kube-apiserver and etcd binaries. Run `make dev` / `make demo` (they set it), or " +
	"`KUBEBUILDER_ASSETS=$(hack/setup-envtest.sh) go run ./hack/devenv ...`")

// repoRoot walks up from the working directory to the directory whose
// go.mod declares rolegate's module, so the tool works from `go run` in the
// root and from `go test` in hack/devenv.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && declaresModule(data, modulePath) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod for module %s in the working directory or above it; "+
				"run from inside the rolegate repository", modulePath)
		}
		dir = parent
	}
}

func declaresModule(gomod []byte, module string) bool {
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "module" && strings.Trim(f[1], `"`) == module {
			return true
		}
	}
	return false
}

// setupLogging keeps controller-runtime quiet (errors only) so that the
// output reads as a story; verbose shows its info logs too.
func setupLogging(w io.Writer, verbose bool) {
	level := zapcore.ErrorLevel
	if verbose {
		level = zapcore.InfoLevel
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(w), zap.ConsoleEncoder(), zap.Level(level), zap.StacktraceLevel(zapcore.PanicLevel)))
}

// devEnv is a running control plane with rolegate's manager.
type devEnv struct {
	root    string
	testEnv *envtest.Environment
	cfg     *rest.Config
	// k8s reads straight from the API server, never from a cache.
	k8s client.Client

	cancelMgr context.CancelFunc
	mgrDone   chan struct{}
	mgrErr    error // set before mgrDone closes
}

// startEnv starts kube-apiserver and etcd, installs the CRDs and starts the
// manager, which writes its audit lines to auditLog. It returns once the
// manager's caches are in sync. The caller must call stop.
// devNotificationNamespace holds the Secrets of notification targets.
const devNotificationNamespace = "rolegate-system"

func startEnv(ctx context.Context, auditLog io.Writer) (*devEnv, error) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return nil, errNoAssets
	}
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	e := &devEnv{root: root, testEnv: &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		// The admission webhooks run as in a cluster: envtest issues their
		// serving certificate and points the webhook configurations at the
		// manager's local webhook server.
		WebhookInstallOptions: envtest.WebhookInstallOptions{Paths: []string{filepath.Join(root, "config", "webhook")}},
	}}
	if e.cfg, err = e.testEnv.Start(); err != nil {
		_ = e.testEnv.Stop()
		return nil, fmt.Errorf("starting the control plane (KUBEBUILDER_ASSETS=%s; hack/setup-envtest.sh builds the binaries): %w",
			os.Getenv("KUBEBUILDER_ASSETS"), err)
	}
	if e.k8s, err = client.New(e.cfg, client.Options{Scheme: app.Scheme}); err != nil {
		e.stop()
		return nil, fmt.Errorf("creating a client: %w", err)
	}
	// Notification targets read their Secrets from rolegate-system, as in
	// the default install.
	if err := e.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: devNotificationNamespace}}); err != nil {
		e.stop()
		return nil, fmt.Errorf("creating namespace %s: %w", devNotificationNamespace, err)
	}
	wh := e.testEnv.WebhookInstallOptions
	mgr, err := app.NewManager(e.cfg, app.Options{MetricsAddr: "0", ProbeAddr: "0", AuditLog: auditLog,
		MetricsRegistry: prometheus.NewRegistry(), NotificationNamespace: devNotificationNamespace,
		Webhook: app.WebhookOptions{
			Enabled: true, Host: wh.LocalServingHost, Port: wh.LocalServingPort, CertDir: wh.LocalServingCertDir,
		}})
	if err != nil {
		e.stop()
		return nil, err
	}
	mgrCtx, cancel := context.WithCancel(context.Background())
	e.cancelMgr, e.mgrDone = cancel, make(chan struct{})
	go func() {
		defer close(e.mgrDone)
		e.mgrErr = mgr.Start(mgrCtx)
	}()
	syncCtx, cancelSync := context.WithTimeout(ctx, time.Minute)
	defer cancelSync()
	synced := make(chan bool, 1)
	go func() { synced <- mgr.GetCache().WaitForCacheSync(syncCtx) }()
	select {
	case ok := <-synced:
		if !ok {
			e.stop()
			return nil, fmt.Errorf("the manager's caches did not sync: %w", context.Cause(syncCtx))
		}
	case <-e.mgrDone:
		err := e.managerError()
		e.stop()
		return nil, err
	}
	if err := e.waitForWebhooks(syncCtx); err != nil {
		e.stop()
		return nil, err
	}
	return e, nil
}

// waitForWebhooks returns once the admission webhooks answer: a dry-run
// decision for a request that does not exist is refused by rolegate's
// validating webhook, not by a connection error.
func (e *devEnv) waitForWebhooks(ctx context.Context) error {
	probe := &accessv1alpha1.AccessDecision{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Namespace: metav1.NamespaceDefault},
		Spec:       accessv1alpha1.AccessDecisionSpec{Request: "probe", Decision: accessv1alpha1.DecisionApprove},
	}
	for {
		err := e.k8s.Create(ctx, probe.DeepCopy(), client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), accessv1alpha1.ReasonRequestNotFound) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the admission webhooks did not answer: %w", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// as returns a client that acts as the given person through impersonation,
// so the API server authenticates them and admission records who they are.
func (e *devEnv) as(user string, groups ...string) (client.Client, error) {
	cfg := rest.CopyConfig(e.cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	return client.New(cfg, client.Options{Scheme: app.Scheme})
}

// managerError reports the manager stopping on its own, or nil if it runs.
func (e *devEnv) managerError() error {
	select {
	case <-e.mgrDone:
		if e.mgrErr != nil {
			return fmt.Errorf("the manager stopped: %w", e.mgrErr)
		}
		return errors.New("the manager stopped")
	default:
		return nil
	}
}

// stop stops the manager, then the control plane.
func (e *devEnv) stop() {
	if e.cancelMgr != nil {
		e.cancelMgr()
		select {
		case <-e.mgrDone:
		case <-time.After(30 * time.Second):
			printf(os.Stderr, "devenv: the manager did not stop within 30s\n")
		}
	}
	if err := e.testEnv.Stop(); err != nil {
		printf(os.Stderr, "devenv: stopping the control plane: %v\n", err)
	}
}

// path resolves a repository-relative path.
func (e *devEnv) path(rel string) string { return filepath.Join(e.root, filepath.FromSlash(rel)) }

// readSample decodes a YAML file of config/samples into obj.
func (e *devEnv) readSample(rel string, obj client.Object) error {
	data, err := os.ReadFile(e.path(rel))
	if err != nil {
		return err
	}
	if err := yaml.UnmarshalStrict(data, obj); err != nil {
		return fmt.Errorf("decoding %s: %w", rel, err)
	}
	return nil
}

// setUpSampleWorld creates what the samples need: namespace payments
// (team=payments), ServiceAccount ledger-migrator, Role db-migrator, and the
// ApprovalPolicy sample. It returns the applied policy.
func (e *devEnv) setUpSampleWorld(ctx context.Context) (*accessv1alpha1.ApprovalPolicy, error) {
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: sampleNamespace, Labels: map[string]string{"team": "payments"}}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sampleServiceAccount, Namespace: sampleNamespace}},
		&rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: sampleRole, Namespace: sampleNamespace},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: migratorVerbs},
				{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: migratorVerbs},
			},
		},
	}
	for _, o := range objs {
		if err := e.k8s.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating %T %s: %w", o, o.GetName(), err)
		}
	}
	pol := &accessv1alpha1.ApprovalPolicy{}
	if err := e.readSample(policySample, pol); err != nil {
		return nil, err
	}
	if err := e.createOrUpdate(ctx, pol); err != nil {
		return nil, fmt.Errorf("applying ApprovalPolicy %s: %w", pol.Name, err)
	}
	return pol, nil
}

// createOrUpdate creates obj, or replaces the spec of the existing object
// (keeping its resourceVersion) when it is already there.
func (e *devEnv) createOrUpdate(ctx context.Context, obj client.Object) error {
	err := e.k8s.Create(ctx, obj)
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	existing := obj.DeepCopyObject().(client.Object)
	if err := e.k8s.Get(ctx, client.ObjectKeyFromObject(obj), existing); err != nil {
		return err
	}
	obj.SetResourceVersion(existing.GetResourceVersion())
	return e.k8s.Update(ctx, obj)
}

// auditLog buffers the manager's audit lines and optionally echoes each
// complete line to a writer as it arrives.
type auditLog struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	partial []byte
	echo    io.Writer
	prefix  string
}

func (a *auditLog) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.buf.Write(p)
	if a.echo != nil {
		a.partial = append(a.partial, p...)
		for {
			i := bytes.IndexByte(a.partial, '\n')
			if i < 0 {
				break
			}
			printf(a.echo, "%s%s\n", a.prefix, a.partial[:i])
			a.partial = a.partial[i+1:]
		}
	}
	return len(p), nil
}

// Lines returns the complete lines written so far.
func (a *auditLog) Lines() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, l := range strings.Split(a.buf.String(), "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}
