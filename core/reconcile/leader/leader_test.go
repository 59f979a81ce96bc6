package leader

import (
	"context"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

func startEtcd(t *testing.T) string {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Dir = t.TempDir()
	u := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{u}, []url.URL{u}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{u}, []url.URL{u}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("embedded etcd not ready")
	}
	return "http://" + e.Clients[0].Addr().String()
}

func newClient(t *testing.T, endpoint string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	return cli
}

// candidate runs Run and records when it leads.
type candidate struct {
	name    string
	leading atomic.Bool
	stopped atomic.Int32
	cancel  context.CancelFunc
	done    chan struct{}
}

func runCandidate(t *testing.T, cli *clientv3.Client, identity string, ttl time.Duration, active *atomic.Int32, maxActive *atomic.Int32) *candidate {
	ctx, cancel := context.WithCancel(context.Background())
	c := &candidate{name: identity, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		_ = Run(ctx, cli, "controllers", identity, ttl, func(lctx context.Context) {
			n := active.Add(1)
			for {
				m := maxActive.Load()
				if n <= m || maxActive.CompareAndSwap(m, n) {
					break
				}
			}
			c.leading.Store(true)
			<-lctx.Done()
			c.leading.Store(false)
			active.Add(-1)
		}, func() { c.stopped.Add(1) })
	}()
	t.Cleanup(func() { cancel(); <-c.done })
	return c
}

func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func TestOneLeaderAndHandOverWithinTTLWhenLeaderDies(t *testing.T) {
	endpoint := startEtcd(t)
	const ttl = 2 * time.Second
	var active, maxActive atomic.Int32
	cliA, cliB := newClient(t, endpoint), newClient(t, endpoint)
	defer cliB.Close()
	a := runCandidate(t, cliA, "server-a", ttl, &active, &maxActive)
	waitUntil(t, 10*time.Second, "server-a leads", a.leading.Load)
	b := runCandidate(t, cliB, "server-b", ttl, &active, &maxActive)
	time.Sleep(500 * time.Millisecond)
	if b.leading.Load() {
		t.Fatal("server-b leads while server-a holds the lead")
	}
	if id, _ := Leader(context.Background(), cliB, "controllers"); id != "server-a" {
		t.Fatalf("Leader = %q, want server-a", id)
	}

	// The leader's process dies: its client goes away without resigning,
	// so only the lease's expiry can hand the lead over.
	cliA.Close()
	waitUntil(t, 5*time.Second, "server-a stops leading once its session is gone", func() bool { return !a.leading.Load() })
	took := waitUntil(t, ttl+2*time.Second, "server-b takes over", b.leading.Load)
	t.Logf("hand-over after the leader died took %s (ttl %s)", took, ttl)
	if maxActive.Load() != 1 {
		t.Fatalf("%d candidates led at the same time", maxActive.Load())
	}
	if a.stopped.Load() != 1 {
		t.Fatalf("onStoppedLeading of server-a ran %d times, want 1", a.stopped.Load())
	}
}

func TestCleanStopResignsAtOnce(t *testing.T) {
	endpoint := startEtcd(t)
	const ttl = 10 * time.Second
	var active, maxActive atomic.Int32
	cliA, cliB := newClient(t, endpoint), newClient(t, endpoint)
	defer cliA.Close()
	defer cliB.Close()
	a := runCandidate(t, cliA, "server-a", ttl, &active, &maxActive)
	waitUntil(t, 10*time.Second, "server-a leads", a.leading.Load)
	b := runCandidate(t, cliB, "server-b", ttl, &active, &maxActive)
	a.cancel()
	<-a.done
	// Far less than the 10s TTL: the resign deleted the key.
	waitUntil(t, 3*time.Second, "server-b takes over after a clean stop", b.leading.Load)
	if maxActive.Load() != 1 {
		t.Fatalf("%d candidates led at the same time", maxActive.Load())
	}
}

func TestRunValidatesArguments(t *testing.T) {
	var once sync.Once
	noop := func(context.Context) { once.Do(func() {}) }
	if err := Run(context.Background(), nil, "", "id", time.Second, noop, nil); err == nil {
		t.Fatal("empty name accepted")
	}
	if err := Run(context.Background(), nil, "n", "id", 100*time.Millisecond, noop, nil); err == nil {
		t.Fatal("sub-second ttl accepted")
	}
}
