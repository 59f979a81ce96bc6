package scenario

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/plugins/controllers/deployment"
)

const converge = 30 * time.Second

func TestDeploymentConvergesAndReplacesDeletedPods(t *testing.T) {
	c := Start(t, etcd, Options{})
	ctx := context.Background()
	d, err := client.Create(ctx, c.Client, NewDeployment("default", "web", "nginx:1", 3))
	if err != nil {
		t.Fatal(err)
	}
	d = c.WaitDeploymentComplete(t, "default", "web", converge)

	rss, err := c.OwnedReplicaSets(d)
	if err != nil {
		t.Fatal(err)
	}
	if len(rss) != 1 {
		t.Fatalf("%d replica sets, want 1", len(rss))
	}
	rs := rss[0]
	hash := deployment.TemplateHash(&d.Spec.Template, nil)
	if rs.Name != "web-"+hash || rs.Labels[deployment.PodTemplateHashLabel] != hash || rs.Spec.Selector.MatchLabels[deployment.PodTemplateHashLabel] != hash {
		t.Fatalf("replica set %q labels %v selector %v; want web-%s with pod-template-hash %s", rs.Name, rs.Labels, rs.Spec.Selector.MatchLabels, hash, hash)
	}
	if rs.Annotations[deployment.RevisionAnnotation] != "1" || d.Annotations[deployment.RevisionAnnotation] != "1" {
		t.Fatalf("revision annotations rs=%q deployment=%q, want 1 and 1", rs.Annotations[deployment.RevisionAnnotation], d.Annotations[deployment.RevisionAnnotation])
	}
	cond := conditionOf(d, deployment.ConditionProgressing)
	if cond == nil || cond.Status != api.ConditionTrue || cond.Reason != deployment.ReasonNewReplicaSetAvailable {
		t.Fatalf("Progressing condition = %+v, want True/NewReplicaSetAvailable", cond)
	}
	if cond := conditionOf(d, deployment.ConditionAvailable); cond == nil || cond.Status != api.ConditionTrue {
		t.Fatalf("Available condition = %+v, want True", cond)
	}

	pods, err := c.ActivePods("default", "app=web")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		if !strings.HasPrefix(p.Name, rs.Name+"-") || len(p.Name) != len(rs.Name)+6 || !p.IsControlledBy(rs.UID) || p.Status.PodIP == "" {
			t.Fatalf("pod %q: want name %s-xxxxx, controlled by the replica set, with an IP; got owner %+v ip %q", p.Name, rs.Name, p.ControllerRef(), p.Status.PodIP)
		}
	}

	// A deleted pod is replaced by a new one with a new name.
	victim := pods[0].Name
	if err := client.Delete[*api.Pod](ctx, c.Client, "default", victim, client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	Eventually(t, converge, func() error {
		pods, err := c.ActivePods("default", "app=web")
		if err != nil {
			return err
		}
		ready := 0
		for _, p := range pods {
			if p.Name == victim {
				return fmt.Errorf("deleted pod %s still active", victim)
			}
			if api.IsPodReady(p) {
				ready++
			}
		}
		if ready != 3 {
			return fmt.Errorf("%d ready pods, want 3", ready)
		}
		return nil
	})
	Eventually(t, converge, func() error {
		return hasEvent(c, "default", "web", "ScalingReplicaSet", "Scaled up replica set "+rs.Name+" to 3")
	})
	Eventually(t, converge, func() error { return hasEvent(c, "default", rs.Name, "SuccessfulCreate", "Created pod: ") })
}

func TestDeploymentScales(t *testing.T) {
	c := Start(t, etcd, Options{})
	ctx := context.Background()
	if _, err := client.Create(ctx, c.Client, NewDeployment("default", "web", "nginx:1", 3)); err != nil {
		t.Fatal(err)
	}
	c.WaitDeploymentComplete(t, "default", "web", converge)
	for _, n := range []int32{5, 1} {
		scale(t, c, "web", n)
		d := c.WaitDeploymentComplete(t, "default", "web", converge)
		rss, _ := c.OwnedReplicaSets(d)
		if len(rss) != 1 || *rss[0].Spec.Replicas != n {
			t.Fatalf("after scaling to %d: replica sets %v", n, describe(rss))
		}
	}
}

func scale(t *testing.T, c *Cluster, name string, n int32) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)
	if _, err := client.Patch[*api.Deployment](context.Background(), c.Client, "default", name, []byte(patch)); err != nil {
		t.Fatal(err)
	}
}

func conditionOf(d *api.Deployment, typ string) *api.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == typ {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

func hasEvent(c *Cluster, namespace, object, reason, messagePrefix string) error {
	list, err := client.List[*api.Event](context.Background(), c.Client, namespace, client.ListOptions{})
	if err != nil {
		return err
	}
	var seen []string
	for _, ev := range list.Items {
		if ev.InvolvedObject.Name == object && ev.Reason == reason && strings.HasPrefix(ev.Message, messagePrefix) {
			return nil
		}
		seen = append(seen, ev.Reason+": "+ev.Message)
	}
	return fmt.Errorf("no event %s %q about %s; have %v", reason, messagePrefix, object, seen)
}

func describe(rss []*api.ReplicaSet) string {
	var b strings.Builder
	for _, rs := range rss {
		fmt.Fprintf(&b, "%s(spec %d, status %d) ", rs.Name, *rs.Spec.Replicas, rs.Status.Replicas)
	}
	return b.String()
}
