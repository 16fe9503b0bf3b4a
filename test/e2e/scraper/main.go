// Command scraper fetches a metrics endpoint the way Prometheus does with
// the ServiceMonitor of config/monitoring: with the bearer token of its
// ServiceAccount and verifying the server's certificate against a CA file
// under a given server name. make e2e runs it in a pod (test/e2e) and reads
// what it prints.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

func main() {
	url := flag.String("url", "", "Metrics URL.")
	caFile := flag.String("ca", "/ca/ca.crt", "CA bundle to verify the server with.")
	serverName := flag.String("server-name", "", "Name the server's certificate must carry.")
	tokenFile := flag.String("token", "/var/run/secrets/kubernetes.io/serviceaccount/token", "Bearer token file.")
	flag.Parse()
	if err := scrape(*url, *caFile, *serverName, *tokenFile); err != nil {
		fmt.Fprintln(os.Stderr, "scrape:", err)
		os.Exit(1)
	}
}

func scrape(url, caFile, serverName, tokenFile string) error {
	ca, err := os.ReadFile(filepath.Clean(caFile))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return errors.New("no certificate in " + caFile)
	}
	token, err := os.ReadFile(filepath.Clean(tokenFile))
	if err != nil {
		return err
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12},
	}}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+string(token))
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	_, err = io.Copy(os.Stdout, resp.Body)
	return err
}
