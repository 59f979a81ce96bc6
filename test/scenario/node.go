package scenario

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
)

// leaseNamespace holds the node Leases (core/node.LeaseNamespace; not
// imported, so that the controllers' tests may import this package).
const leaseNamespace = "skiff-node-lease"

// DefaultLeaseInterval is how often test nodes renew their Leases, as
// skiffd's agent does.
const DefaultLeaseInterval = 10 * time.Second

// NodeOptions configure TestNodes.
type NodeOptions struct {
	// Count is the number of nodes, named node-0, node-1, ...
	Count int
	// LeaseInterval is how often each node renews its Lease (default
	// DefaultLeaseInterval).
	LeaseInterval time.Duration
	// NoBinding leaves binding to a scheduler; otherwise the nodes bind
	// unscheduled pods themselves (see TestNodes).
	NoBinding bool
	// StartupDelay is how long a pod takes, from when its node's agent
	// first sees it bound, to become Running and Ready (default at once),
	// so a rollout moves at the pace of real containers.
	StartupDelay time.Duration
	Logger       *slog.Logger
}

// TestNodes play the node agents of a set of Nodes: they renew each node's
// Lease (skiff-node-lease/<node>), make bound pods Running and Ready with a
// pod IP, and finish graceful deletions at once. Unless told to leave it
// to a scheduler, they also bind unscheduled pods round-robin to the Ready
// nodes that would take them: schedulable, taints tolerated, nodeSelector
// matched (no resources, affinity or spread: that is the scheduler's job).
// They run on their own informers, as separate agent processes would.
type TestNodes struct {
	Names  []string
	client *client.Client
	log    *slog.Logger
	pods   reconcile.Lister[*api.Pod]
	nodes  reconcile.Lister[*api.Node]
	bind   bool
	delay  time.Duration
	// boundAt: when a pod (by UID) was first seen bound, for StartupDelay.
	boundAt sync.Map
	next    atomic.Uint64
	ips     atomic.Uint32
	// Hold, while set, keeps new pods Pending (not ready), e.g. to stall a
	// rollout.
	Hold atomic.Bool
	// running counts active, ready pods, kept by an informer handler so
	// reading it costs nothing at 10,000 pods.
	running atomic.Int64

	mu     sync.Mutex
	killed map[string]bool

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// StartTestNodes registers opts.Count Ready nodes and starts their agents;
// t.Cleanup stops them.
func StartTestNodes(t testing.TB, c *client.Client, opts NodeOptions) *TestNodes {
	t.Helper()
	if opts.LeaseInterval <= 0 {
		opts.LeaseInterval = DefaultLeaseInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	tn := &TestNodes{client: c, log: opts.Logger, bind: !opts.NoBinding, delay: opts.StartupDelay, killed: map[string]bool{}}
	ctx := context.Background()
	for i := range opts.Count {
		name := fmt.Sprintf("node-%d", i)
		tn.Names = append(tn.Names, name)
		if err := registerNode(ctx, c, name, i); err != nil {
			t.Fatal(err)
		}
	}
	factory := reconcile.NewSharedInformerFactory(c, opts.Logger)
	podInf := reconcile.InformerFor[*api.Pod](factory)
	nodeInf := reconcile.InformerFor[*api.Node](factory)
	tn.pods = reconcile.NewLister[*api.Pod](podInf)
	tn.nodes = reconcile.NewLister[*api.Node](nodeInf)
	ctrl := reconcile.NewController("test-node", tn, nil, opts.Logger)
	ctrl.Watch(podInf, reconcile.KeyOfObject)
	podInf.AddHandler(reconcile.HandlerFuncs{
		AddFunc:    func(obj api.Object) { tn.running.Add(isRunning(obj)) },
		UpdateFunc: func(oldObj, newObj api.Object) { tn.running.Add(isRunning(newObj) - isRunning(oldObj)) },
		DeleteFunc: func(obj api.Object) {
			tn.running.Add(-isRunning(obj))
			tn.boundAt.Delete(obj.GetObjectMeta().UID)
		},
	})
	runCtx, cancel := context.WithCancel(ctx)
	tn.cancel = cancel
	t.Cleanup(tn.Stop)
	tn.renewLeases(runCtx)
	factory.Start(runCtx)
	if !factory.WaitForCacheSync(runCtx) {
		t.Fatal("test nodes: informers did not sync")
	}
	tn.wg.Add(2)
	go func() {
		defer tn.wg.Done()
		_ = ctrl.Run(runCtx, 16)
	}()
	go func() {
		defer tn.wg.Done()
		tn.heartbeat(runCtx, opts.LeaseInterval)
	}()
	return tn
}

// Stop stops the agents (idempotent).
func (tn *TestNodes) Stop() {
	tn.cancel()
	tn.wg.Wait()
}

// Kill stops node's agent as if its machine died: its Lease is no longer
// renewed, its pods are neither started nor stopped.
func (tn *TestNodes) Kill(node string) {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	tn.killed[node] = true
}

func (tn *TestNodes) alive(node string) bool {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	return !tn.killed[node]
}

// Release lets held pods become ready.
func (tn *TestNodes) Release() {
	tn.Hold.Store(false)
	for _, p := range tn.pods.List("", nil) {
		if p.Spec.NodeName != "" && !api.IsPodReady(p) && !api.IsPodTerminal(p) && tn.alive(p.Spec.NodeName) {
			_ = tn.makeRunning(context.Background(), p)
		}
	}
}

func registerNode(ctx context.Context, c *client.Client, name string, i int) error {
	node := &api.Node{
		TypeMeta:   api.TypeMeta{APIVersion: "v1", Kind: "Node"},
		ObjectMeta: api.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
	}
	created, err := client.Create(ctx, c, node)
	if err != nil {
		return fmt.Errorf("register test node %s: %w", name, err)
	}
	// Room for any test's pods, so that a real scheduler places them.
	capacity := api.ResourceList{"cpu": resource.MustParse("32"), "memory": resource.MustParse("128Gi"), "pods": resource.MustParse("1000")}
	created.Status = api.NodeStatus{
		Conditions:  []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue, Reason: "TestNodeReady", LastHeartbeatTime: time.Now().UTC().Truncate(time.Second)}},
		Addresses:   []api.NodeAddress{{Type: "InternalIP", Address: fmt.Sprintf("192.168.100.%d", i+1)}},
		Capacity:    capacity,
		Allocatable: capacity,
	}
	if _, err := client.UpdateStatus(ctx, c, created); err != nil {
		return fmt.Errorf("set test node %s ready: %w", name, err)
	}
	return nil
}

// heartbeat renews the live nodes' Leases every interval until ctx ends.
func (tn *TestNodes) heartbeat(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			tn.renewLeases(ctx)
		}
	}
}

func (tn *TestNodes) renewLeases(ctx context.Context) {
	for _, name := range tn.Names {
		if !tn.alive(name) {
			continue
		}
		if err := renewLease(ctx, tn.client, name); err != nil && ctx.Err() == nil {
			tn.log.Warn("test node: renew lease", "node", name, "err", err)
		}
	}
}

// renewLease creates or renews skiff-node-lease/<node>, as the agent does.
func renewLease(ctx context.Context, c *client.Client, node string) error {
	now := time.Now().UTC()
	lease, err := client.Get[*api.Lease](ctx, c, leaseNamespace, node)
	if api.IsNotFound(err) {
		lease = &api.Lease{
			TypeMeta:   api.TypeMeta{APIVersion: "coordination.k8s.io/v1", Kind: "Lease"},
			ObjectMeta: api.ObjectMeta{Namespace: leaseNamespace, Name: node},
			Spec:       api.LeaseSpec{HolderIdentity: api.Ptr(node), LeaseDurationSeconds: api.Int32Ptr(40), AcquireTime: &now, RenewTime: &now},
		}
		_, err = client.Create(ctx, c, lease)
	} else if err == nil {
		lease.Spec.RenewTime = &now
		_, err = client.Update(ctx, c, lease)
	}
	if err != nil && !api.IsConflict(err) && !api.IsAlreadyExists(err) {
		return fmt.Errorf("lease %s/%s: %w", leaseNamespace, node, err)
	}
	return nil
}

// Reconcile plays the node agent for one pod.
func (tn *TestNodes) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	pod, ok := tn.pods.GetByKey(key)
	if !ok {
		return reconcile.Result{}, nil
	}
	switch {
	case pod.Spec.NodeName == "":
		if !tn.bind || pod.DeletionTimestamp != nil {
			return reconcile.Result{}, nil
		}
		return tn.bindPod(ctx, pod)
	case !tn.alive(pod.Spec.NodeName):
		// A dead agent does nothing.
	case pod.DeletionTimestamp != nil:
		if len(pod.Finalizers) == 0 {
			return reconcile.Result{}, nil
		}
		// The containers are "stopped": finish the graceful delete.
		uid := pod.UID
		err := client.Delete[*api.Pod](ctx, tn.client, pod.Namespace, pod.Name, client.DeleteOptions{GracePeriodSeconds: api.Int64Ptr(0), Preconditions: &client.Preconditions{UID: &uid}})
		if err != nil && !api.IsNotFound(err) {
			return reconcile.Result{}, err
		}
	case !api.IsPodReady(pod) && !api.IsPodTerminal(pod) && !tn.Hold.Load():
		if wait := tn.startupLeft(pod); wait > 0 {
			return reconcile.Result{RequeueAfter: wait}, nil
		}
		return reconcile.Result{}, tn.makeRunning(ctx, pod)
	}
	return reconcile.Result{}, nil
}

// startupLeft is how much of StartupDelay pod still has to wait.
func (tn *TestNodes) startupLeft(pod *api.Pod) time.Duration {
	if tn.delay <= 0 {
		return 0
	}
	at, _ := tn.boundAt.LoadOrStore(pod.UID, time.Now())
	return tn.delay - time.Since(at.(time.Time))
}

// bindPod binds pod to the next node that would take it; with none, it
// looks again shortly (node changes do not wake pods).
func (tn *TestNodes) bindPod(ctx context.Context, pod *api.Pod) (reconcile.Result, error) {
	var fits []string
	for _, node := range tn.nodes.List("", nil) {
		if nodeTakes(node, pod) {
			fits = append(fits, node.Name)
		}
	}
	if len(fits) == 0 {
		return reconcile.Result{RequeueAfter: 200 * time.Millisecond}, nil
	}
	node := fits[tn.next.Add(1)%uint64(len(fits))]
	if err := tn.client.Bind(ctx, pod.Namespace, pod.Name, node); err != nil && !api.IsConflict(err) && !api.IsNotFound(err) {
		return reconcile.Result{}, err
	}
	return reconcile.Result{}, nil
}

// nodeTakes reports whether node is Ready, schedulable, has no NoSchedule
// or NoExecute taint pod does not tolerate, and matches its nodeSelector.
func nodeTakes(node *api.Node, pod *api.Pod) bool {
	if !api.IsNodeReady(node) || node.Spec.Unschedulable || !api.SelectorFromSet(pod.Spec.NodeSelector).Matches(node.Labels) {
		return false
	}
	for i := range node.Spec.Taints {
		taint := &node.Spec.Taints[i]
		if taint.Effect != "PreferNoSchedule" && !api.TolerationsTolerateTaint(pod.Spec.Tolerations, taint) {
			return false
		}
	}
	return true
}

func (tn *TestNodes) makeRunning(ctx context.Context, pod *api.Pod) error {
	now := time.Now().UTC().Truncate(time.Second)
	cp := *pod
	st := api.PodStatus{
		Phase:     api.PodRunning,
		HostIP:    tn.hostIP(pod.Spec.NodeName),
		StartTime: &now,
		QOSClass:  api.PodQOSClass(pod),
	}
	n := tn.ips.Add(1)
	st.PodIP = fmt.Sprintf("10.%d.%d.%d", 100+n>>16&0xff, n>>8&0xff, n&0xff)
	st.PodIPs = []api.PodIP{{IP: st.PodIP}}
	for _, typ := range []string{api.PodScheduled, api.PodInitialized, api.ContainersReady, api.PodReady} {
		api.SetPodCondition(&st, api.PodCondition{Type: typ, Status: api.ConditionTrue, LastTransitionTime: now})
	}
	for _, c := range pod.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, api.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: true, Started: api.BoolPtr(true),
			State: api.ContainerState{Running: &api.ContainerStateRunning{StartedAt: now}},
		})
	}
	cp.Status = st
	if _, err := client.UpdateStatus(ctx, tn.client, &cp); err != nil && !api.IsNotFound(err) && !api.IsConflict(err) {
		return fmt.Errorf("test node: set pod %s running: %w", pod.Key(), err)
	}
	return nil
}

// hostIP is the node's InternalIP, as its agent reports it.
func (tn *TestNodes) hostIP(name string) string {
	if node, ok := tn.nodes.Get("", name); ok {
		for _, a := range node.Status.Addresses {
			if a.Type == "InternalIP" {
				return a.Address
			}
		}
	}
	return ""
}

// RunningPods counts the pods the test nodes have made Running and Ready.
func (tn *TestNodes) RunningPods() int { return int(tn.running.Load()) }

func isRunning(obj api.Object) int64 {
	if p := obj.(*api.Pod); api.IsPodActive(p) && api.IsPodReady(p) {
		return 1
	}
	return 0
}
