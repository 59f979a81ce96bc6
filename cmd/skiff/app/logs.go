package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/core/api"
)

func newLogsCommand(o *options) *cobra.Command {
	var container string
	var follow, previous, timestamps bool
	var tail int
	cmd := &cobra.Command{
		Use:   "logs POD [-c CONTAINER]",
		Short: "Print the logs of a container in a pod",
		Example: `  skiff logs web-7d9f -c app
  skiff logs -f --tail 20 web-7d9f
  skiff logs --previous web-7d9f   # the run before the last restart`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			setQuery(q, "container", container)
			if follow {
				q.Set("follow", "true")
			}
			if previous {
				q.Set("previous", "true")
			}
			if timestamps {
				q.Set("timestamps", "true")
			}
			if tail >= 0 {
				q.Set("tail", strconv.Itoa(tail))
			}
			resp, err := o.rawRequest(cmd.Context(), http.MethodGet, o.podPath(args[0], "log"), q, nil, "")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			_, err = io.Copy(o.Out, resp.Body)
			if err != nil && cmd.Context().Err() != nil {
				return nil // interrupted while following
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVarP(&container, "container", "c", "", "container name (default: the pod's only container)")
	f.BoolVarP(&follow, "follow", "f", false, "stream new lines until the container stops")
	f.BoolVarP(&previous, "previous", "p", false, "print the logs of the previous run of the container")
	f.BoolVar(&timestamps, "timestamps", false, "prefix each line with its time")
	f.IntVar(&tail, "tail", -1, "print only the last N lines (-1 = all)")
	return cmd
}

func setQuery(q url.Values, key, value string) {
	if value != "" {
		q.Set(key, value)
	}
}

func (o *options) podPath(pod, verb string) string {
	return "/api/v1/namespaces/" + url.PathEscape(o.Namespace()) + "/pods/" + url.PathEscape(pod) + "/" + verb
}

// rawRequest sends a request whose body streams (logs, exec, image upload)
// and returns the response for 2xx codes; other codes come back as the
// server's Status.
func (o *options) rawRequest(ctx context.Context, method, path string, q url.Values, body io.Reader, contentType string) (*http.Response, error) {
	cfg, err := o.loadConfig()
	if err != nil {
		return nil, err
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CertificateAuthorityData != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(cfg.CertificateAuthorityData)) {
			return nil, errors.New("client config: certificate-authority-data: no PEM certificate found")
		}
		tlsCfg.RootCAs = pool
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true, Proxy: http.ProxyFromEnvironment}}
	u := strings.TrimRight(cfg.Server, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+cfg.Token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, cfg.Server, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var st api.Status
		if json.Unmarshal(data, &st) == nil && st.Message != "" {
			return nil, &st
		}
		return nil, fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	return resp, nil
}
