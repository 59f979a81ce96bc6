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
func WatchPeers(ctx context.Context, informers *reconcile.SharedInformerFactory, self string) <-chan []network.NodeInfo {
	inf := reconcile.InformerFor[*api.Node](informers)
	lister := reconcile.NewLister[*api.Node](inf)
	kick := make(chan struct{}, 1)
	poke := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	inf.AddHandler(reconcile.HandlerFuncs{
		AddFunc:    func(api.Object) { poke() },
		UpdateFunc: func(api.Object, api.Object) { poke() },
		DeleteFunc: func(api.Object) { poke() },
	})
	out := make(chan []network.NodeInfo, 1)
	go func() {
		defer close(out)
		if !inf.WaitForSync(ctx) {
			return
		}
		var last []network.NodeInfo
		sent := false
		for {
			var peers []network.NodeInfo
			for _, n := range lister.List("", nil) {
				if n.Name != self {
					peers = append(peers, NodeInfoOf(n))
				}
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
