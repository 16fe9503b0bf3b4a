package lint

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Source is one file to lint.
type Source struct {
	// Path names the file in findings, as it was reached from the arguments.
	Path string
	// Data is the file's content.
	Data []byte
	// Namespace, when set, is the namespace an enclosing kustomization gives
	// every namespaced object of the file (kustomize's `namespace:` field).
	Namespace string
}

// kustomizationNames are the file names kustomize recognises, in its order.
var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

type kustomization struct {
	Namespace  string   `yaml:"namespace"`
	Resources  []string `yaml:"resources"`
	Bases      []string `yaml:"bases"`
	Components []string `yaml:"components"`
}

// Collect reads the files to lint from paths. A file is read whatever its
// name. A directory with a kustomization file contributes the local files
// its resources (and bases and components) list, recursing into listed
// directories; remote resources are skipped. Any other directory is walked
// recursively for *.yaml and *.yml files, skipping hidden directories, and a
// subdirectory with a kustomization file is read as a kustomization. Each
// file is read once.
func Collect(paths []string) ([]Source, error) {
	c := &collector{seen: map[string]bool{}}
	for _, p := range paths {
		if err := c.add(p, ""); err != nil {
			return nil, err
		}
	}
	return c.out, nil
}

type collector struct {
	seen map[string]bool
	out  []Source
}

func (c *collector) add(p, ns string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return c.addFile(p, ns)
	}
	if k := findKustomization(p); k != "" {
		return c.addKustomization(p, k, ns)
	}
	return c.walk(p, ns)
}

func (c *collector) addFile(p, ns string) error {
	key := p
	if abs, err := filepath.Abs(p); err == nil {
		key = abs
	}
	if c.seen[key] {
		return nil
	}
	c.seen[key] = true
	data, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	c.out = append(c.out, Source{Path: p, Data: data, Namespace: ns})
	return nil
}

func (c *collector) walk(dir, ns string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		switch {
		case e.IsDir():
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			if k := findKustomization(p); k != "" {
				err = c.addKustomization(p, k, ns)
			} else {
				err = c.walk(p, ns)
			}
		case e.Type()&fs.ModeType == 0 && isYAML(e.Name()):
			err = c.addFile(p, ns)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *collector) addKustomization(dir, file, ns string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var k kustomization
	if err := yaml.Unmarshal(data, &k); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	// An outer kustomization's namespace wins, as kustomize applies it last.
	if ns == "" {
		ns = k.Namespace
	}
	for _, list := range [][]string{k.Resources, k.Bases, k.Components} {
		for _, r := range list {
			if isRemote(r) {
				continue
			}
			p := filepath.Join(dir, r)
			if err := c.add(p, ns); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("%s: resource %s does not exist", file, r)
				}
				return err
			}
		}
	}
	return nil
}

func findKustomization(dir string) string {
	for _, n := range kustomizationNames {
		p := filepath.Join(dir, n)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	return ""
}

func isYAML(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".yaml" || ext == ".yml"
}

// isRemote reports whether a kustomization resource is a URL or a Git
// reference rather than a local path.
func isRemote(r string) bool {
	return strings.Contains(r, "://") || strings.HasPrefix(r, "git@") ||
		strings.HasPrefix(r, "github.com/") || strings.HasPrefix(r, "gitlab.com/") || strings.HasPrefix(r, "bitbucket.org/")
}
