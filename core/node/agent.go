package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/core/subnet"
	"github.com/skiff-sh/skiff/sdk/runtime"
)

// Agent runs the pods bound to one node.
type Agent struct {
	cfg    Config
	client *client.Client
	rt     runtime.Plugin
	net    Network
	prober Prober
	log    *slog.Logger
	// events records pod events; ownSink is set when the agent runs it.
	events  reconcile.Recorder
	ownSink *reconcile.EventSink

	podCIDR  string
	nodeIPs  []string
	capacity api.ResourceList
	sysInfo  api.NodeSystemInfo
	endpoint string
	certPEM  []byte
	tlsCert  tls.Certificate
	listener net.Listener

	ctx     context.Context // the Run context; workers live under it
	adopted map[string][]runtime.ContainerStatus

	mu      sync.Mutex
	workers map[string]*podWorker // by pod UID
	synced  chan struct{}
	wg      sync.WaitGroup
}

// New checks cfg and prepares an agent; nothing is registered until Run.
func New(cfg Config) (*Agent, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	a := &Agent{
		cfg: cfg, client: cfg.Client, rt: cfg.Runtime, prober: cfg.Prober, log: cfg.Logger,
		nodeIPs: cfg.NodeIPs, capacity: cfg.Capacity,
		workers: map[string]*podWorker{}, synced: make(chan struct{}),
	}
	if a.prober == nil {
		a.prober = &netProber{rt: cfg.Runtime}
	}
	sink := cfg.Events
	if sink == nil {
		sink = reconcile.NewEventSink(cfg.Client, nil, cfg.Logger)
		a.ownSink = sink
	}
	a.events = sink.HostRecorder(EventComponent, cfg.NodeName)
	if len(a.nodeIPs) == 0 {
		a.nodeIPs = []string{defaultNodeIP()}
	}
	if a.capacity == nil {
		a.capacity = hostCapacity()
	}
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "pods"), 0o755); err != nil {
		return nil, fmt.Errorf("node agent %q: data dir: %w", cfg.NodeName, err)
	}
	if cfg.Listen != "" {
		if err := a.prepareServing(); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// PodCIDR is the node's leased pod subnet, known once Run has registered.
func (a *Agent) PodCIDR() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.podCIDR
}

// Endpoint is the agent's HTTPS base URL ("" when it serves none).
func (a *Agent) Endpoint() string { return a.endpoint }

// Run registers the node, adopts the runtime's containers and runs the
// node's pods until ctx ends. Containers keep running when it returns: the
// next agent adopts them.
func (a *Agent) Run(ctx context.Context) error {
	err := a.run(ctx)
	if ctx.Err() != nil {
		return nil // stopped while starting
	}
	return err
}

func (a *Agent) run(ctx context.Context) error {
	a.ctx = ctx
	if a.ownSink != nil {
		go a.ownSink.Run(ctx)
	}
	name, version, err := a.rt.Info(ctx)
	if err != nil {
		return fmt.Errorf("node agent %q: runtime: %w", a.cfg.NodeName, err)
	}
	a.sysInfo = systemInfo(name, version)
	if err := ensureNamespace(ctx, a.client, SystemNamespace); err != nil {
		return fmt.Errorf("node agent %q: %w", a.cfg.NodeName, err)
	}
	subnets, err := subnet.New(subnet.Config{Client: a.client, ClusterCIDR: a.cfg.ClusterCIDR, NodeNetworks: a.nodeIPs})
	if err != nil {
		return fmt.Errorf("node agent %q: %w", a.cfg.NodeName, err)
	}
	podCIDR, err := subnets.Acquire(ctx, a.cfg.NodeName, a.cfg.PodSubnet)
	if err != nil {
		return fmt.Errorf("node agent %q: %w", a.cfg.NodeName, err)
	}
	// Renewal keeps the lease from being reclaimed as a dead node's.
	go subnets.KeepAlive(ctx, a.cfg.NodeName, podCIDR, func(err error) {
		a.log.Warn("renew pod subnet lease", "subnet", podCIDR, "err", err)
	})
	a.mu.Lock()
	a.podCIDR = podCIDR
	a.mu.Unlock()
	if a.net, err = a.newNetwork(a.podCIDR); err != nil {
		return fmt.Errorf("node agent %q: pod network for %s: %w", a.cfg.NodeName, a.podCIDR, err)
	}
	if err := a.register(ctx, a.podCIDR); err != nil {
		return err
	}
	a.startFabric(ctx) // network.go; needs the registered Node
	if err := ensureNamespace(ctx, a.client, LeaseNamespace); err != nil {
		return fmt.Errorf("node agent %q: %w", a.cfg.NodeName, err)
	}
	if err := a.renewLease(ctx); err != nil {
		return err
	}
	if err := a.updateNodeStatus(ctx, true); err != nil {
		return err
	}
	if err := a.loadAdopted(ctx); err != nil {
		return err
	}
	var serveErr chan error
	if a.listener != nil {
		serveErr = make(chan error, 1)
		srv := a.httpServer(ctx)
		go func() { serveErr <- srv.ServeTLS(a.listener, "", "") }()
		defer srv.Close()
	}
	if err := a.startServices(ctx); err != nil {
		return err
	}
	pods := a.cfg.Pods
	if pods == nil {
		pods = NewPodWatch(a.client, a.cfg.NodeName)
		go pods.Run(ctx)
	}
	unsubscribe := pods.subscribe(a.cfg.NodeName, a)
	go a.heartbeat(ctx)
	a.log.Info("node agent running", "podCIDR", a.podCIDR, "ips", a.nodeIPs, "endpoint", a.endpoint)
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			unsubscribe()
			a.wg.Wait()
			return fmt.Errorf("node agent %q: serve %s: %w", a.cfg.NodeName, a.cfg.Listen, err)
		}
	}
	unsubscribe()
	a.wg.Wait()
	return nil
}

// loadAdopted reads the runtime's containers, grouped by pod, for workers
// to adopt.
func (a *Agent) loadAdopted(ctx context.Context) error {
	list, err := a.rt.ListContainers(ctx)
	if err != nil {
		return fmt.Errorf("node agent %q: list runtime containers: %w", a.cfg.NodeName, err)
	}
	a.adopted = map[string][]runtime.ContainerStatus{}
	for _, c := range list {
		a.adopted[c.PodUID] = append(a.adopted[c.PodUID], c)
	}
	return nil
}

// podsSynced implements podHandler: every listed pod gets a worker, workers
// of pods no longer listed terminate, and containers of pods that are gone
// are removed.
func (a *Agent) podsSynced(pods []*api.Pod) {
	seen := map[string]bool{}
	for _, p := range pods {
		seen[p.UID] = true
		a.podChanged(p)
	}
	a.mu.Lock()
	for uid, w := range a.workers {
		if !seen[uid] {
			w.markGone()
		}
	}
	first := false
	select {
	case <-a.synced:
	default:
		close(a.synced)
		first = true
	}
	a.mu.Unlock()
	if first {
		// Containers whose pod no longer exists: clean them up.
		for uid, list := range a.adopted {
			if !seen[uid] && len(list) > 0 {
				c := list[0]
				ghost := &api.Pod{ObjectMeta: api.ObjectMeta{UID: uid, Namespace: c.PodNamespace, Name: c.PodName}}
				a.startWorker(ghost).markGone()
			}
		}
	}
}

// podChanged implements podHandler.
func (a *Agent) podChanged(pod *api.Pod) {
	a.mu.Lock()
	w, ok := a.workers[pod.UID]
	a.mu.Unlock()
	if ok {
		w.update(pod)
		return
	}
	a.startWorker(pod)
}

// podDeleted implements podHandler.
func (a *Agent) podDeleted(pod *api.Pod) {
	a.mu.Lock()
	w, ok := a.workers[pod.UID]
	a.mu.Unlock()
	if ok {
		w.markGone()
	}
}

func (a *Agent) startWorker(pod *api.Pod) *podWorker {
	a.mu.Lock()
	defer a.mu.Unlock()
	if w, ok := a.workers[pod.UID]; ok {
		return w
	}
	w := newPodWorker(a, pod, a.adopted[pod.UID])
	a.workers[pod.UID] = w
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		w.run(a.ctx)
	}()
	return w
}

func (a *Agent) removeWorker(w *podWorker) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.workers[w.uid] == w {
		delete(a.workers, w.uid)
	}
}

// workerFor finds the worker of a pod by namespace and name.
func (a *Agent) workerFor(namespace, name string) (*podWorker, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, w := range a.workers {
		pod, _ := w.snapshot()
		if pod.Namespace == namespace && pod.Name == name {
			return w, true
		}
	}
	return nil, false
}

func ensureNamespace(ctx context.Context, c *client.Client, name string) error {
	_, err := client.Create(ctx, c, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: name}})
	if err != nil && !api.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

func (a *Agent) podDir(uid string) string { return filepath.Join(a.cfg.DataDir, "pods", uid) }
