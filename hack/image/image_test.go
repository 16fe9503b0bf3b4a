package main

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func testSpec() Spec {
	return Spec{
		OS: "linux", Arch: "arm64",
		Entrypoint: []string{"/manager"},
		User:       "65532:65532",
		Labels: map[string]string{
			LabelVersion: "v1.2.3", LabelRevision: "0123abc",
			LabelSource: "https://example.com/rolegate", LabelTitle: "rolegate-manager",
		},
		Files: []File{
			{Path: "/manager", Mode: 0o755, Content: []byte("#!binary")},
			{Path: "/etc/ssl/certs/ca-certificates.crt", Mode: 0o644, Content: []byte("CA")},
		},
		Dirs: map[string]int64{"/tmp": 0o1777},
	}
}

type entry struct {
	typ     byte
	mode    int64
	uid     int
	content string
}

func layerEntries(t *testing.T, s Spec) map[string]entry {
	t.Helper()
	img, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("layers = %d, want one on an empty base", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	got := map[string]entry{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = entry{typ: h.Typeflag, mode: h.Mode, uid: h.Uid, content: string(b)}
	}
	return got
}

func TestBuildConfig(t *testing.T) {
	s := testSpec()
	img, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "arm64" {
		t.Errorf("platform = %s/%s, want linux/arm64", cf.OS, cf.Architecture)
	}
	if !reflect.DeepEqual(cf.Config.Entrypoint, []string{"/manager"}) || cf.Config.Cmd != nil {
		t.Errorf("entrypoint = %q cmd = %q, want [/manager] and no cmd", cf.Config.Entrypoint, cf.Config.Cmd)
	}
	if cf.Config.User != "65532:65532" {
		t.Errorf("user = %q, want 65532:65532", cf.Config.User)
	}
	if !reflect.DeepEqual(cf.Config.Labels, s.Labels) {
		t.Errorf("labels = %v, want %v", cf.Config.Labels, s.Labels)
	}
	if cf.Created.Unix() != 0 {
		t.Errorf("created = %v, want the Unix epoch for a reproducible digest", cf.Created)
	}
	if len(cf.RootFS.DiffIDs) != 1 {
		t.Errorf("rootfs diff ids = %d, want 1", len(cf.RootFS.DiffIDs))
	}
	again, err := Build(testSpec())
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("the same spec gave digests %s and %s; builds must be reproducible", d1, d2)
	}
}

func TestBuildLayer(t *testing.T) {
	got := layerEntries(t, testSpec())
	want := map[string]entry{
		"etc/":                              {typ: tar.TypeDir, mode: 0o755},
		"etc/ssl/":                          {typ: tar.TypeDir, mode: 0o755},
		"etc/ssl/certs/":                    {typ: tar.TypeDir, mode: 0o755},
		"tmp/":                              {typ: tar.TypeDir, mode: 0o1777},
		"manager":                           {typ: tar.TypeReg, mode: 0o755, content: "#!binary"},
		"etc/ssl/certs/ca-certificates.crt": {typ: tar.TypeReg, mode: 0o644, content: "CA"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("layer =\n%v\nwant\n%v", got, want)
	}
}

func TestTarballRoundTrip(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "manager")
	if err := os.WriteFile(bin, []byte("static binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "image.tar")
	labels := map[string]string{LabelVersion: "v9.9.9"}
	if err := run(bin, "/manager", "rolegate/manager:v9.9.9", out, "65532:65532", "linux", "amd64", "", "", labels); err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag("rolegate/manager:v9.9.9")
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatalf("reading the tarball back as %s: %v", tag, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.Labels[LabelVersion] != "v9.9.9" || cf.Architecture != "amd64" || cf.Config.User != "65532:65532" {
		t.Errorf("config read back = %+v", cf.Config)
	}
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(out) })
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || !reflect.DeepEqual(m[0].RepoTags, []string{"rolegate/manager:v9.9.9"}) {
		t.Errorf("manifest.json repo tags = %+v, want the tag ctr/docker load will import", m)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		mutate func(*Spec)
		want   string
	}{
		{func(s *Spec) { s.Arch = "" }, "os and arch"},
		{func(s *Spec) { s.Entrypoint = []string{"manager"} }, "entrypoint"},
		{func(s *Spec) { s.User = "nonroot" }, "numeric uid:gid"},
		{func(s *Spec) { s.User = "65532" }, "numeric uid:gid"},
		{func(s *Spec) { s.Files = nil }, "at least one file"},
		{func(s *Spec) { s.Files[0].Path = "/a/../manager" }, "absolute and clean"},
	} {
		s := testSpec()
		tc.mutate(&s)
		_, err := Build(s)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Build(%+v) error = %v, want one mentioning %q", s, err, tc.want)
		}
	}
	if err := run("", "/manager", "x:y", "out", "1:1", "linux", "amd64", "", "", nil); err == nil {
		t.Error("run without -binary succeeded")
	}
}
