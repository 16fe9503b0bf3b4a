package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// certFiles are the names controller-runtime's webhook server reads from
// its certificate directory, and the keys the rotator writes in the Secret.
var certFiles = []string{corev1.TLSPrivateKeyKey, corev1.TLSCertKey}

// secretCertSync copies the serving certificate from the Secret the rotator
// keeps into the webhook server's certificate directory, read through the
// API rather than a mounted Secret volume: the kubelet refreshes such a
// volume only every minute or two, which kept a fresh replica unready that
// long. It runs on every replica (the rotator does too: every replica
// serves the webhooks), polls quickly until the first certificate is
// written, then slowly to pick up rotations; the webhook server notices the
// new files itself.
type secretCertSync struct {
	reader client.Reader
	key    types.NamespacedName
	dir    string
	fast   time.Duration
	slow   time.Duration
	log    logr.Logger
	// readOnly is set once the directory turned out to be a read-only
	// mount (a Secret volume of an older install): the kubelet fills it.
	readOnly bool
}

// NeedLeaderElection is false: standbys serve webhooks too.
func (s *secretCertSync) NeedLeaderElection() bool { return false }

// Start syncs until ctx ends.
func (s *secretCertSync) Start(ctx context.Context) error {
	synced := false
	for {
		ok, err := s.sync(ctx)
		if err != nil {
			s.log.Error(err, "Copying the webhook serving certificate from its Secret", "secret", s.key, "dir", s.dir)
		}
		if ok && !synced {
			s.log.Info("Webhook serving certificate copied from its Secret", "secret", s.key, "dir", s.dir)
		}
		synced = synced || ok
		wait := s.fast
		if synced {
			wait = s.slow
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// sync writes the Secret's certificate and key into dir when they form a
// valid pair that differs from the files there. It reports whether dir
// holds the Secret's current pair afterwards.
func (s *secretCertSync) sync(ctx context.Context) (bool, error) {
	if s.readOnly {
		return true, nil
	}
	secret := &corev1.Secret{}
	if err := s.reader.Get(ctx, s.key, secret); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	crt, key := secret.Data[corev1.TLSCertKey], secret.Data[corev1.TLSPrivateKeyKey]
	if len(crt) == 0 || len(key) == 0 {
		return false, nil // the rotator has not written it yet
	}
	if _, err := tls.X509KeyPair(crt, key); err != nil {
		return false, nil // mid-rotation or foreign content: wait for the next write
	}
	want := map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key}
	same := true
	for _, f := range certFiles {
		have, err := os.ReadFile(filepath.Join(s.dir, f)) //nolint:gosec // the manager's own certificate directory, fixed names
		if err != nil || !bytes.Equal(have, want[f]) {
			same = false
		}
	}
	if same {
		return true, nil
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return false, s.checkReadOnly(err)
	}
	// The key first: the server reloads on the certificate's change.
	for _, f := range certFiles {
		if err := writeAtomic(filepath.Join(s.dir, f), want[f]); err != nil {
			return false, s.checkReadOnly(err)
		}
	}
	return true, nil
}

func (s *secretCertSync) checkReadOnly(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) && (errors.Is(err, os.ErrPermission) || pe.Err.Error() == "read-only file system") {
		s.readOnly = true
		s.log.Info("The webhook certificate directory is read-only (a mounted Secret volume?); relying on the kubelet to fill it", "dir", s.dir)
		return nil
	}
	return err
}

// writeAtomic replaces path with b through a rename, so that a reader never
// sees a partly written file.
func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(b); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	return nil
}
