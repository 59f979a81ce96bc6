package schedule

import (
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/schedule/view"
	"github.com/skiff-sh/skiff/sdk/scheduler"
)

// Cache is the scheduler's picture of the cluster: every node with the
// requests and references of the pods on it, published into a
// scheduler.NodeTable so that plugins (and their out-of-process mirrors)
// see one consistent generation. Pods come from the informer (bound) or
// from the scheduler itself (assumed: placed but not yet seen bound), so the
// next pod sees an allocation before the watch catches up.
type Cache struct {
	mu    sync.Mutex
	table *scheduler.NodeTable
	nodes map[string]*nodeState // by node name, including nodes only pods name so far
	pods  map[string]*podState  // by namespace/name
}

type nodeState struct {
	base      *scheduler.Node // from the Node object; nil until it is seen
	allocated scheduler.Resources
	refs      []scheduler.PodRef
	index     map[string]int // pod key -> position in refs
}

type podState struct {
	uid      string
	node     string
	requests scheduler.Resources
	ref      scheduler.PodRef
	assumed  bool
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{table: scheduler.NewNodeTable(), nodes: map[string]*nodeState{}, pods: map[string]*podState{}}
}

// Table is the node table the cache publishes into.
func (c *Cache) Table() *scheduler.NodeTable { return c.table }

func (c *Cache) node(name string) *nodeState {
	ns := c.nodes[name]
	if ns == nil {
		ns = &nodeState{index: map[string]int{}}
		c.nodes[name] = ns
	}
	return ns
}

// SetNode adds or replaces a node.
func (c *Cache) SetNode(n *api.Node) {
	c.SetNodeView(view.Node(n))
}

// SetNodeView adds or replaces a node from its view (without pods), for
// callers that build views themselves, such as simulations.
func (c *Cache) SetNodeView(v *scheduler.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ns := c.node(v.Name)
	ns.base = v
	c.publish(v.Name, ns)
}

// RemoveNode forgets a node; its pods stay known, to be counted again if
// it comes back.
func (c *Cache) RemoveNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ns := c.nodes[name]
	if ns == nil {
		return
	}
	ns.base = nil
	if len(ns.refs) == 0 {
		delete(c.nodes, name)
	}
	c.table.Remove(name)
}

// AddPod records a pod the informer shows bound to a node. A pod the
// scheduler assumed is confirmed (on the node it was bound to, which may
// differ if someone else bound it first).
func (c *Cache) AddPod(p *api.Pod) error {
	if p.Spec.NodeName == "" {
		return fmt.Errorf("pod %s/%s: spec.nodeName: is empty, only bound pods are cached", p.Namespace, p.Name)
	}
	ps := &podState{uid: p.UID, node: p.Spec.NodeName, requests: view.Resources(api.PodRequests(p)), ref: view.PodRef(p)}
	ps.requests.Pods = 1
	c.mu.Lock()
	defer c.mu.Unlock()
	c.put(p.Namespace+"/"+p.Name, ps)
	return nil
}

// Assume places a pod on a node before the binding is confirmed.
func (c *Cache) Assume(key, uid, node string, pod *scheduler.Pod) {
	ref := scheduler.PodRef{Namespace: pod.Namespace, Name: pod.Name, Labels: pod.Labels, HostPorts: pod.HostPorts}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.put(key, &podState{uid: uid, node: node, requests: pod.Requests, ref: ref, assumed: true})
}

// Forget drops an assumed pod (its binding failed). A pod the informer has
// confirmed meanwhile stays.
func (c *Cache) Forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps := c.pods[key]; ps != nil && ps.assumed {
		c.remove(key, ps)
	}
}

// RemovePod drops a pod that was deleted or finished. It reports whether
// the pod was known.
func (c *Cache) RemovePod(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps := c.pods[key]
	if ps != nil {
		c.remove(key, ps)
	}
	return ps != nil
}

// IsAssumed reports whether the pod is assumed and not yet confirmed.
func (c *Cache) IsAssumed(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps := c.pods[key]
	return ps != nil && ps.assumed
}

// NodeOf returns the node a pod is bound to or assumed on.
func (c *Cache) NodeOf(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps := c.pods[key]
	if ps == nil {
		return "", false
	}
	return ps.node, true
}

func (c *Cache) put(key string, ps *podState) {
	if old := c.pods[key]; old != nil {
		if !old.assumed && ps.assumed {
			return // the informer already saw it bound: that wins
		}
		if old.node == ps.node && old.uid == ps.uid && old.requests.MilliCPU == ps.requests.MilliCPU &&
			old.requests.Memory == ps.requests.Memory && !old.assumed && slices.Equal(old.ref.Labels, ps.ref.Labels) {
			return // a status-only update: nothing the scheduler sees changed
		}
		c.remove(key, old)
	}
	c.pods[key] = ps
	ns := c.node(ps.node)
	ns.index[key] = len(ns.refs)
	ns.refs = append(ns.refs, ps.ref)
	ns.allocated = addResources(ns.allocated, ps.requests, 1)
	c.publish(ps.node, ns)
}

func (c *Cache) remove(key string, ps *podState) {
	delete(c.pods, key)
	ns := c.nodes[ps.node]
	if ns == nil {
		return
	}
	i, ok := ns.index[key]
	if !ok {
		return
	}
	last := len(ns.refs) - 1
	if i != last {
		ns.refs[i] = ns.refs[last]
		ns.index[refKey(&ns.refs[i])] = i
	}
	ns.refs = ns.refs[:last]
	delete(ns.index, key)
	ns.allocated = addResources(ns.allocated, ps.requests, -1)
	if ns.base == nil && len(ns.refs) == 0 {
		delete(c.nodes, ps.node)
		return
	}
	c.publish(ps.node, ns)
}

func refKey(r *scheduler.PodRef) string { return r.Namespace + "/" + r.Name }

// publish sets a fresh immutable record of the node in the table.
func (c *Cache) publish(name string, ns *nodeState) {
	if ns.base == nil {
		return // pods of a node not seen yet wait for it
	}
	n := *ns.base
	n.Allocated = ns.allocated
	n.Allocated.Extended = maps.Clone(ns.allocated.Extended)
	n.Pods = append([]scheduler.PodRef(nil), ns.refs...)
	c.table.Set(&n)
}

// addResources returns a + sign*b; the Extended map is copied, never
// shared with a published record.
func addResources(a, b scheduler.Resources, sign int64) scheduler.Resources {
	a.MilliCPU += sign * b.MilliCPU
	a.Memory += sign * b.Memory
	a.EphemeralStorage += sign * b.EphemeralStorage
	a.Pods += sign * b.Pods
	if len(b.Extended) > 0 {
		ext := maps.Clone(a.Extended)
		if ext == nil {
			ext = map[string]int64{}
		}
		for k, v := range b.Extended {
			ext[k] += sign * v
			if ext[k] == 0 {
				delete(ext, k)
			}
		}
		a.Extended = ext
	}
	return a
}
