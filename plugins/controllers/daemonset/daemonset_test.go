package daemonset

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/test/scenario"
)

// daemonPods maps node name to the active pods of the DaemonSet there.
func daemonPods(t *testing.T, c *scenario.Cluster) map[string][]*api.Pod {
	t.Helper()
	pods, err := c.ActivePods("default", "app=agent")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]*api.Pod{}
	for _, p := range pods {
		out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p)
	}
	return out
}

// onePerNode checks there is exactly one pod on each of nodes and none elsewhere.
func onePerNode(t *testing.T, c *scenario.Cluster, nodes ...string) error {
	byNode := daemonPods(t, c)
	for _, n := range nodes {
		if len(byNode[n]) != 1 {
			return fmt.Errorf("node %s has %d daemon pods, want 1 (all: %v)", n, len(byNode[n]), byNode)
		}
	}
	if len(byNode) != len(nodes) {
		return fmt.Errorf("daemon pods on %d nodes, want %d", len(byNode), len(nodes))
	}
	return nil
}

func TestDaemonSetFollowsNodes(t *testing.T) {
	c := scenario.Start(t, etcd, scenario.Options{Nodes: 3, NoManager: true})
	c.RunControllers(t, nil, scenario.Controller{Name: Name, Factory: New})
	ctx := context.Background()
	ds := &api.DaemonSet{
		TypeMeta:   api.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"},
		ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "agent"},
		Spec: api.DaemonSetSpec{
			Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: api.PodTemplateSpec{
				ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec:       api.PodSpec{Containers: []api.Container{{Name: "agent", Image: "agent:1"}}, NodeSelector: map[string]string{"role": "worker"}},
			},
		},
	}
	// Only labelled nodes are eligible: node-2 is not.
	for _, n := range []string{"node-0", "node-1"} {
		label(t, c, n, "role", "worker")
	}
	if _, err := client.Create(ctx, c.Client, ds); err != nil {
		t.Fatal(err)
	}
	scenario.Eventually(t, 10*time.Second, func() error { return onePerNode(t, c, "node-0", "node-1") })
	scenario.Eventually(t, 10*time.Second, func() error {
		got, err := client.Get[*api.DaemonSet](ctx, c.Client, "default", "agent")
		if err != nil {
			return err
		}
		if s := got.Status; s.DesiredNumberScheduled != 2 || s.CurrentNumberScheduled != 2 || s.NumberReady != 2 || s.UpdatedNumberScheduled != 2 {
			return fmt.Errorf("status %+v", s)
		}
		return nil
	})
	pods := daemonPods(t, c)
	p := pods["node-0"][0]
	if p.Labels[RevisionLabel] == "" || p.ControllerRef() == nil || p.ControllerRef().Kind != "DaemonSet" {
		t.Fatalf("daemon pod lacks revision label or controller ref: %+v", p.ObjectMeta)
	}

	// A node joins: it gets a daemon. A node leaves: its daemon goes.
	joined := &api.Node{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Node"},
		ObjectMeta: api.ObjectMeta{Name: "node-new", Labels: map[string]string{"role": "worker"}}}
	if _, err := client.Create(ctx, c.Client, joined); err != nil {
		t.Fatal(err)
	}
	scenario.Eventually(t, 10*time.Second, func() error { return onePerNode(t, c, "node-0", "node-1", "node-new") })
	if err := client.Delete[*api.Node](ctx, c.Client, "", "node-1", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	scenario.Eventually(t, 10*time.Second, func() error { return onePerNode(t, c, "node-0", "node-new") })

	// A template change rolls out to every node.
	scenario.Eventually(t, 5*time.Second, func() error { // retry conflicts with status writes
		got, err := client.Get[*api.DaemonSet](ctx, c.Client, "default", "agent")
		if err != nil {
			return err
		}
		got.Spec.Template.Spec.Containers[0].Image = "agent:2"
		_, err = client.Update(ctx, c.Client, got)
		return err
	})
	scenario.Eventually(t, 15*time.Second, func() error {
		if err := onePerNode(t, c, "node-0", "node-new"); err != nil {
			return err
		}
		for node, ps := range daemonPods(t, c) {
			if img := ps[0].Spec.Containers[0].Image; img != "agent:2" {
				return fmt.Errorf("node %s still runs %s", node, img)
			}
		}
		return nil
	})
}

func label(t *testing.T, c *scenario.Cluster, node, key, value string) {
	t.Helper()
	scenario.Eventually(t, 5*time.Second, func() error {
		n, err := client.Get[*api.Node](context.Background(), c.Client, "", node)
		if err != nil {
			return err
		}
		n.Labels[key] = value
		_, err = client.Update(context.Background(), c.Client, n)
		return err
	})
}

// The controller replaces daemons in place and never surges, so the API
// server refuses a maxSurge rather than ignore it.
func TestDaemonSetSurgeIsRejected(t *testing.T) {
	srv := etcd.NewServer(t)
	surge, unavailable := intstr.FromInt32(1), intstr.FromInt32(0)
	ds := &api.DaemonSet{
		TypeMeta:   api.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"},
		ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "agent"},
		Spec: api.DaemonSetSpec{
			Selector:       &api.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			UpdateStrategy: api.DaemonSetUpdateStrategy{Type: "RollingUpdate", RollingUpdate: &api.RollingUpdateDaemonSet{MaxSurge: &surge, MaxUnavailable: &unavailable}},
			Template: api.PodTemplateSpec{
				ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec:       api.PodSpec{Containers: []api.Container{{Name: "agent", Image: "agent:1"}}},
			},
		},
	}
	_, err := client.Create(context.Background(), srv.Client, ds)
	if !api.IsInvalid(err) || !strings.Contains(err.Error(), `spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: "1": not supported by skiff`) {
		t.Fatalf("create a DaemonSet with maxSurge 1: %v; want Invalid naming spec.updateStrategy.rollingUpdate.maxSurge as not supported", err)
	}
}
