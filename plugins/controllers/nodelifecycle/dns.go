package nodelifecycle

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/node"
)

// The cluster DNS Service's Endpoints hold one subset per node's DNS
// server, each written by that node's agent (core/node), which re-adds its
// own whenever it is missing. An agent that is gone for good cannot remove
// its own: this controller removes the addresses of nodes that no longer
// exist, and of nodes unreachable for longer than the pod eviction timeout,
// so DNS clients stop being sent to a server that will not answer.

// dnsKeys maps the skiff-dns Endpoints to the nodes named in it that may
// need their address removed: absent from the cache, or not ready. Every
// list (start, re-list after a broken watch) and change passes here, so a
// Node delete this controller missed is still repaired.
func (c *Controller) dnsKeys(obj api.Object) []string {
	if meta := obj.GetObjectMeta(); meta.Namespace != node.SystemNamespace || meta.Name != node.DNSServiceName {
		return nil
	}
	var keys []string
	for _, name := range dnsNodeNames(obj.(*api.Endpoints)) {
		if n, ok := c.nodes.Get("", name); !ok || !api.IsNodeReady(n) {
			keys = append(keys, name)
		}
	}
	return keys
}

// dnsNodeNames lists the nodes the skiff-dns addresses belong to.
func dnsNodeNames(ep *api.Endpoints) []string {
	var names []string
	for _, s := range ep.Subsets {
		for _, a := range slices.Concat(s.Addresses, s.NotReadyAddresses) {
			if a.NodeName != nil && !slices.Contains(names, *a.NodeName) {
				names = append(names, *a.NodeName)
			}
		}
	}
	return names
}

// hasDNSAddress reports whether the cached skiff-dns Endpoints name nodeName.
func (c *Controller) hasDNSAddress(nodeName string) bool {
	ep, ok := c.endpoints.Get(node.SystemNamespace, node.DNSServiceName)
	return ok && slices.Contains(dnsNodeNames(ep), nodeName)
}

// dnsStaleAt is when an unreachable node's DNS address goes: its agent has
// been silent since the unreachable NoExecute taint was added, and after
// the pod eviction timeout its pods go too. ok is false for a node whose
// agent answers (a NotReady node's agent keeps its own address current).
func (c *Controller) dnsStaleAt(n *api.Node) (at time.Time, ok bool) {
	for _, t := range n.Spec.Taints {
		if t.Key == TaintUnreachable && t.Effect == "NoExecute" && t.TimeAdded != nil {
			return t.TimeAdded.Add(c.cfg.PodEvictionTimeout), true
		}
	}
	return time.Time{}, false
}

// removeDNSAddress drops nodeName's addresses (and subsets left empty) from
// the skiff-dns Endpoints, re-reading and retrying when an agent's write
// races it. The cache spares a write when there is nothing to drop.
func (c *Controller) removeDNSAddress(ctx context.Context, nodeName, why string) error {
	if !c.hasDNSAddress(nodeName) {
		return nil
	}
	for attempt := 0; ; attempt++ {
		ep, err := client.Get[*api.Endpoints](ctx, c.client, node.SystemNamespace, node.DNSServiceName)
		if api.IsNotFound(err) {
			return nil
		}
		if err == nil {
			subsets, changed := withoutNode(ep.Subsets, nodeName)
			if !changed {
				return nil
			}
			ep.Subsets = subsets
			if _, err = client.Update(ctx, c.client, ep); err == nil {
				c.log.Info("removed a node's cluster DNS address", "node", nodeName, "reason", why)
				return nil
			}
		}
		if !api.IsConflict(err) || attempt >= 10 {
			return fmt.Errorf("node %q: remove its address from Endpoints %s/%s: %w", nodeName, node.SystemNamespace, node.DNSServiceName, err)
		}
	}
}

// withoutNode is subsets without the addresses of nodeName; a subset left
// with no address goes. It reports whether anything was dropped.
func withoutNode(subsets []api.EndpointSubset, nodeName string) ([]api.EndpointSubset, bool) {
	of := func(a api.EndpointAddress) bool { return a.NodeName != nil && *a.NodeName == nodeName }
	var out []api.EndpointSubset
	changed := false
	for _, s := range subsets {
		if !slices.ContainsFunc(s.Addresses, of) && !slices.ContainsFunc(s.NotReadyAddresses, of) {
			out = append(out, s)
			continue
		}
		changed = true
		s.Addresses = slices.DeleteFunc(slices.Clone(s.Addresses), of)
		s.NotReadyAddresses = slices.DeleteFunc(slices.Clone(s.NotReadyAddresses), of)
		if len(s.Addresses)+len(s.NotReadyAddresses) > 0 {
			out = append(out, s)
		}
	}
	return out, changed
}
