package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// devOptions configure runDev.
type devOptions struct {
	// Kubeconfig is where the admin kubeconfig goes, relative to the
	// repository root unless absolute.
	Kubeconfig string
	// Verbose shows the manager's info logs on LogOutput.
	Verbose bool
	// LogOutput receives controller-runtime's logs; nil means stderr.
	LogOutput io.Writer
}

// Dev-only RBAC so that impersonated people can use rolegate: the
// user-facing ClusterRoles of config/rbac, bound the way a cluster admin
// would bind them. (envtest runs no controller-manager, so the roles'
// aggregation into edit and view does not happen; they are bound directly.)
const (
	requesterRoleFile = "config/rbac/requester_role.yaml"
	viewerRoleFile    = "config/rbac/viewer_role.yaml"
)

var devPeople = []string{"payments-devs", "payments-owners", "security-oncall"}

// runDev starts the embedded control plane with rolegate and the sample
// world, writes an admin kubeconfig and runs until ctx ends.
func runDev(ctx context.Context, out io.Writer, opts devOptions) error {
	if opts.Kubeconfig == "" {
		opts.Kubeconfig = "bin/dev/kubeconfig"
	}
	if opts.LogOutput == nil {
		opts.LogOutput = os.Stderr
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return errNoAssets
	}
	setupLogging(opts.LogOutput, opts.Verbose)
	start := time.Now()
	printf(out, "rolegate dev: starting kube-apiserver and etcd, installing the CRDs, starting the manager ...\n")
	audit := &auditLog{echo: out, prefix: "audit: "}
	env, err := startEnv(ctx, audit)
	if err != nil {
		return err
	}
	defer env.stop()

	pol, err := env.setUpSampleWorld(ctx)
	if err != nil {
		return err
	}
	if err := env.setUpDevRBAC(ctx); err != nil {
		return err
	}
	kubeconfig := opts.Kubeconfig
	if !filepath.IsAbs(kubeconfig) {
		kubeconfig = env.path(kubeconfig)
	}
	if err := env.writeAdminKubeconfig(kubeconfig); err != nil {
		return err
	}
	defer func() {
		if err := os.Remove(kubeconfig); err == nil {
			printf(out, "rolegate dev: removed %s (its control plane is gone)\n", kubeconfig)
		}
	}()
	policyState := env.policyReadiness(ctx, pol)

	show := kubeconfig
	if rel, err := filepath.Rel(env.root, kubeconfig); err == nil && filepath.IsLocal(rel) {
		show = rel
	}
	printf(out, `rolegate dev: ready in %.1fs.
  API server      %s
  CRDs            approvalpolicies (apol), accessrequests (areq), accessdecisions (adec) in access.rolegate.dev/v1alpha1
  manager         running with its admission webhooks (metrics and probes off); audit lines are printed below as "audit: {...}"
  sample world    namespace payments (team=payments), ServiceAccount payments/ledger-migrator, Role payments/db-migrator
                  ApprovalPolicy payments from %s: %s
  people (RBAC)   groups %v may create requests and decisions in payments (ClusterRole requester);
                  everyone may read rolegate objects (ClusterRole viewer)
  admin kubeconfig %s (user rolegate-dev-admin, group system:masters)

Try it, from the repository root:
  export KUBECONFIG=%s
  kubectl get apol,areq,adec -A
  kubectl --as alice --as-group payments-devs apply -f %s
  kubectl get areq -n payments ledger-migrate-4711 -o yaml        # Ready=False PendingApproval, tier security
  kubectl --as carol --as-group security-oncall apply -f %s
  kubectl get areq,adec -n payments                                # Granted; the decision is Counted
  kubectl get rolebindings -n payments -l app.kubernetes.io/managed-by=rolegate
  kubectl auth can-i create configmaps -n payments --as system:serviceaccount:payments:ledger-migrator
  kubectl events -n payments --for accessrequest/ledger-migrate-4711
(The samples ask for 1h; edit spec.duration before applying to watch it expire sooner.
Admission records spec.requester and spec.reviewer from the --as identity; try a forged one to see it refused.)

Press Ctrl-C to stop.
`, time.Since(start).Seconds(), env.cfg.Host, policySample, policyState, devPeople, show, show,
		requestSample, decisionSample)

	select {
	case <-ctx.Done():
		printf(out, "\nrolegate dev: stopping the manager and the control plane ...\n")
		return nil
	case <-env.mgrDone:
		return env.managerError()
	}
}

// setUpDevRBAC applies the requester and viewer ClusterRoles and binds them
// to the sample's people.
func (e *devEnv) setUpDevRBAC(ctx context.Context) error {
	requester, viewer := &rbacv1.ClusterRole{}, &rbacv1.ClusterRole{}
	if err := e.readSample(requesterRoleFile, requester); err != nil {
		return err
	}
	if err := e.readSample(viewerRoleFile, viewer); err != nil {
		return err
	}
	var subjects []rbacv1.Subject
	for _, g := range devPeople {
		subjects = append(subjects, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: g})
	}
	objs := []client.Object{
		requester, viewer,
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "rolegate-dev-requesters", Namespace: sampleNamespace},
			Subjects:   subjects,
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: requester.Name},
		},
		&rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "rolegate-dev-viewers"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:authenticated"}},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: viewer.Name},
		},
	}
	for _, o := range objs {
		if err := e.createOrUpdate(ctx, o); err != nil {
			return fmt.Errorf("applying %T %s: %w", o, o.GetName(), err)
		}
	}
	return nil
}

// writeAdminKubeconfig writes a kubeconfig for a system:masters user.
func (e *devEnv) writeAdminKubeconfig(path string) error {
	user, err := e.testEnv.AddUser(envtest.User{Name: "rolegate-dev-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("adding the admin user: %w", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("rendering the admin kubeconfig: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("writing the admin kubeconfig: %w", err)
	}
	return nil
}

// policyReadiness waits briefly for the policy's Ready condition and
// describes it.
func (e *devEnv) policyReadiness(ctx context.Context, pol *accessv1alpha1.ApprovalPolicy) string {
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := e.k8s.Get(ctx, client.ObjectKeyFromObject(pol), pol); err == nil {
			c := meta.FindStatusCondition(pol.Status.Conditions, accessv1alpha1.ConditionReady)
			if c != nil && c.ObservedGeneration == pol.Generation {
				return fmt.Sprintf("Ready=%s (%s: %s)", c.Status, c.Reason, c.Message)
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return "Ready not reported yet"
		}
		time.Sleep(pollInterval)
	}
}
