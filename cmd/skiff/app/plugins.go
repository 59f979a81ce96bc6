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
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
)

// pluginsPath is where skiffd serves its plugin host's status.
const pluginsPath = "/apis/skiff.io/v1/plugins"

// pluginStatus is one item of skiffd's PluginStatusList (the fields of
// core/plugin.PluginStatus the table shows; the CLI does not link the
// plugin host).
type pluginStatus struct {
	Name      string        `json:"name"`
	Point     string        `json:"point"`
	Loader    string        `json:"loader"`
	Path      string        `json:"path"`
	State     string        `json:"state"`
	Calls     uint64        `json:"calls"`
	Errors    uint64        `json:"errors"`
	P99       time.Duration `json:"p99"`
	LastError string        `json:"lastError"`
}

func newPluginsCommand(o *options) *cobra.Command {
	var wide bool
	cmd := &cobra.Command{
		Use:   "plugins",
		Short: "List the plugins skiffd has loaded, with their state, calls, errors and p99 latency",
		Long: `List every plugin skiffd has loaded (scheduler policies and other extension
points), as selected in skiffd's config file: NAME POINT LOADER STATUS CALLS
ERRORS P99. STATUS is loaded, failing (the last call failed) or restarting (a
process plugin being brought back). Controllers are listed too, with POINT
controller: running on the server that leads the control plane, standby on
the others. -o wide adds the path and the last error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			items, err := o.plugins(cmd.Context())
			if err != nil {
				return err
			}
			if len(items) == 0 {
				fmt.Fprintln(o.ErrOut, "No plugins loaded.")
				return nil
			}
			printPlugins(o.Out, items, wide)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&wide, "wide", "w", false, "also print each plugin's path and last error")
	return cmd
}

func printPlugins(out io.Writer, items []pluginStatus, wide bool) {
	tw := tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
	header := "NAME\tPOINT\tLOADER\tSTATUS\tCALLS\tERRORS\tP99"
	if wide {
		header += "\tPATH\tLAST ERROR"
	}
	fmt.Fprintln(tw, header)
	for _, p := range items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s", p.Name, p.Point, p.Loader, p.State, p.Calls, p.Errors, formatLatency(p.P99))
		if wide {
			fmt.Fprintf(tw, "\t%s\t%s", orDash(p.Path), orDash(oneLine(p.LastError)))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// formatLatency rounds to three significant digits: 85µs, 1.23ms, 2s.
func formatLatency(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// plugins fetches the status list. The endpoint is not a resource, so it
// is read with a plain authenticated GET.
func (o *options) plugins(ctx context.Context) ([]pluginStatus, error) {
	cfg, err := o.loadConfig()
	if err != nil {
		return nil, err
	}
	hc, err := httpClient(cfg)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(cfg.Server, "/")+pluginsPath, nil)
	if err != nil {
		return nil, fmt.Errorf("server %q: %w", cfg.Server, err)
	}
	if cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+cfg.Token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the API server at %s: %w", cfg.Server, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", pluginsPath, err)
	}
	if resp.StatusCode != http.StatusOK {
		st := &api.Status{}
		if json.Unmarshal(body, st) == nil && st.Message != "" {
			return nil, st
		}
		if resp.StatusCode == http.StatusNotFound {
			return nil, errors.New("the server does not serve plugin status (is it a skiffd server of this version?)")
		}
		return nil, fmt.Errorf("GET %s: %s", pluginsPath, resp.Status)
	}
	var list struct {
		Items []pluginStatus `json:"items"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", pluginsPath, err)
	}
	return list.Items, nil
}

// httpClient trusts the config's CA, as the API client does.
func httpClient(cfg *client.Config) (*http.Client, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CertificateAuthorityData != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(cfg.CertificateAuthorityData)) {
			return nil, errors.New("client config: certificate-authority-data: no PEM certificate found")
		}
		tlsConfig.RootCAs = pool
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig, ForceAttemptHTTP2: true}}, nil
}
