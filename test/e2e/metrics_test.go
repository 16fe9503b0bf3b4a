//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"rolegate.dev/rolegate/test/utils"
)

const scraperImage = "rolegate/e2e-scraper:dev"

var buildScraper sync.Once

// loadScraperImage builds test/e2e/scraper into an image the way make image
// builds the manager's, and loads it into the node's containerd.
func loadScraperImage(t *testing.T) {
	t.Helper()
	root, err := utils.RepoRoot()
	utils.Must(t, err)
	buildScraper.Do(func() {
		bin := filepath.Join(root, "bin", "e2e-scraper")
		tar := filepath.Join(root, "bin", "e2e-scraper.tar")
		for _, c := range []*exec.Cmd{
			exec.Command("go", "build", "-trimpath", "-o", bin, "./test/e2e/scraper"),
			exec.Command("go", "run", ".", "-binary", bin, "-path", "/scraper", "-arch", runtime.GOARCH, "-tag", scraperImage, "-out", tar),
			exec.Command("ctr", "--address", containerdAddress(t), "-n", "k8s.io", "images", "import", tar),
		} {
			c.Dir = root
			if c.Args[1] == "run" {
				c.Dir = filepath.Join(root, "hack", "image")
			}
			c.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
			if out, err := c.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v: %s", strings.Join(c.Args, " "), err, out)
			}
		}
	})
}

// scrapeMetrics scrapes the manager's /metrics from a pod exactly as the
// ServiceMonitor of config/monitoring does: with the token of the
// rolegate-metrics-scraper ServiceAccount (config/monitoring/metrics-scraper.yaml,
// bound only to the metrics-reader role), verifying the manager's
// certificate against the ca.crt of the webhook Secret.
func scrapeMetrics(t *testing.T) {
	loadScraperImage(t)
	root, err := utils.RepoRoot()
	utils.Must(t, err)
	scraper, err := os.ReadFile(filepath.Join(root, "config", "monitoring", "metrics-scraper.yaml"))
	utils.Must(t, err)
	mustKubectl(t, scraper, "-n", ns, "apply", "--server-side", "-f", "-")
	// Deleting the ServiceAccount may delete its token Secret first.
	defer mustKubectl(t, scraper, "-n", ns, "delete", "--ignore-not-found", "--wait", "-f", "-")
	poll(t, time.Minute, "the scraper's token", func() error {
		tok, err := kubectl(t, nil, "-n", ns, "get", "secret", "rolegate-metrics-scraper-token", "-o", "jsonpath={.data.token}")
		if err == nil && tok == "" {
			err = fmt.Errorf("secret rolegate-metrics-scraper-token has no token yet")
		}
		return err
	})
	ip := mustKubectl(t, nil, "-n", ns, "get", "service", "rolegate-controller-manager-metrics-service", "-o", "jsonpath={.spec.clusterIP}")
	mustKubectl(t, []byte(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: e2e-scraper, namespace: %s}
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: scraper
    image: %s
    imagePullPolicy: Never
    args: [-url, "https://%s:8443/metrics", -server-name, rolegate-webhook-service.%s.svc, -ca, /ca/ca.crt, -token, /token/token]
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
    volumeMounts:
    - {name: ca, mountPath: /ca, readOnly: true}
    - {name: token, mountPath: /token, readOnly: true}
  volumes:
  - name: ca
    secret: {secretName: rolegate-webhook-server-cert, items: [{key: ca.crt, path: ca.crt}]}
  - name: token
    secret: {secretName: rolegate-metrics-scraper-token, items: [{key: token, path: token}]}
`, ns, scraperImage, ip, ns)), "apply", "-f", "-")
	defer mustKubectl(t, nil, "-n", ns, "delete", "pod", "e2e-scraper", "--wait")
	var phase string
	poll(t, 2*time.Minute, "the scraper pod finished", func() error {
		phase = mustKubectl(t, nil, "-n", ns, "get", "pod", "e2e-scraper", "-o", "jsonpath={.status.phase}")
		if phase != "Succeeded" && phase != "Failed" {
			return fmt.Errorf("phase %q", phase)
		}
		return nil
	})
	logs := mustKubectl(t, nil, "-n", ns, "logs", "e2e-scraper")
	if phase != "Succeeded" {
		t.Fatalf("scraping the metrics from a pod failed: %s", logs)
	}
	for _, m := range []string{"rolegate_overdue_grants", "controller_runtime_reconcile_total"} {
		if !strings.Contains(logs, m) {
			t.Errorf("the scraped metrics lack %s", m)
		}
	}
}
