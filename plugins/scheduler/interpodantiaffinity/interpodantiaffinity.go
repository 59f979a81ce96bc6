// Package interpodantiaffinity is the InterPodAntiAffinity filter: for each
// required anti-affinity term of the pod, a node is out when a pod matching
// the term's selector (in its namespaces) runs in the node's topology
// domain (same value of the term's topology key; kubernetes.io/hostname
// means the node itself).
//
// The scheduler.v1 view of placed pods carries their labels but not their
// own anti-affinity, so the symmetric rule (an existing pod repelling the
// incoming one) is not checked.
package interpodantiaffinity

import (
	"context"

	"github.com/skiff-sh/skiff/core/schedule/view"
	"github.com/skiff-sh/skiff/plugins/scheduler/internal/policyutil"
	"github.com/skiff-sh/skiff/sdk/scheduler"
)

// Reason is the filter's message, as kube-scheduler words it.
const Reason = "node(s) didn't match pod anti-affinity rules"

// InterPodAntiAffinity is the policy.
type InterPodAntiAffinity struct{}

var _ scheduler.FilterPlugin = (*InterPodAntiAffinity)(nil)

// Filter implements scheduler.FilterPlugin.
func (*InterPodAntiAffinity) Filter(_ context.Context, pod *scheduler.Pod, nodes []*scheduler.Node, candidates []int32, reasons []string) error {
	if pod.Affinity == nil {
		return nil
	}
	for _, term := range pod.Affinity.PodAntiAffinity {
		if term.Weight != 0 {
			continue // preferred terms do not filter
		}
		taken := takenDomains(pod, &term, nodes)
		if len(taken) == 0 {
			continue
		}
		for i, slot := range candidates {
			if reasons[i] != "" {
				continue
			}
			if d, ok := policyutil.Domain(nodes[slot], term.TopologyKey); ok && taken[d] {
				reasons[i] = Reason
			}
		}
	}
	return nil
}

// takenDomains are the domains of the term's key holding a matching pod.
func takenDomains(pod *scheduler.Pod, term *scheduler.PodAffinityTerm, nodes []*scheduler.Node) map[string]bool {
	var taken map[string]bool
	for _, n := range nodes {
		if n == nil || len(n.Pods) == 0 {
			continue
		}
		d, ok := policyutil.Domain(n, term.TopologyKey)
		if !ok || taken[d] {
			continue
		}
		for i := range n.Pods {
			ref := &n.Pods[i]
			if view.PodInNamespaces(ref.Namespace, term.Namespaces, pod.Namespace) && view.Matches(term.Selector, ref.Labels) {
				if taken == nil {
					taken = map[string]bool{}
				}
				taken[d] = true
				break
			}
		}
	}
	return taken
}
