package fabric

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/core/subnet"
	"github.com/skiff-sh/skiff/sdk/network"
)

// NodeInfoOf is a Node as the fabric sees it: its published public IP (else
// its first InternalIP), its leased pod subnet and its VTEP MAC.
func NodeInfoOf(n *api.Node) network.NodeInfo {
	info := network.NodeInfo{
		Name:    n.Name,
		IP:      n.Annotations[network.AnnotationPublicIP],
		PodCIDR: n.Spec.PodCIDR,
		VTEPMAC: n.Annotations[network.AnnotationVTEPMAC],
		Backend: n.Annotations[network.AnnotationBackend],
	}
	if info.PodCIDR == "" && len(n.Spec.PodCIDRs) > 0 {
		info.PodCIDR = n.Spec.PodCIDRs[0]
	}
	for _, a := range n.Status.Addresses {
		if info.IP == "" && a.Type == "InternalIP" {
			info.IP = a.Address
		}
	}
	return info
}

// WatchPeers delivers the peer set of node self (every other Node, sorted by
// name) through the informer factory's Node informer, once synced and again
// whenever a peer joins, changes its address, subnet or VTEP MAC, or
// leaves. Only the latest set is kept for a slow reader. The channel closes
// when ctx ends; the caller starts the factory.
//
// A Node whose pod subnet is leased to another node is left out: a node
// that was down past the lease grace keeps its old spec.podCIDR on its Node
// object while a new node holds the subnet, and routing it to both would
// send the new node's pods to the dead one.
func WatchPeers(ctx context.Context, informers *reconcile.SharedInformerFactory, self string) <-chan []network.NodeInfo {
	inf := reconcile.InformerFor[*api.Node](informers)
	lister := reconcile.NewLister[*api.Node](inf)
	leases := reconcile.NewFilteredInformer(informers.Client(), client.ResourceOf[*api.ConfigMap](), subnet.Namespace,
		client.ListWatchOptions{LabelSelector: subnet.LabelLease}, nil)
	leaseLister := reconcile.NewLister[*api.ConfigMap](leases)
	kick := make(chan struct{}, 1)
	poke := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	handler := reconcile.HandlerFuncs{
		AddFunc:    func(api.Object) { poke() },
		UpdateFunc: func(api.Object, api.Object) { poke() },
		DeleteFunc: func(api.Object) { poke() },
	}
	inf.AddHandler(handler)
	leases.AddHandler(handler)
	go leases.Run(ctx)
	out := make(chan []network.NodeInfo, 1)
	go func() {
		defer close(out)
		if !inf.WaitForSync(ctx) || !leases.WaitForSync(ctx) {
			return
		}
		var last []network.NodeInfo
		sent := false
		for {
			holders := map[string]string{} // subnet -> node
			for _, cm := range leaseLister.List(subnet.Namespace, nil) {
				if node, sub, ok := subnet.Holder(cm); ok {
					holders[sub] = node
				}
			}
			var peers []network.NodeInfo
			for _, n := range lister.List("", nil) {
				if n.Name == self {
					continue
				}
				info := NodeInfoOf(n)
				if holder, leased := holders[info.PodCIDR]; leased && holder != n.Name {
					continue
				}
				peers = append(peers, info)
			}
			slices.SortFunc(peers, func(a, b network.NodeInfo) int { return strings.Compare(a.Name, b.Name) })
			if !sent || !slices.Equal(peers, last) {
				select { // replace an unread set with the newer one
				case <-out:
				default:
				}
				out <- peers
				last, sent = peers, true
			}
			select {
			case <-ctx.Done():
				return
			case <-kick:
			}
		}
	}()
	return out
}

// PublishAnnotations sets the plan's annotations on the Node (a merge
// patch, so it races with nobody else's fields).
func PublishAnnotations(ctx context.Context, c *client.Client, node string, annotations map[string]string) error {
	if len(annotations) == 0 {
		return nil
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
	if _, err := client.Patch[*api.Node](ctx, c, "", node, patch); err != nil {
		return fmt.Errorf("publish network annotations on node %q: %w", node, err)
	}
	return nil
}
