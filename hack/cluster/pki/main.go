// Command pki writes the certificates, keys and kubeconfigs of the local
// cluster (make cluster, hack/cluster/up.sh) into -dir: a CA, the API
// server's serving certificate, the service-account signing key, the
// kubelet's serving certificate and one client certificate and kubeconfig
// per component and for the admin. Existing files are kept, so a restarted
// cluster keeps its identities. Only the standard library is used.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

type pair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func main() {
	dir := flag.String("dir", "", "Directory to write into (required).")
	nodeIP := flag.String("node-ip", "", "The node's address: in the API server's and kubelet's certificates (required).")
	nodeName := flag.String("node-name", "", "The node's name: the kubelet's identity system:node:<name> (required).")
	server := flag.String("server", "", "API server URL for the kubeconfigs, for example https://192.0.2.2:6443 (required).")
	flag.Parse()
	if err := run(*dir, *nodeIP, *nodeName, *server); err != nil {
		fmt.Fprintln(os.Stderr, "pki:", err)
		os.Exit(1)
	}
}

func run(dir, nodeIP, nodeName, server string) error {
	ip := net.ParseIP(nodeIP)
	if dir == "" || ip == nil || nodeName == "" || server == "" {
		return errors.New("-dir, -node-ip (an IP address), -node-name and -server are required")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	ca, err := load(dir, "ca")
	if err != nil {
		ca, err = issue(dir, "ca", nil, x509.Certificate{
			Subject: pkix.Name{CommonName: "rolegate-local-cluster-ca"}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		})
		if err != nil {
			return err
		}
	}
	serving := x509.ExtKeyUsageServerAuth
	clientAuth := x509.ExtKeyUsageClientAuth
	certs := []struct {
		name string
		tmpl x509.Certificate
	}{
		{"apiserver", x509.Certificate{
			Subject:     pkix.Name{CommonName: "kube-apiserver"},
			ExtKeyUsage: []x509.ExtKeyUsage{serving},
			IPAddresses: []net.IP{ip, net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
			DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
				"kubernetes.default.svc.cluster.local"},
		}},
		{"kubelet", x509.Certificate{
			Subject:     pkix.Name{CommonName: "system:node:" + nodeName, Organization: []string{"system:nodes"}},
			ExtKeyUsage: []x509.ExtKeyUsage{serving, clientAuth},
			IPAddresses: []net.IP{ip, net.ParseIP("127.0.0.1")}, DNSNames: []string{nodeName, "localhost"},
		}},
		{"apiserver-kubelet-client", x509.Certificate{
			Subject:     pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}},
			ExtKeyUsage: []x509.ExtKeyUsage{clientAuth},
		}},
		{"admin", x509.Certificate{Subject: pkix.Name{CommonName: "rolegate-admin", Organization: []string{"system:masters"}},
			ExtKeyUsage: []x509.ExtKeyUsage{clientAuth}}},
		{"controller-manager", x509.Certificate{Subject: pkix.Name{CommonName: "system:kube-controller-manager"},
			ExtKeyUsage: []x509.ExtKeyUsage{clientAuth}}},
		{"scheduler", x509.Certificate{Subject: pkix.Name{CommonName: "system:kube-scheduler"}, ExtKeyUsage: []x509.ExtKeyUsage{clientAuth}}},
		{"proxy", x509.Certificate{Subject: pkix.Name{CommonName: "system:kube-proxy"}, ExtKeyUsage: []x509.ExtKeyUsage{clientAuth}}},
	}
	for _, c := range certs {
		if _, err := load(dir, c.name); err == nil {
			continue
		}
		c.tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		if _, err := issue(dir, c.name, ca, c.tmpl); err != nil {
			return err
		}
	}
	if err := serviceAccountKey(dir); err != nil {
		return err
	}
	for _, name := range []string{"admin", "controller-manager", "scheduler", "proxy", "kubelet"} {
		if err := kubeconfig(dir, name, server); err != nil {
			return err
		}
	}
	return nil
}

func issue(dir, name string, ca *pair, tmpl x509.Certificate) (*pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().AddDate(1, 0, 0)
	parent, signer := &tmpl, key
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return nil, fmt.Errorf("issuing %s: %w", name, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := writePEM(filepath.Join(dir, name+".key"), "EC PRIVATE KEY", keyDER); err != nil {
		return nil, err
	}
	if err := writePEM(filepath.Join(dir, name+".crt"), "CERTIFICATE", der); err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return &pair{cert: cert, key: key}, err
}

func load(dir, name string) (*pair, error) {
	cb, err := os.ReadFile(filepath.Join(dir, name+".crt"))
	if err != nil {
		return nil, err
	}
	kb, err := os.ReadFile(filepath.Join(dir, name+".key"))
	if err != nil {
		return nil, err
	}
	cp, _ := pem.Decode(cb)
	kp, _ := pem.Decode(kb)
	if cp == nil || kp == nil {
		return nil, fmt.Errorf("%s: not PEM", name)
	}
	cert, err := x509.ParseCertificate(cp.Bytes)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParseECPrivateKey(kp.Bytes)
	if err != nil {
		return nil, err
	}
	return &pair{cert: cert, key: key}, nil
}

func serviceAccountKey(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "sa.key")); err == nil {
		return nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	priv, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := writePEM(filepath.Join(dir, "sa.key"), "EC PRIVATE KEY", priv); err != nil {
		return err
	}
	return writePEM(filepath.Join(dir, "sa.pub"), "PUBLIC KEY", pub)
}

func kubeconfig(dir, name, server string) error {
	read := func(f string) (string, error) {
		b, err := os.ReadFile(filepath.Join(dir, f))
		return base64.StdEncoding.EncodeToString(b), err
	}
	ca, err := read("ca.crt")
	if err != nil {
		return err
	}
	crt, err := read(name + ".crt")
	if err != nil {
		return err
	}
	key, err := read(name + ".key")
	if err != nil {
		return err
	}
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: rolegate-local
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: rolegate-local
  context:
    cluster: rolegate-local
    user: %s
current-context: rolegate-local
`, server, ca, name, crt, key, name)
	return os.WriteFile(filepath.Join(dir, name+".kubeconfig"), []byte(cfg), 0o600)
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}
