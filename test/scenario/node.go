package scenario

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
)

// TestNodes play the node agent for a set of Node objects: they bind
// unscheduled pods round-robin (there is no scheduler in these tests),
// make bound pods Running and Ready with a pod IP, and finish graceful
// deletions at once. They run on their own informer, as a separate agent
// process would.
type TestNodes struct {
	Names  []string
	client *client.Client
	pods   reconcile.Lister[*api.Pod]
	next   atomic.Uint64
	ips    atomic.Uint32
	// Hold, while set, keeps new pods Pending (not ready), e.g. to stall a
	// rollout.
	Hold atomic.Bool
	// running counts active, ready pods, kept by an informer handler so
	// reading it costs nothing at 10,000 pods.
	running atomic.Int64

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// StartTestNodes registers n Ready nodes (node-0, node-1, ...) and starts
// their agent; t.Cleanup stops it.
func StartTestNodes(t testing.TB, c *client.Client, n int, log *slog.Logger) *TestNodes {
	t.Helper()
	tn := &TestNodes{client: c}
	ctx := context.Background()
	for i := range n {
		name := fmt.Sprintf("node-%d", i)
		tn.Names = append(tn.Names, name)
		if err := registerNode(ctx, c, name, i); err != nil {
			t.Fatal(err)
		}
	}
	factory := reconcile.NewSharedInformerFactory(c, log)
	podInf := reconcile.InformerFor[*api.Pod](factory)
	tn.pods = reconcile.NewLister[*api.Pod](podInf)
	ctrl := reconcile.NewController("test-node", tn, nil, log)
	ctrl.Watch(podInf, reconcile.KeyOfObject)
	podInf.AddHandler(reconcile.HandlerFuncs{
		AddFunc:    func(obj api.Object) { tn.running.Add(isRunning(obj)) },
		UpdateFunc: func(oldObj, newObj api.Object) { tn.running.Add(isRunning(newObj) - isRunning(oldObj)) },
		DeleteFunc: func(obj api.Object) { tn.running.Add(-isRunning(obj)) },
	})
	runCtx, cancel := context.WithCancel(ctx)
	tn.cancel = cancel
	factory.Start(runCtx)
	tn.wg.Add(1)
	go func() {
		defer tn.wg.Done()
		_ = ctrl.Run(runCtx, 16)
	}()
	t.Cleanup(tn.Stop)
	return tn
}

// Stop stops the agent (idempotent).
func (tn *TestNodes) Stop() {
	tn.cancel()
	tn.wg.Wait()
}

// Release lets held pods become ready.
func (tn *TestNodes) Release() {
	tn.Hold.Store(false)
	for _, p := range tn.pods.List("", nil) {
		if p.Spec.NodeName != "" && !api.IsPodReady(p) {
			// Touch them through the queue by a no-op status refresh.
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
	created.Status = api.NodeStatus{
		Conditions: []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue, Reason: "TestNodeReady", LastHeartbeatTime: time.Now().UTC().Truncate(time.Second)}},
		Addresses:  []api.NodeAddress{{Type: "InternalIP", Address: fmt.Sprintf("192.168.100.%d", i+1)}},
	}
	if _, err := client.UpdateStatus(ctx, c, created); err != nil {
		return fmt.Errorf("set test node %s ready: %w", name, err)
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
	case pod.DeletionTimestamp != nil:
		if pod.Spec.NodeName == "" || len(pod.Finalizers) == 0 {
			return reconcile.Result{}, nil
		}
		// The containers are "stopped": finish the graceful delete.
		uid := pod.UID
		err := client.Delete[*api.Pod](ctx, tn.client, pod.Namespace, pod.Name, client.DeleteOptions{GracePeriodSeconds: api.Int64Ptr(0), Preconditions: &client.Preconditions{UID: &uid}})
		if err != nil && !api.IsNotFound(err) {
			return reconcile.Result{}, err
		}
	case pod.Spec.NodeName == "":
		node := tn.Names[tn.next.Add(1)%uint64(len(tn.Names))]
		if err := tn.client.Bind(ctx, pod.Namespace, pod.Name, node); err != nil && !api.IsConflict(err) && !api.IsNotFound(err) {
			return reconcile.Result{}, err
		}
	case !api.IsPodReady(pod) && !tn.Hold.Load():
		return reconcile.Result{}, tn.makeRunning(ctx, pod)
	}
	return reconcile.Result{}, nil
}

func (tn *TestNodes) makeRunning(ctx context.Context, pod *api.Pod) error {
	now := time.Now().UTC().Truncate(time.Second)
	cp := *pod
	st := api.PodStatus{
		Phase:     api.PodRunning,
		HostIP:    "192.168.100.1",
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

// RunningPods counts the pods the test nodes have made Running and Ready.
func (tn *TestNodes) RunningPods() int { return int(tn.running.Load()) }

func isRunning(obj api.Object) int64 {
	if p := obj.(*api.Pod); api.IsPodActive(p) && api.IsPodReady(p) {
		return 1
	}
	return 0
}
