package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// OCI annotation keys used as image labels
// (https://github.com/opencontainers/image-spec/blob/main/annotations.md).
const (
	LabelVersion  = "org.opencontainers.image.version"
	LabelRevision = "org.opencontainers.image.revision"
	LabelSource   = "org.opencontainers.image.source"
	LabelTitle    = "org.opencontainers.image.title"
)

// File is one regular file of the image's only layer.
type File struct {
	// Path is absolute inside the image, for example /manager.
	Path string
	// Mode is the permission bits, for example 0o755.
	Mode int64
	// Content is the file's bytes.
	Content []byte
}

// Spec describes an image: an empty base with one layer.
type Spec struct {
	// OS and Arch are the platform the binaries were built for.
	OS, Arch string
	// Entrypoint is the command the container runs.
	Entrypoint []string
	// User is "uid:gid"; numeric so the runtime needs no /etc/passwd.
	User string
	// Labels become the image config's labels.
	Labels map[string]string
	// Files are written into the layer with their parent directories.
	Files []File
	// Dirs are empty directories to create (mode 1777 for /tmp, say).
	Dirs map[string]int64
	// Created is the config's creation time; zero gives the Unix epoch so
	// that the same inputs give the same image digest.
	Created time.Time
}

// Validate reports the first field that cannot make an image.
func (s Spec) Validate() error {
	switch {
	case s.OS == "" || s.Arch == "":
		return errors.New("os and arch must be set (for example -os linux -arch amd64)")
	case len(s.Entrypoint) == 0 || !path.IsAbs(s.Entrypoint[0]):
		return fmt.Errorf("entrypoint %q must start with an absolute path inside the image", s.Entrypoint)
	case len(s.Files) == 0:
		return errors.New("files: an image needs at least one file (the binary)")
	}
	if s.User != "" {
		uid, gid, ok := strings.Cut(s.User, ":")
		if !ok || !numeric(uid) || !numeric(gid) {
			return fmt.Errorf("user %q must be numeric uid:gid, for example 65532:65532", s.User)
		}
	}
	for _, f := range s.Files {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path {
			return fmt.Errorf("file path %q must be absolute and clean, for example /manager", f.Path)
		}
	}
	return nil
}

func numeric(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Build assembles the image described by s.
func Build(s Spec) (v1.Image, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	layerTar, err := layerTar(s)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("building the layer: %w", err)
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:     layer,
		History:   v1.History{CreatedBy: "rolegate hack/image", Created: v1.Time{Time: created(s)}},
		MediaType: types.OCILayer,
	})
	if err != nil {
		return nil, fmt.Errorf("adding the layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = s.OS, s.Arch
	cf.Created = v1.Time{Time: created(s)}
	cf.Config.Entrypoint = s.Entrypoint
	cf.Config.User = s.User
	cf.Config.WorkingDir = "/"
	cf.Config.Labels = s.Labels
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, fmt.Errorf("writing the image config: %w", err)
	}
	return img, nil
}

func created(s Spec) time.Time {
	if s.Created.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return s.Created.UTC()
}

// layerTar writes the files and directories of s, parents first, all owned
// by root: the non-root user can read and run them but not change them.
func layerTar(s Spec) ([]byte, error) {
	dirs := map[string]int64{}
	for d, mode := range s.Dirs {
		dirs[path.Clean(d)] = mode
	}
	for _, f := range s.Files {
		for d := path.Dir(f.Path); d != "/"; d = path.Dir(d) {
			if _, ok := dirs[d]; !ok {
				dirs[d] = 0o755
			}
		}
	}
	names := make([]string, 0, len(dirs))
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names)
	mtime := created(s)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range names {
		h := &tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: dirs[d], ModTime: mtime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
	}
	files := append([]File(nil), s.Files...)
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	for _, f := range files {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(f.Path, "/"), Mode: f.Mode, Size: int64(len(f.Content)), ModTime: mtime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Content); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ReadFile loads a file of the build machine into the image at dst.
func ReadFile(src, dst string, mode int64) (File, error) {
	b, err := os.ReadFile(src)
	if err != nil {
		return File{}, err
	}
	return File{Path: dst, Mode: mode, Content: b}, nil
}
