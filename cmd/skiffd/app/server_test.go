package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/store"
)

// runningServer is one `skiffd server` (runServer) of a test.
type runningServer struct {
	cfg    *client.Config
	c      *client.Client
	cancel context.CancelFunc
	done   chan error
}

func startServer(t *testing.T, endpoints []string, lease time.Duration) *runningServer {
	t.Helper()
	cfg := defaultConfig()
	cfg.DataDir, cfg.Listen = t.TempDir(), "127.0.0.1:0"
	cfg.Store.Endpoints, cfg.Store.Prefix = endpoints, "/leader-test"
	cfg.Agent.Enabled, cfg.Controllers = false, nil
	cfg.Plugins.WasmCacheDir = filepath.Join(artifacts, "wasm-cache")
	cfg.LeaderElection.LeaseDuration = lease
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &runningServer{cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- runServer(ctx, &cfg, configSource{flags: newServerCommand().Flags()}) }()
	t.Cleanup(s.stop)
	waitFor(t, "the server to serve", func() (bool, string) {
		cc, err := client.LoadConfig(filepath.Join(cfg.DataDir, "admin.conf"))
		if err != nil {
			return false, err.Error()
		}
		c, err := client.New(cc)
		if err != nil {
			return false, err.Error()
		}
		if _, err := client.Get[*api.Namespace](context.Background(), c, "", "default"); err != nil {
			return false, err.Error()
		}
		s.cfg, s.c = cc, c
		return true, ""
	})
	return s
}

func (s *runningServer) stop() {
	if s.cancel != nil {
		s.cancel()
		<-s.done
		s.cancel = nil
	}
}

// filterCalls sums the calls of the server's scheduler.filter plugins, as
// `skiff plugins` reads them: only a server that schedules makes any.
func (s *runningServer) filterCalls(t *testing.T) uint64 {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(s.cfg.CertificateAuthorityData))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	req, _ := http.NewRequest(http.MethodGet, s.cfg.Server+PluginsPath, nil)
	req.Header.Set("Authorization", "Bearer "+s.cfg.Token)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list pluginStatusList
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	var calls uint64
	for _, st := range list.Items {
		if st.Point == "scheduler.filter" {
			calls += st.Calls
		}
	}
	if len(list.Items) == 0 {
		t.Fatal("the server's plugin host has no plugins")
	}
	return calls
}

func (s *runningServer) bound(t *testing.T, name string) {
	t.Helper()
	waitFor(t, "pod "+name+" bound", func() (bool, string) {
		p, err := client.Get[*api.Pod](context.Background(), s.c, "default", name)
		if err != nil {
			return false, err.Error()
		}
		return p.Spec.NodeName == "n1", p.Spec.NodeName
	})
}

func createPod(t *testing.T, c *client.Client, name string) {
	t.Helper()
	if _, err := client.Create(context.Background(), c, podWithRequests(name, true)); err != nil {
		t.Fatal(err)
	}
}

// Two servers share one etcd: both serve the API and run the plugin host,
// only the leader schedules, and when it stops the other takes over.
func TestOnlyTheLeaderSchedules(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	emb, err := store.StartEmbedded(ctx, store.EmbeddedConfig{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	const lease = 2 * time.Second

	a := startServer(t, emb.Endpoints(), lease) // alone, so it leads
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: "n1"}}
	n.Status.Allocatable = api.ResourceList{"cpu": resource.MustParse("8"), "memory": resource.MustParse("16Gi"), "pods": resource.MustParse("110")}
	if _, err := client.Create(ctx, a.c, n); err != nil {
		t.Fatal(err)
	}
	createPod(t, a.c, "first")
	a.bound(t, "first")

	b := startServer(t, emb.Endpoints(), lease)
	createPod(t, b.c, "second") // written through the follower
	b.bound(t, "second")
	if got := b.filterCalls(t); got != 0 {
		t.Fatalf("the follower's scheduler ran %d filter calls: only the leader may schedule", got)
	}
	if a.filterCalls(t) == 0 {
		t.Fatal("the leader's plugin host made no filter calls, yet pods were bound")
	}

	a.stop() // resigns: the follower takes over at once, at worst after the lease
	stopped := time.Now()
	createPod(t, b.c, "third")
	b.bound(t, "third")
	t.Logf("hand-over: third pod bound %s after the leader stopped (lease %s)", time.Since(stopped).Round(time.Millisecond), lease)
	if b.filterCalls(t) == 0 {
		t.Fatal("the pod was bound but not by the new leader's scheduler")
	}
}
