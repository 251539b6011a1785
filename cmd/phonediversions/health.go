package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// runHealth is `phonediversions health [settings]`: asks the HTTP
// listener the settings name for /healthz and fails unless it answers
// 200 within 3 s — a health check for a container (HEALTHCHECK) or a
// monitoring script, with no curl needed.
func runHealth(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	cfg, err := ParseConfig(args, getenv, out)
	if err != nil {
		return err
	}
	if cfg.HTTPAddr == "" {
		return errors.New("http_addr is empty: no HTTP listener to ask")
	}
	host, port, err := net.SplitHostPort(cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http_addr: %w", err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	scheme := "http"
	client := &http.Client{Timeout: 3 * time.Second}
	if cfg.HTTPTLSCert != "" {
		// Its own listener: the name in the certificate is not this one.
		scheme = "https"
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	}
	url := scheme + "://" + net.JoinHostPort(host, port) + "/healthz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	fmt.Fprintf(out, "%s: ok\n", url)
	return nil
}
