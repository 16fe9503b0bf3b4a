package app

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func servingPair(t *testing.T) (crt, key []byte) {
	t.Helper()
	cr := &rotator.CertRotator{
		CAName: "test-ca", CAOrganization: "test", DNSName: "svc.ns.svc",
		ExtKeyUsages: &[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	now := time.Now()
	ca, err := cr.CreateCACert(now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	crt, key, err = cr.CreateCertPEM(ca, now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return crt, key
}

func TestSecretCertSync(t *testing.T) {
	key := types.NamespacedName{Namespace: "rolegate-system", Name: "rolegate-webhook-server-cert"}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	c := fake.NewClientBuilder().WithObjects(secret).Build()
	dir := filepath.Join(t.TempDir(), "serving-certs")
	s := &secretCertSync{reader: c, key: key, dir: dir, log: logr.Discard()}
	ctx := t.Context()
	files := func() (string, string) {
		crt, _ := os.ReadFile(filepath.Join(dir, "tls.crt"))
		k, _ := os.ReadFile(filepath.Join(dir, "tls.key"))
		return string(crt), string(k)
	}
	update := func(data map[string][]byte) {
		t.Helper()
		if err := c.Get(ctx, key, secret); err != nil {
			t.Fatal(err)
		}
		secret.Data = data
		if err := c.Update(ctx, secret); err != nil {
			t.Fatal(err)
		}
	}

	// The rotator has not filled the Secret yet: nothing is written.
	if ok, err := s.sync(ctx); ok || err != nil {
		t.Fatalf("sync of an empty Secret = %v, %v; want false, nil", ok, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tls.crt")); !os.IsNotExist(err) {
		t.Fatalf("tls.crt written from an empty Secret (stat: %v)", err)
	}

	// A certificate without its key (mid-update) is not copied either.
	crt1, key1 := servingPair(t)
	crt2, key2 := servingPair(t)
	update(map[string][]byte{"tls.crt": crt1, "tls.key": key2})
	if ok, _ := s.sync(ctx); ok {
		t.Fatal("sync copied a certificate with another certificate's key")
	}

	// A valid pair is copied.
	update(map[string][]byte{"ca.crt": []byte("ca"), "tls.crt": crt1, "tls.key": key1})
	if ok, err := s.sync(ctx); !ok || err != nil {
		t.Fatalf("sync = %v, %v; want true, nil", ok, err)
	}
	if gotCrt, gotKey := files(); gotCrt != string(crt1) || gotKey != string(key1) {
		t.Fatal("the files in the certificate directory are not the Secret's pair")
	}

	// A rotation replaces them.
	update(map[string][]byte{"ca.crt": []byte("ca"), "tls.crt": crt2, "tls.key": key2})
	if ok, err := s.sync(ctx); !ok || err != nil {
		t.Fatalf("sync after rotation = %v, %v", ok, err)
	}
	if gotCrt, gotKey := files(); gotCrt != string(crt2) || gotKey != string(key2) {
		t.Fatal("the rotated pair did not replace the files")
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left behind: %v", left)
	}
}

func TestSecretCertSyncReadOnlyDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes into a read-only directory; the permission check needs a non-root user")
	}
	key := types.NamespacedName{Namespace: "ns", Name: "cert"}
	crt, k := servingPair(t)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cert"},
		Data: map[string][]byte{"tls.crt": crt, "tls.key": k}}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	s := &secretCertSync{reader: fake.NewClientBuilder().WithObjects(secret).Build(), key: key, dir: dir, log: logr.Discard()}
	if _, err := s.sync(t.Context()); err != nil {
		t.Fatalf("sync into a read-only directory = %v; want the kubelet's mount relied on, no error", err)
	}
	if !s.readOnly {
		t.Fatal("a read-only directory was not recognised")
	}
}
