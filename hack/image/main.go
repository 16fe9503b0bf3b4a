// Command image packs a static binary into a container image without a
// registry or a container engine, and writes it as a Docker/OCI image
// tarball that `ctr -n k8s.io images import`, `docker load` and
// `podman load` accept:
//
//	go run . -binary ../../bin/manager-linux-amd64 -tag rolegate/manager:v0.1.0 \
//	  -out ../../bin/rolegate-manager.tar -label org.opencontainers.image.version=v0.1.0
//
// The image has an empty base and one layer: the binary at -path, the
// build machine's CA bundle (for notification webhooks over HTTPS) and a
// world-writable /tmp; it runs as -user. The Dockerfile builds the same
// image for users with a registry.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// caBundle is where Debian, Alpine and the golang images keep the CA bundle.
const caBundle = "/etc/ssl/certs/ca-certificates.crt"

type labelFlags map[string]string

func (l labelFlags) String() string { return fmt.Sprint(map[string]string(l)) }

func (l labelFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("label %q must be key=value", v)
	}
	l[k] = val
	return nil
}

func main() {
	labels := labelFlags{}
	binary := flag.String("binary", "", "Static binary to pack (required).")
	dst := flag.String("path", "/manager", "Path of the binary inside the image; also the entrypoint.")
	tag := flag.String("tag", "", "Image reference to record in the tarball, for example rolegate/manager:v0.1.0 (required).")
	out := flag.String("out", "", "Tarball to write (required).")
	user := flag.String("user", "65532:65532", "Numeric uid:gid the container runs as.")
	goos := flag.String("os", "linux", "OS of the binary.")
	arch := flag.String("arch", runtime.GOARCH, "Architecture of the binary.")
	ca := flag.String("ca-bundle", caBundle, "CA bundle to copy to "+caBundle+"; empty leaves it out.")
	createdFlag := flag.String("created", "", "Creation time (RFC 3339); default the Unix epoch, for reproducible digests.")
	flag.Var(labels, "label", "Image label key=value; repeatable.")
	flag.Parse()
	if err := run(*binary, *dst, *tag, *out, *user, *goos, *arch, *ca, *createdFlag, labels); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(binary, dst, tag, out, user, goos, arch, ca, createdAt string, labels map[string]string) error {
	if binary == "" || tag == "" || out == "" {
		return fmt.Errorf("-binary, -tag and -out are required")
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("-tag %q: %w", tag, err)
	}
	bin, err := ReadFile(binary, dst, 0o755)
	if err != nil {
		return fmt.Errorf("-binary: %w", err)
	}
	spec := Spec{
		OS: goos, Arch: arch, Entrypoint: []string{dst}, User: user, Labels: labels,
		Files: []File{bin},
		Dirs:  map[string]int64{"/tmp": 0o1777},
	}
	if ca != "" {
		f, err := ReadFile(ca, caBundle, 0o644)
		if err != nil {
			return fmt.Errorf("-ca-bundle: %w (pass -ca-bundle= to leave it out)", err)
		}
		spec.Files = append(spec.Files, f)
	}
	if createdAt != "" {
		if spec.Created, err = time.Parse(time.RFC3339, createdAt); err != nil {
			return fmt.Errorf("-created: %w", err)
		}
	}
	img, err := Build(spec)
	if err != nil {
		return err
	}
	if err := tarball.WriteToFile(out, ref, img); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s %s %s\n", out, ref.Name(), d)
	return nil
}
