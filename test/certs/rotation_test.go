// Package certs_test checks that the manager, without cert-manager, issues
// its own webhook serving certificate into its Secret, injects the CA into
// both webhook configurations, and reports ready only once it can serve.
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

	certDir := t.TempDir()
	probePort := freePort(t)
	mgr, err := app.NewManager(cfg, app.Options{
		SkipNameValidation: true, MetricsRegistry: prometheus.NewRegistry(), AuditLog: &bytes.Buffer{},
		ProbeAddr: fmt.Sprintf("127.0.0.1:%d", probePort),
		Webhook: app.WebhookOptions{
			Enabled: true, Host: "127.0.0.1", Port: freePort(t), CertDir: certDir, CertRotation: true,
			Namespace: ns, SecretName: "rolegate-webhook-server-cert", ServiceName: "rolegate-webhook-service",
			MutatingConfigName: "rolegate-mutating-webhook-configuration", ValidatingConfigName: "rolegate-validating-webhook-configuration",
		},
	})
	utils.Must(t, err)
	mctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(mctx) }()
	t.Cleanup(func() { cancel(); <-done })
	readyz := func() error {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort))
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz = %d", resp.StatusCode)
		}
		return nil
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
	// Until the certificate reaches the pod, the manager is not ready.
	if err := readyz(); err == nil {
		t.Fatal("ready before the serving certificate was mounted")
	}
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

	// The kubelet projects the Secret into the pod; here the test does.
	for _, k := range []string{"tls.crt", "tls.key"} {
		utils.Must(t, os.WriteFile(filepath.Join(certDir, k), secret.Data[k], 0o600))
	}
	utils.Eventually(t, 60*time.Second, readyz)
}

func ptrTo[T any](v T) *T { return &v }
