// Package api benchmarks the API server over HTTPS against a real embedded
// etcd. Each TestBench* skips unless SKIFF_BENCH=1 and prints one line:
// `BENCH <name> <value> <unit>`.
package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/apiserver"
	"github.com/skiff-sh/skiff/core/store"
)

// benchServer is an API server on loopback backed by its own embedded etcd.
type benchServer struct {
	srv    *apiserver.Server
	client *http.Client
	token  string
}

func startServer(t *testing.T) *benchServer {
	t.Helper()
	if os.Getenv("SKIFF_BENCH") != "1" {
		t.Skip("benchmark: set SKIFF_BENCH=1 to run")
	}
	dir := t.TempDir()
	t.Setenv("SKIFF_CONFIG", dir+"/user-config")
	ctx, cancel := context.WithCancel(context.Background())
	etcd, err := store.StartEmbedded(ctx, store.EmbeddedConfig{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewEtcd(etcd.Client(), "/skiff")
	srv, err := apiserver.New(apiserver.Config{Store: st, DataDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CAPEM())
	b := &benchServer{srv: srv, token: srv.ClientConfig().Token, client: &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 64,
	}}}
	t.Cleanup(func() {
		cancel()
		<-done
		b.client.CloseIdleConnections()
		st.Close()
		etcd.Close()
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		if code, _ := b.do(context.Background(), "GET", "/readyz", nil); code == 200 {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatal("server not ready in 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *benchServer) do(ctx context.Context, method, path string, body []byte) (int, []byte) {
	req, err := http.NewRequestWithContext(ctx, method, b.srv.URL()+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil
	}
	req.Header.Set("Authorization", "Bearer "+b.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}
