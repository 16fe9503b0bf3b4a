package app

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"

	certutil "k8s.io/client-go/util/cert"
)

// The metrics server presents whatever certificate the rotator last wrote,
// and refuses handshakes until there is one.
func TestServingCertFromReadsTheRotatedCertificate(t *testing.T) {
	dir := t.TempDir()
	cfg := &tls.Config{}
	servingCertFrom(dir)(cfg)
	if _, err := cfg.GetCertificate(nil); err == nil {
		t.Fatal("a certificate was served before one was written")
	}
	for _, host := range []string{"first.example", "second.example"} {
		crt, key, err := certutil.GenerateSelfSignedCertKey(host, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "tls.crt"), crt, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "tls.key"), key, 0o600); err != nil {
			t.Fatal(err)
		}
		cert, err := cfg.GetCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := cert.Leaf.VerifyHostname(host); err != nil {
			t.Errorf("after writing the certificate of %s: %v", host, err)
		}
	}
}
