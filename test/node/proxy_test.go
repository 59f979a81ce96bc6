package node_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/node"
	"github.com/skiff-sh/skiff/plugins/runtime/sim"
)

// TestLogsAndExecThroughAPIServer drives the API server's pod proxy to an
// agent serving mutual TLS, as `skiff logs` and `skiff exec` do.
func TestLogsAndExecThroughAPIServer(t *testing.T) {
	srv := etcd.NewServer(t)
	a, err := node.New(node.Config{
		NodeName: "n1", Client: srv.Client, Runtime: sim.New(), NewNetwork: sim.NewNetwork, DataDir: t.TempDir(),
		NodeIPs: []string{"127.0.0.1"}, Prober: node.AlwaysSucceed{}, Listen: "127.0.0.1:0", ClusterCAPEM: srv.CAPEM(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if _, err := client.Create(ctx, srv.Client, newPod("web", "n1", api.Container{Name: "app", Image: "web:1"})); err != nil {
		t.Fatal(err)
	}
	waitPod(t, srv.Client, "web", "Running", func(p *api.Pod) bool { return p.Status.Phase == "Running" })

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CAPEM())
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}, Timeout: 10 * time.Second}
	do := func(method, path string, body io.Reader) *http.Response {
		req, _ := http.NewRequest(method, srv.URL()+path, body)
		req.Header.Set("Authorization", "Bearer "+srv.Config.Token)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := do("GET", "/api/v1/namespaces/default/pods/web/log", nil)
	logs, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(logs), "sim: started default/web/app") {
		t.Fatalf("logs: HTTP %d %q", resp.StatusCode, logs)
	}

	var in bytes.Buffer
	node.NewFrameWriter(&in).WriteFrame(node.ChannelStdinClose, nil)
	resp = do("POST", "/api/v1/namespaces/default/pods/web/exec?command=echo&command=hi", &in)
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("exec: HTTP %d %s", resp.StatusCode, body)
	}
	var stdout string
	for {
		ch, payload, err := node.ReadFrame(resp.Body)
		if err != nil {
			t.Fatalf("exec stream: %v (stdout so far %q)", err, stdout)
		}
		if ch == node.ChannelStdout {
			stdout += string(payload)
		}
		if ch == node.ChannelExit {
			var exit node.ExitFrame
			json.Unmarshal(payload, &exit)
			if exit.ExitCode != 0 || exit.Error != "" || stdout != "echo hi\n" {
				t.Fatalf("exec: exit %+v stdout %q", exit, stdout)
			}
			break
		}
	}

	// Without the proxy's client certificate the agent refuses.
	direct := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 5 * time.Second}
	if r, err := direct.Get(a.Endpoint() + "/pods/default/web/log"); err == nil {
		r.Body.Close()
		t.Fatalf("agent answered a client without a certificate: HTTP %d", r.StatusCode)
	}
	resp = do("GET", "/api/v1/namespaces/default/pods/nope/log", nil)
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("logs of a missing pod: HTTP %d, want 404", resp.StatusCode)
	}
}
