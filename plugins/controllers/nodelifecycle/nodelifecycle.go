// Package nodelifecycle is the node lifecycle controller: it watches node
// heartbeats (Leases in skiff-node-lease, renewed by each node agent),
// marks a node whose heartbeats stop Ready=Unknown, keeps the not-ready and
// unreachable taints in step with the Ready condition, and evicts the pods
// of tainted nodes once their tolerations run out, force-deleting them
// when the node cannot confirm, so their controllers replace them.
package nodelifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
)

// LeaseNamespace holds one Lease per node, named like the node.
const LeaseNamespace = "skiff-node-lease"

// Controller reconciles Nodes, keyed by node name.
type Controller struct {
	client *client.Client
	nodes  reconcile.Lister[*api.Node]
	leases reconcile.Lister[*api.Lease]
	pods   reconcile.Lister[*api.Pod]
	// endpoints finds the skiff-dns Endpoints (dns.go).
	endpoints reconcile.Lister[*api.Endpoints]
	recorder  reconcile.Recorder
	clock     reconcile.Clock
	log       *slog.Logger
	cfg       Config

	nsReady atomic.Bool

	mu sync.Mutex
	// probes: when this controller last saw each node's heartbeat change.
	// Its own clock, not the timestamps agents write, decides, so clock
	// skew between machines cannot make a node look dead or alive.
	probes map[string]*probe
	// evicted: when this controller deleted a pod (by UID), to time the
	// force delete after the grace period.
	evicted map[string]time.Time
}

type probe struct {
	renewTime, heartbeat time.Time // the last values seen
	observedAt           time.Time
	// changed is set once a heartbeat changed while we watched: only then
	// may a node we marked Unknown be called ready again.
	changed bool
}

var _ reconcile.Reconciler = (*Controller)(nil)

// Reconcile checks the health of the node named key.
func (c *Controller) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	if err := c.ensureLeaseNamespace(ctx); err != nil {
		return reconcile.Result{}, err
	}
	now := c.clock.Now()
	node, ok := c.nodes.Get("", key)
	if !ok {
		return reconcile.Result{}, c.nodeGone(ctx, key)
	}
	p := c.observe(node, now)
	healthy := now.Sub(p.observedAt) <= c.cfg.GracePeriod
	next := newSoonest()
	if healthy {
		next.at(p.observedAt.Add(c.cfg.GracePeriod + time.Millisecond))
	}
	var err error
	if node, err = c.updateReadiness(ctx, node, p, healthy, now); err != nil {
		return reconcile.Result{}, err
	}
	if node, err = c.updateTaints(ctx, node, now); err != nil {
		return reconcile.Result{}, err
	}
	evictErr := c.evictPods(ctx, node, now, next)
	if at, ok := c.dnsStaleAt(node); ok && c.hasDNSAddress(node.Name) {
		if now.Before(at) {
			next.at(at)
		} else if err := c.removeDNSAddress(ctx, node.Name, "NodeUnreachable"); err != nil {
			evictErr = errors.Join(evictErr, err)
		}
	}
	return reconcile.Result{RequeueAfter: next.after(now)}, evictErr
}

// observe records the node's latest heartbeat values and when they changed.
func (c *Controller) observe(node *api.Node, now time.Time) probe {
	var renew time.Time
	if lease, ok := c.leases.Get(LeaseNamespace, node.Name); ok && lease.Spec.RenewTime != nil {
		renew = *lease.Spec.RenewTime
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.probes[node.Name]
	var heartbeat time.Time
	cond := api.GetNodeCondition(&node.Status, api.NodeReady)
	switch {
	case cond == nil:
	case cond.Reason == ReasonNodeStatusUnknown || cond.Reason == ReasonLeaseRenewed:
		// Our own write, not a heartbeat.
		if ok {
			heartbeat = p.heartbeat
		}
	default:
		heartbeat = cond.LastHeartbeatTime
	}
	switch {
	case !ok:
		// First sight: grant a full grace period from now.
		p = &probe{renewTime: renew, heartbeat: heartbeat, observedAt: now}
		c.probes[node.Name] = p
	case !renew.Equal(p.renewTime) || !heartbeat.Equal(p.heartbeat):
		p.renewTime, p.heartbeat, p.observedAt, p.changed = renew, heartbeat, now, true
	}
	return *p
}

// nodeGone force-deletes the pods bound to a deleted node, nothing will
// ever stop them, and removes its cluster DNS address. The cache may
// merely lag (a pod or address of a node this informer has not seen yet),
// so the API server has the last word.
func (c *Controller) nodeGone(ctx context.Context, name string) error {
	c.mu.Lock()
	delete(c.probes, name)
	c.mu.Unlock()
	pods := c.pods.ByIndex(reconcile.IndexNodeName, name)
	if len(pods) == 0 && !c.hasDNSAddress(name) {
		return nil
	}
	_, err := client.Get[*api.Node](ctx, c.client, "", name)
	switch {
	case err == nil:
		return nil // the node informer will bring it
	case !api.IsNotFound(err):
		return fmt.Errorf("node %q: check before deleting its pods and DNS address: %w", name, err)
	}
	return errors.Join(c.forceDeletePods(ctx, name, pods), c.removeDNSAddress(ctx, name, "NodeDeleted"))
}

// podDeleted forgets an evicted pod once it is gone.
func (c *Controller) podDeleted(obj api.Object) {
	c.mu.Lock()
	delete(c.evicted, obj.GetObjectMeta().UID)
	c.mu.Unlock()
}

// updateReadiness marks a silent node Unknown, and a node we marked Unknown
// ready again once its heartbeats resume.
func (c *Controller) updateReadiness(ctx context.Context, node *api.Node, p probe, healthy bool, now time.Time) (*api.Node, error) {
	ready := api.GetNodeCondition(&node.Status, api.NodeReady)
	updated := api.DeepCopy(node)
	switch {
	case !healthy:
		if !MarkUnknown(&updated.Status, now) {
			return node, nil
		}
		c.recorder.Eventf(node, reconcile.EventNormal, "NodeNotReady", "Node %s status is now: NodeNotReady", node.Name)
	case ready != nil && ready.Status == api.ConditionUnknown && ready.Reason == ReasonNodeStatusUnknown && p.changed:
		cond := api.GetNodeCondition(&updated.Status, api.NodeReady)
		*cond = api.NodeCondition{Type: api.NodeReady, Status: api.ConditionTrue, Reason: ReasonLeaseRenewed,
			Message: "Node heartbeats resumed.", LastHeartbeatTime: now, LastTransitionTime: now}
		c.recorder.Eventf(node, reconcile.EventNormal, "NodeReady", "Node %s status is now: NodeReady", node.Name)
	default:
		return node, nil
	}
	out, err := client.UpdateStatus(ctx, c.client, updated)
	if err != nil {
		return nil, fmt.Errorf("node %q: update Ready condition: %w", node.Name, err)
	}
	return out, nil
}

// updateTaints writes the not-ready/unreachable taints the Ready condition
// calls for.
func (c *Controller) updateTaints(ctx context.Context, node *api.Node, now time.Time) (*api.Node, error) {
	want := DesiredTaints(node, now)
	if slices.EqualFunc(want, node.Spec.Taints, func(a, b api.Taint) bool {
		return a.Key == b.Key && a.Value == b.Value && a.Effect == b.Effect && (a.TimeAdded == nil) == (b.TimeAdded == nil)
	}) {
		return node, nil
	}
	updated := api.DeepCopy(node)
	updated.Spec.Taints = want
	out, err := client.Update(ctx, c.client, updated)
	if err != nil {
		return nil, fmt.Errorf("node %q: update taints: %w", node.Name, err)
	}
	return out, nil
}

// evictPods deletes the pods whose tolerations of node's NoExecute taints
// have run out, and force-deletes terminating pods of a node whose agent is
// gone (Ready Unknown) once their grace period is over. A node reporting
// NotReady still has an agent to finish its deletions.
func (c *Controller) evictPods(ctx context.Context, node *api.Node, now time.Time, next *soonest) error {
	ready := api.GetNodeCondition(&node.Status, api.NodeReady)
	agentGone := ready != nil && ready.Status == api.ConditionUnknown
	var errs []error
	for _, pod := range c.pods.ByIndex(reconcile.IndexNodeName, node.Name) {
		if api.IsPodTerminal(pod) {
			continue
		}
		if pod.DeletionTimestamp != nil {
			if !agentGone {
				continue // the agent finishes it
			}
			if at := c.forceAt(pod); now.Before(at) {
				next.at(at)
			} else if err := c.forceDeletePods(ctx, node.Name, []*api.Pod{pod}); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if agentGone && api.IsPodReady(pod) {
			if err := c.markNotReady(ctx, pod, now); err != nil {
				errs = append(errs, err)
			}
		}
		at, evict := EvictionTime(pod, node.Spec.Taints, c.cfg.PodEvictionTimeout, now)
		if !evict {
			continue
		}
		if now.Before(at) {
			next.at(at)
			continue
		}
		if err := c.evict(ctx, pod, now); err != nil {
			errs = append(errs, err)
			continue
		}
		if agentGone {
			next.at(c.forceAt(pod))
		}
	}
	return errors.Join(errs...)
}

// markNotReady sets the Ready condition of a pod on a node whose agent is
// gone to False, as Kubernetes does, so services stop sending it traffic
// long before it is evicted. The agent, once back, posts the truth.
func (c *Controller) markNotReady(ctx context.Context, pod *api.Pod, now time.Time) error {
	updated := api.DeepCopy(pod)
	api.SetPodCondition(&updated.Status, api.PodCondition{Type: api.PodReady, Status: api.ConditionFalse,
		Reason: "NodeUnreachable", Message: "The node's agent stopped posting status.", LastTransitionTime: now.UTC().Truncate(time.Second)})
	if _, err := client.UpdateStatus(ctx, c.client, updated); err != nil && !api.IsNotFound(err) {
		return fmt.Errorf("node %q: mark pod %q not ready: %w", pod.Spec.NodeName, pod.Key(), err)
	}
	return nil
}

func (c *Controller) evict(ctx context.Context, pod *api.Pod, now time.Time) error {
	uid := pod.UID
	err := client.Delete[*api.Pod](ctx, c.client, pod.Namespace, pod.Name, client.DeleteOptions{Preconditions: &client.Preconditions{UID: &uid}})
	if err != nil && !api.IsNotFound(err) && !api.IsConflict(err) {
		return fmt.Errorf("node %q: evict pod %q: %w", pod.Spec.NodeName, pod.Key(), err)
	}
	c.mu.Lock()
	c.evicted[pod.UID] = now
	c.mu.Unlock()
	c.recorder.Eventf(pod, reconcile.EventNormal, "TaintManagerEviction", "Marking for deletion Pod %s", pod.Key())
	return nil
}

// forceAt is when a terminating pod on a node that cannot confirm is
// removed for good: its grace period after we (or someone) deleted it.
func (c *Controller) forceAt(pod *api.Pod) time.Time {
	grace := 30 * time.Second
	if g := pod.DeletionGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	c.mu.Lock()
	start, ok := c.evicted[pod.UID]
	c.mu.Unlock()
	if !ok {
		start = *pod.DeletionTimestamp
	}
	return start.Add(grace)
}

// forceDeletePods deletes pods with gracePeriodSeconds=0: no agent will
// confirm they stopped.
func (c *Controller) forceDeletePods(ctx context.Context, node string, pods []*api.Pod) error {
	var errs []error
	for _, pod := range pods {
		uid := pod.UID
		err := client.Delete[*api.Pod](ctx, c.client, pod.Namespace, pod.Name, client.DeleteOptions{GracePeriodSeconds: api.Int64Ptr(0), Preconditions: &client.Preconditions{UID: &uid}})
		if err != nil && !api.IsNotFound(err) && !api.IsConflict(err) {
			errs = append(errs, fmt.Errorf("node %q: force delete pod %q: %w", node, pod.Key(), err))
			continue
		}
		c.mu.Lock()
		delete(c.evicted, pod.UID)
		c.mu.Unlock()
		c.log.Info("force-deleted pod of an unreachable node", "node", node, "pod", pod.Key())
	}
	return errors.Join(errs...)
}

func (c *Controller) ensureLeaseNamespace(ctx context.Context) error {
	if c.nsReady.Load() {
		return nil
	}
	ns := &api.Namespace{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: api.ObjectMeta{Name: LeaseNamespace}}
	if _, err := client.Create(ctx, c.client, ns); err != nil && !api.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %q for node leases: %w", LeaseNamespace, err)
	}
	c.nsReady.Store(true)
	return nil
}

// soonest tracks the earliest of several future times.
type soonest struct{ t time.Time }

func newSoonest() *soonest { return &soonest{} }

func (s *soonest) at(t time.Time) {
	if s.t.IsZero() || t.Before(s.t) {
		s.t = t
	}
}

// after is how long from now until the earliest time (0 for none); a time
// already past asks for an immediate look.
func (s *soonest) after(now time.Time) time.Duration {
	if s.t.IsZero() {
		return 0
	}
	return max(s.t.Sub(now), time.Millisecond)
}
