package nodelifecycle

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/plugins/controllers/replicaset"
	"github.com/skiff-sh/skiff/test/scenario"
)

// cluster is an API server with the replicaset and node lifecycle
// controllers on a fake clock. The test plays the nodes' agents (it renews
// leases and runs pods) and the scheduler (it binds pods to "alive").
type cluster struct {
	t     *testing.T
	cli   *client.Client
	clock *reconcile.FakeClock
}

func (c *cluster) eventually(cond func() error) {
	c.t.Helper()
	scenario.Eventually(c.t, 15*time.Second, func() error {
		c.clock.Step(10 * time.Millisecond)
		return cond()
	})
}

func (c *cluster) registerNode(name string) {
	c.t.Helper()
	ctx := context.Background()
	n, err := client.Create(ctx, c.cli, &api.Node{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Node"}, ObjectMeta: api.ObjectMeta{Name: name}})
	if err != nil {
		c.t.Fatal(err)
	}
	n.Status.Conditions = []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue, Reason: "AgentReady", LastHeartbeatTime: c.clock.Now()}}
	if _, err := client.UpdateStatus(ctx, c.cli, n); err != nil {
		c.t.Fatal(err)
	}
}

// renew writes the node's lease with the fake clock's time, as its agent would.
func (c *cluster) renew(node string) {
	c.t.Helper()
	ctx := context.Background()
	now := c.clock.Now()
	lease, err := client.Get[*api.Lease](ctx, c.cli, LeaseNamespace, node)
	if api.IsNotFound(err) {
		lease = &api.Lease{TypeMeta: api.TypeMeta{APIVersion: "coordination.k8s.io/v1", Kind: "Lease"},
			ObjectMeta: api.ObjectMeta{Namespace: LeaseNamespace, Name: node},
			Spec:       api.LeaseSpec{HolderIdentity: api.Ptr(node), LeaseDurationSeconds: api.Int32Ptr(40), RenewTime: &now}}
		_, err = client.Create(ctx, c.cli, lease)
	} else if err == nil {
		lease.Spec.RenewTime = &now
		_, err = client.Update(ctx, c.cli, lease)
	}
	if err != nil {
		c.t.Fatal(err)
	}
}

// schedule binds the replica set's unbound pods to node and runs them.
func (c *cluster) schedule(node string) error {
	ctx := context.Background()
	list, err := client.List[*api.Pod](ctx, c.cli, "default", client.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		return err
	}
	for _, p := range list.Items {
		if p.Spec.NodeName == "" && p.DeletionTimestamp == nil {
			if err := c.cli.Bind(ctx, "default", p.Name, node); err != nil {
				return err
			}
			if err := c.run(p.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *cluster) run(pod string) error {
	p, err := client.Get[*api.Pod](context.Background(), c.cli, "default", pod)
	if err != nil {
		return err
	}
	p.Status.Phase, p.Status.PodIP = api.PodRunning, "10.1.0.1"
	p.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: api.ConditionTrue, LastTransitionTime: c.clock.Now()}}
	_, err = client.UpdateStatus(context.Background(), c.cli, p)
	return err
}

// podsByNode maps node name to the names of the web pods there.
func (c *cluster) podsByNode() (map[string][]string, error) {
	list, err := client.List[*api.Pod](context.Background(), c.cli, "default", client.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, p := range list.Items {
		name := p.Name
		if p.DeletionTimestamp != nil {
			name += "(terminating)"
		}
		out[p.Spec.NodeName] = append(out[p.Spec.NodeName], name)
	}
	return out, nil
}

func (c *cluster) node(name string) *api.Node {
	c.t.Helper()
	n, err := client.Get[*api.Node](context.Background(), c.cli, "", name)
	if err != nil {
		c.t.Fatal(err)
	}
	return n
}

// advance moves the clock by d in 10s steps, renewing the leases of alive
// after each, so only the others go silent.
func (c *cluster) advance(d time.Duration, alive ...string) {
	for step := time.Duration(0); step < d; step += 10 * time.Second {
		c.clock.Step(10 * time.Second)
		for _, n := range alive {
			c.renew(n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSilentNodeIsTaintedAndItsPodsReplaced(t *testing.T) {
	srv := etcd.NewServer(t)
	c := &cluster{t: t, cli: srv.Client, clock: reconcile.NewFakeClock(time.Now())}
	c.registerNode("alive")
	c.registerNode("dead")

	rs, _ := replicaset.Factory(nil)
	nl, err := Factory([]byte(`{"podEvictionTimeout":"60s"}`))
	if err != nil {
		t.Fatal(err)
	}
	scenario.RunControllers(t, c.cli, c.clock, scenario.Controller{Name: replicaset.Name, Factory: rs}, scenario.Controller{Name: Name, Factory: nl})
	ctx := context.Background()

	// The controller creates the lease namespace; the agents then heartbeat.
	c.eventually(func() error {
		_, err := client.Get[*api.Namespace](context.Background(), c.cli, "", LeaseNamespace)
		return err
	})
	c.renew("alive")
	c.renew("dead")

	web := &api.ReplicaSet{
		TypeMeta:   api.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"},
		ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: api.ReplicaSetSpec{Replicas: api.Int32Ptr(2), Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "web", Image: "web:1"}}}}},
	}
	if _, err := client.Create(ctx, c.cli, web); err != nil {
		t.Fatal(err)
	}
	// One pod on each node.
	var victim string
	c.eventually(func() error {
		list, err := client.List[*api.Pod](ctx, c.cli, "default", client.ListOptions{LabelSelector: "app=web"})
		if err != nil || len(list.Items) != 2 {
			return fmt.Errorf("%d pods (%v)", len(list.Items), err)
		}
		victim = list.Items[0].Name
		for i, node := range []string{"dead", "alive"} {
			if err := c.cli.Bind(ctx, "default", list.Items[i].Name, node); err != nil {
				return err
			}
			if err := c.run(list.Items[i].Name); err != nil {
				return err
			}
		}
		return nil
	})

	// "dead" stops renewing: past the 40s grace it is Unknown and tainted.
	c.advance(30*time.Second, "alive", "dead")
	c.advance(50*time.Second, "alive")
	c.eventually(func() error {
		n := c.node("dead")
		ready := api.GetNodeCondition(&n.Status, api.NodeReady)
		if ready.Status != api.ConditionUnknown || ready.Reason != ReasonNodeStatusUnknown {
			return fmt.Errorf("dead node Ready = %+v", ready)
		}
		if got := taintKeys(n.Spec.Taints); got != TaintUnreachable+":NoSchedule "+TaintUnreachable+":NoExecute " {
			return fmt.Errorf("dead node taints %q", got)
		}
		return nil
	})
	if n := c.node("alive"); !api.IsNodeReady(n) || len(n.Spec.Taints) != 0 {
		t.Fatalf("the renewing node was marked: %+v %+v", n.Status.Conditions, n.Spec.Taints)
	}
	// Its pod stops being ready at once (services drop it) but is only
	// evicted when its 60s toleration runs out.
	c.eventually(func() error {
		p, err := client.Get[*api.Pod](ctx, c.cli, "default", victim)
		if err != nil {
			return err
		}
		if p.DeletionTimestamp != nil {
			t.Fatal("pod evicted before its 60s toleration ran out")
		}
		if api.IsPodReady(p) {
			return fmt.Errorf("pod %s on the unreachable node still Ready", victim)
		}
		return nil
	})

	// After the toleration the pod is evicted; its agent never confirms,
	// so after the grace period it is force-deleted and replaced elsewhere.
	c.advance(100*time.Second, "alive")
	c.eventually(func() error {
		if err := c.schedule("alive"); err != nil {
			return err
		}
		byNode, err := c.podsByNode()
		if err != nil {
			return err
		}
		if len(byNode["dead"]) != 0 || len(byNode["alive"]) != 2 {
			return fmt.Errorf("pods by node %v, want 2 on alive and the dead node's gone", byNode)
		}
		return nil
	})
	if _, err := client.Get[*api.Pod](ctx, c.cli, "default", victim); !api.IsNotFound(err) {
		t.Fatalf("the evicted pod %s still exists (%v)", victim, err)
	}

	// Heartbeats resume: Ready again and the taints go.
	c.renew("dead")
	c.eventually(func() error {
		n := c.node("dead")
		if !api.IsNodeReady(n) || len(n.Spec.Taints) != 0 {
			return fmt.Errorf("dead node after resuming: %+v taints %+v", n.Status.Conditions, n.Spec.Taints)
		}
		return nil
	})
}
