package scenario

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/plugins/controllers/nodelifecycle"
	"github.com/skiff-sh/skiff/test/scenario/scheduling"
)

// TestNodeLossReplacesPods: a node whose heartbeat stops has its pods
// replaced on the other nodes, through the whole control plane: the
// scheduler places the Deployment's pods, the node lifecycle controller
// marks the silent node unreachable and evicts its pods, the ReplicaSet
// replaces them and the scheduler keeps the new ones off the lost node.
func TestNodeLossReplacesPods(t *testing.T) {
	c := Start(t, etcd, Options{Nodes: 3, NoManager: true, Scheduler: scheduling.Run, LeaseInterval: 200 * time.Millisecond})
	lifecycle, err := nodelifecycle.Factory([]byte(`{"gracePeriod":"1500ms","podEvictionTimeout":"500ms"}`))
	if err != nil {
		t.Fatal(err)
	}
	c.RunControllers(t, nil, append(WorkloadControllers(), Controller{nodelifecycle.Name, lifecycle})...)

	ctx := context.Background()
	// Spreading over all three nodes needs all three registered and Ready
	// before the first pod is scheduled.
	Eventually(t, converge, func() error {
		nodes, err := client.List[*api.Node](ctx, c.Client, "", client.ListOptions{})
		if err != nil {
			return err
		}
		ready := 0
		for _, n := range nodes.Items {
			if api.IsNodeReady(n) && !n.Spec.Unschedulable {
				ready++
			}
		}
		if ready != 3 {
			return fmt.Errorf("%d of 3 nodes Ready", ready)
		}
		return nil
	})
	d := NewDeployment("default", "web", "nginx:1", 6)
	// The lost node's agent never confirms a stop: the pods are force-deleted
	// once their grace period has passed.
	d.Spec.Template.Spec.TerminationGracePeriodSeconds = api.Int64Ptr(1)
	// Requests LeastAllocated can tell apart on 32-CPU nodes: without any,
	// it scores by a 100m default, lost in rounding after the first pod, and
	// later pods land at random.
	d.Spec.Template.Spec.Containers[0].Resources.Requests = api.ResourceList{"cpu": resource.MustParse("2")}
	if _, err := client.Create(ctx, c.Client, d); err != nil {
		t.Fatal(err)
	}
	c.WaitDeploymentComplete(t, "default", "web", converge)
	before, err := c.ActivePods("default", "app=web")
	if err != nil {
		t.Fatal(err)
	}
	byNode := map[string][]string{}
	for _, p := range before {
		byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], p.Name)
	}
	if len(byNode) != 3 {
		t.Fatalf("the scheduler put the 6 pods on %d nodes (%v), want all 3: LeastAllocated spreads them", len(byNode), byNode)
	}
	lost := before[0].Spec.NodeName
	lostPods := byNode[lost]

	c.Nodes.Kill(lost)
	Eventually(t, converge, func() error {
		node, err := client.Get[*api.Node](ctx, c.Client, "", lost)
		if err != nil {
			return err
		}
		if cond := api.GetNodeCondition(&node.Status, api.NodeReady); cond == nil || cond.Status != api.ConditionUnknown {
			return fmt.Errorf("node %s Ready condition %+v, want Unknown", lost, cond)
		}
		if !slices.ContainsFunc(node.Spec.Taints, func(t api.Taint) bool { return t.Key == nodelifecycle.TaintUnreachable && t.Effect == "NoExecute" }) {
			return fmt.Errorf("node %s taints %v, want %s:NoExecute", lost, node.Spec.Taints, nodelifecycle.TaintUnreachable)
		}
		return nil
	})
	d = c.WaitDeploymentComplete(t, "default", "web", converge)
	Eventually(t, converge, func() error {
		list, err := client.List[*api.Pod](ctx, c.Client, "default", client.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return err
		}
		for _, p := range list.Items {
			if slices.Contains(lostPods, p.Name) {
				return fmt.Errorf("pod %s of the lost node still exists (deleting since %v)", p.Name, p.DeletionTimestamp)
			}
			if p.Spec.NodeName == lost {
				return fmt.Errorf("pod %s was placed on the lost node %s", p.Name, lost)
			}
		}
		if len(list.Items) != 6 {
			return fmt.Errorf("%d pods, want 6", len(list.Items))
		}
		return nil
	})
	if d.Status.AvailableReplicas != 6 {
		t.Fatalf("deployment available %d, want 6", d.Status.AvailableReplicas)
	}
	Eventually(t, converge, func() error { return hasEvent(c, "default", lostPods[0], "TaintManagerEviction", "") })
}
