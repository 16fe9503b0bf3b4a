// Package certs_test checks that the manager, without cert-manager, issues
// its own webhook serving certificate into its Secret, injects the CA into
// both webhook configurations, copies the certificate from the Secret
// through the API, and reports ready once it can serve — with two replicas
// racing on the same empty Secret.
package certs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"rolegate.dev/rolegate/internal/app"
	"rolegate.dev/rolegate/test/utils"
)

const ns = "rolegate-system"

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	utils.Must(t, err)
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

func TestTheManagerIssuesItsOwnCertificateAndInjectsTheCA(t *testing.T) {
	utils.RequireEnvtest(t)
	root, err := utils.RepoRoot()
	utils.Must(t, err)
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join(root, "config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	utils.Must(t, err)
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(cfg, client.Options{Scheme: app.Scheme})
	utils.Must(t, err)
	ctx := t.Context()

	// What config/default installs: the namespace, the empty Secret and the
	// webhook configurations, renamed as the kustomize prefix renames them.
	utils.Must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	utils.Must(t, c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "rolegate-webhook-server-cert", Namespace: ns}}))
	raw, err := os.ReadFile(filepath.Join(root, "config", "webhook", "manifests.yaml"))
	utils.Must(t, err)
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for {
		var probe struct{ Kind string }
		var b json.RawMessage
		if err := dec.Decode(&b); err != nil {
			break
		}
		utils.Must(t, json.Unmarshal(b, &probe))
		var obj client.Object
		switch probe.Kind {
		case "MutatingWebhookConfiguration":
			m := &admissionregistrationv1.MutatingWebhookConfiguration{}
			utils.Must(t, json.Unmarshal(b, m))
			m.Name = "rolegate-mutating-webhook-configuration"
			for i := range m.Webhooks {
				m.Webhooks[i].ClientConfig.Service.Namespace, m.Webhooks[i].ClientConfig.Service.Name = ns, "rolegate-webhook-service"
				// Nothing in this test may be blocked by an unreachable webhook.
				m.Webhooks[i].FailurePolicy = ptrTo(admissionregistrationv1.Ignore)
			}
			obj = m
		case "ValidatingWebhookConfiguration":
			v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
			utils.Must(t, json.Unmarshal(b, v))
			v.Name = "rolegate-validating-webhook-configuration"
			for i := range v.Webhooks {
				v.Webhooks[i].ClientConfig.Service.Namespace, v.Webhooks[i].ClientConfig.Service.Name = ns, "rolegate-webhook-service"
				v.Webhooks[i].FailurePolicy = ptrTo(admissionregistrationv1.Ignore)
			}
			obj = v
		default:
			continue
		}
		utils.Must(t, c.Create(ctx, obj))
	}

	// Two replicas start together, as a fresh two-replica install does:
	// both race to fill the empty Secret, and both must end up serving the
	// one certificate that won.
	type replica struct {
		certDir string
		readyz  func() error
	}
	var replicas []replica
	for i := range 2 {
		certDir := t.TempDir()
		probePort := freePort(t)
		mgr, err := app.NewManager(cfg, app.Options{
			SkipNameValidation: true, MetricsRegistry: prometheus.NewRegistry(), AuditLog: &bytes.Buffer{},
			ProbeAddr: fmt.Sprintf("127.0.0.1:%d", probePort),
			Webhook: app.WebhookOptions{
				Enabled: true, Host: "127.0.0.1", Port: freePort(t), CertDir: certDir, CertRotation: true,
				Namespace: ns, SecretName: "rolegate-webhook-server-cert", ServiceName: "rolegate-webhook-service",
				MutatingConfigName: "rolegate-mutating-webhook-configuration", ValidatingConfigName: "rolegate-validating-webhook-configuration",
				RotatorControllerName: fmt.Sprintf("cert-rotator-%d", i),
			},
		})
		utils.Must(t, err)
		mctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = mgr.Start(mctx) }()
		t.Cleanup(func() { cancel(); <-done })
		replicas = append(replicas, replica{certDir: certDir, readyz: func() error {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort))
			if err != nil {
				return err
			}
			defer func() { _ = resp.Body.Close() }()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("readyz = %d", resp.StatusCode)
			}
			return nil
		}})
	}

	// The rotator fills the Secret with a CA and a serving certificate for the Service.
	secret := &corev1.Secret{}
	utils.Eventually(t, 30*time.Second, func() error {
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rolegate-webhook-server-cert"}, secret); err != nil {
			return err
		}
		for _, k := range []string{"ca.crt", "tls.crt", "tls.key"} {
			if len(secret.Data[k]) == 0 {
				return fmt.Errorf("secret has no %s yet", k)
			}
		}
		return nil
	})
	// The CA is injected into every webhook of both configurations.
	utils.Eventually(t, 30*time.Second, func() error {
		m := &admissionregistrationv1.MutatingWebhookConfiguration{}
		v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		if err := c.Get(ctx, client.ObjectKey{Name: "rolegate-mutating-webhook-configuration"}, m); err != nil {
			return err
		}
		if err := c.Get(ctx, client.ObjectKey{Name: "rolegate-validating-webhook-configuration"}, v); err != nil {
			return err
		}
		var bundles [][]byte
		for _, w := range m.Webhooks {
			bundles = append(bundles, w.ClientConfig.CABundle)
		}
		for _, w := range v.Webhooks {
			bundles = append(bundles, w.ClientConfig.CABundle)
		}
		for _, b := range bundles {
			if !bytes.Equal(b, secret.Data["ca.crt"]) {
				return fmt.Errorf("a webhook's caBundle is not the issued CA")
			}
		}
		return nil
	})
	if !strings.Contains(string(secret.Data["tls.crt"]), "BEGIN CERTIFICATE") {
		t.Fatalf("tls.crt is not a certificate")
	}

	// Each replica copies the winning certificate from the Secret through
	// the API (no Secret volume, no kubelet refresh to wait for) and becomes
	// ready.
	for i, r := range replicas {
		utils.Eventually(t, 30*time.Second, func() error {
			for _, k := range []string{"tls.crt", "tls.key"} {
				b, err := os.ReadFile(filepath.Join(r.certDir, k))
				if err != nil {
					return fmt.Errorf("replica %d: %w", i, err)
				}
				if !bytes.Equal(b, secret.Data[k]) {
					return fmt.Errorf("replica %d serves a %s that is not the Secret's", i, k)
				}
			}
			return r.readyz()
		})
	}
	// The Secret settled on one certificate: it is the one first read.
	final := &corev1.Secret{}
	utils.Must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rolegate-webhook-server-cert"}, final))
	if !bytes.Equal(final.Data["tls.crt"], secret.Data["tls.crt"]) {
		t.Fatal("the replicas kept replacing each other's certificate")
	}
}

func ptrTo[T any](v T) *T { return &v }
