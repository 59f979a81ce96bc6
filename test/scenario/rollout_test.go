package scenario

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/plugins/controllers/deployment"
)

// podObserver follows pods through a watch and records the extremes of
// active and available pods.
type podObserver struct {
	mu                  sync.Mutex
	pods                map[string]*api.Pod
	maxActive, minReady int
	recording           bool
	stop                func()
}

func observePods(t *testing.T, c *Cluster, namespace, selector string) *podObserver {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	list, err := client.List[*api.Pod](ctx, c.Client, namespace, client.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	o := &podObserver{pods: map[string]*api.Pod{}, minReady: 1 << 30, stop: cancel}
	for _, p := range list.Items {
		o.pods[p.Name] = p
	}
	w, err := c.Client.Watch(ctx, client.ResourceOf[*api.Pod](), namespace, client.WatchOptions{ResourceVersion: list.ResourceVersion, LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			if ev.Object == nil {
				continue
			}
			p := ev.Object.(*api.Pod)
			o.mu.Lock()
			if ev.Type == client.Deleted {
				delete(o.pods, p.Name)
			} else {
				o.pods[p.Name] = p
			}
			if o.recording {
				active, ready := o.countLocked()
				o.maxActive = max(o.maxActive, active)
				o.minReady = min(o.minReady, ready)
			}
			o.mu.Unlock()
		}
	}()
	t.Cleanup(cancel)
	return o
}

func (o *podObserver) countLocked() (active, ready int) {
	for _, p := range o.pods {
		if api.IsPodActive(p) {
			active++
			if api.IsPodReady(p) {
				ready++
			}
		}
	}
	return active, ready
}

func (o *podObserver) record() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.recording = true
	o.maxActive, o.minReady = o.countLocked()
}

func (o *podObserver) extremes() (maxActive, minReady int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.maxActive, o.minReady
}

func setImage(t *testing.T, c *Cluster, name, image string) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"main","image":%q}]}}}}`, image)
	if _, err := client.Patch[*api.Deployment](context.Background(), c.Client, "default", name, []byte(patch)); err != nil {
		t.Fatal(err)
	}
}

func podImages(t *testing.T, c *Cluster, selector string) map[string]int {
	t.Helper()
	pods, err := c.ActivePods("default", selector)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, p := range pods {
		out[p.Spec.Containers[0].Image]++
	}
	return out
}

func TestRollingUpdateStaysWithinSurgeAndUnavailability(t *testing.T) {
	c := Start(t, etcd, Options{})
	ctx := context.Background()
	for _, tc := range []struct {
		name                   string
		replicas               int32
		surge, unavailable     intstr.IntOrString
		maxTotal, minAvailable int
	}{
		{"web-abs", 4, intstr.FromInt32(1), intstr.FromInt32(1), 5, 3},
		// 25% of 4: surge rounds up to 1, unavailable rounds down to 1.
		{"web-pct", 4, intstr.FromString("25%"), intstr.FromString("25%"), 5, 3},
		{"web-nounavail", 3, intstr.FromInt32(1), intstr.FromInt32(0), 4, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := RollingUpdate(NewDeployment("default", tc.name, "nginx:1", tc.replicas), tc.surge, tc.unavailable)
			if _, err := client.Create(ctx, c.Client, d); err != nil {
				t.Fatal(err)
			}
			c.WaitDeploymentComplete(t, "default", tc.name, converge)
			obs := observePods(t, c, "default", "app="+tc.name)
			time.Sleep(100 * time.Millisecond) // the watch is open before recording starts
			obs.record()
			setImage(t, c, tc.name, "nginx:2")
			done := c.WaitDeploymentComplete(t, "default", tc.name, converge)
			obs.stop()
			if imgs := podImages(t, c, "app="+tc.name); imgs["nginx:2"] != int(tc.replicas) || len(imgs) != 1 {
				t.Fatalf("after the rollout pods run %v, want %d x nginx:2", imgs, tc.replicas)
			}
			maxActive, minReady := obs.extremes()
			t.Logf("%s: max %d pods (bound %d), min %d ready (bound %d)", tc.name, maxActive, tc.maxTotal, minReady, tc.minAvailable)
			if maxActive > tc.maxTotal {
				t.Fatalf("%d pods during the rollout, more than replicas+maxSurge = %d", maxActive, tc.maxTotal)
			}
			if minReady < tc.minAvailable {
				t.Fatalf("%d ready pods during the rollout, fewer than replicas-maxUnavailable = %d", minReady, tc.minAvailable)
			}
			if done.Annotations[deployment.RevisionAnnotation] != "2" {
				t.Fatalf("revision after one rollout = %q, want 2", done.Annotations[deployment.RevisionAnnotation])
			}
		})
	}
}

func TestRecreateStopsOldPodsFirst(t *testing.T) {
	c := Start(t, etcd, Options{})
	d := NewDeployment("default", "db", "postgres:15", 2)
	d.Spec.Strategy = api.DeploymentStrategy{Type: "Recreate"}
	if _, err := client.Create(context.Background(), c.Client, d); err != nil {
		t.Fatal(err)
	}
	c.WaitDeploymentComplete(t, "default", "db", converge)
	obs := observePods(t, c, "default", "app=db")
	time.Sleep(100 * time.Millisecond)
	obs.record()
	setImage(t, c, "db", "postgres:16")
	c.WaitDeploymentComplete(t, "default", "db", converge)
	obs.stop()
	if maxActive, _ := obs.extremes(); maxActive > 2 {
		t.Fatalf("%d pods at once during a Recreate rollout of 2 replicas: old and new overlapped", maxActive)
	}
	if imgs := podImages(t, c, "app=db"); imgs["postgres:16"] != 2 {
		t.Fatalf("pods run %v after the rollout", imgs)
	}
}

func TestUndoByCopyingTheOldTemplate(t *testing.T) {
	c := Start(t, etcd, Options{})
	ctx := context.Background()
	if _, err := client.Create(ctx, c.Client, NewDeployment("default", "web", "nginx:1", 2)); err != nil {
		t.Fatal(err)
	}
	first := c.WaitDeploymentComplete(t, "default", "web", converge)
	setImage(t, c, "web", "nginx:2")
	second := c.WaitDeploymentComplete(t, "default", "web", converge)

	// What `skiff rollout undo` does: take the ReplicaSet of the previous
	// revision and copy its template, minus pod-template-hash, into the
	// Deployment.
	rss, err := c.OwnedReplicaSets(second)
	if err != nil {
		t.Fatal(err)
	}
	var previous *api.ReplicaSet
	for _, rs := range rss {
		if rs.Annotations[deployment.RevisionAnnotation] == "1" {
			previous = rs
		}
	}
	if previous == nil {
		t.Fatalf("no replica set with revision 1 among %s", describe(rss))
	}
	undo := api.DeepCopy(second)
	undo.Spec.Template = previous.Spec.Template
	delete(undo.Spec.Template.Labels, deployment.PodTemplateHashLabel)
	if _, err := client.Update(ctx, c.Client, undo); err != nil {
		t.Fatal(err)
	}
	third := c.WaitDeploymentComplete(t, "default", "web", converge)
	if imgs := podImages(t, c, "app=web"); imgs["nginx:1"] != 2 || len(imgs) != 1 {
		t.Fatalf("after undo pods run %v, want 2 x nginx:1", imgs)
	}
	rss, _ = c.OwnedReplicaSets(third)
	if len(rss) != 2 {
		t.Fatalf("undo must reuse the old replica set, have %s", describe(rss))
	}
	for _, rs := range rss {
		if rs.UID == previous.UID {
			if rs.Annotations[deployment.RevisionAnnotation] != "3" || rs.Annotations[deployment.RevisionHistoryAnnotation] != "1" || *rs.Spec.Replicas != 2 {
				t.Fatalf("reused replica set: revision %q history %q replicas %d; want 3, 1, 2", rs.Annotations[deployment.RevisionAnnotation], rs.Annotations[deployment.RevisionHistoryAnnotation], *rs.Spec.Replicas)
			}
		} else if *rs.Spec.Replicas != 0 {
			t.Fatalf("replica set %s of the undone revision still has %d replicas", rs.Name, *rs.Spec.Replicas)
		}
	}
	if third.Annotations[deployment.RevisionAnnotation] != "3" || first.Name != third.Name {
		t.Fatalf("deployment revision %q after undo, want 3", third.Annotations[deployment.RevisionAnnotation])
	}
}

func TestRestartAnnotationRollsOut(t *testing.T) {
	c := Start(t, etcd, Options{})
	ctx := context.Background()
	if _, err := client.Create(ctx, c.Client, NewDeployment("default", "web", "nginx:1", 2)); err != nil {
		t.Fatal(err)
	}
	d := c.WaitDeploymentComplete(t, "default", "web", converge)
	before, _ := c.ActivePods("default", "app=web")
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{%q:%q}}}}}`, deployment.RestartedAtAnnotation, time.Now().UTC().Format(time.RFC3339))
	if _, err := client.Patch[*api.Deployment](ctx, c.Client, "default", "web", []byte(patch)); err != nil {
		t.Fatal(err)
	}
	Eventually(t, converge, func() error {
		cur, err := client.Get[*api.Deployment](ctx, c.Client, "default", "web")
		if err != nil {
			return err
		}
		if cur.Annotations[deployment.RevisionAnnotation] != "2" {
			return fmt.Errorf("revision %q, want 2", cur.Annotations[deployment.RevisionAnnotation])
		}
		return nil
	})
	c.WaitDeploymentComplete(t, "default", "web", converge)
	after, _ := c.ActivePods("default", "app=web")
	for _, p := range after {
		for _, old := range before {
			if p.Name == old.Name {
				t.Fatalf("pod %s survived a restart of deployment %s", p.Name, d.Name)
			}
		}
	}
}

func TestManagerRestartMidRolloutLosesNothing(t *testing.T) {
	c := Start(t, etcd, Options{})
	ctx := context.Background()
	d := RollingUpdate(NewDeployment("default", "web", "nginx:1", 6), intstr.FromInt32(2), intstr.FromInt32(0))
	if _, err := client.Create(ctx, c.Client, d); err != nil {
		t.Fatal(err)
	}
	c.WaitDeploymentComplete(t, "default", "web", converge)

	// New pods stay unready, so the rollout stalls half way.
	c.Nodes.Hold.Store(true)
	setImage(t, c, "web", "nginx:2")
	Eventually(t, converge, func() error {
		if imgs := podImages(t, c, "app=web"); imgs["nginx:2"] != 2 {
			return fmt.Errorf("pods %v, want 2 surge pods of nginx:2", imgs)
		}
		return nil
	})
	c.StopManager()
	c.Nodes.Release()
	c.StartManager()

	done := c.WaitDeploymentComplete(t, "default", "web", converge)
	if imgs := podImages(t, c, "app=web"); imgs["nginx:2"] != 6 || len(imgs) != 1 {
		t.Fatalf("after the restart the rollout ended with pods %v", imgs)
	}
	rss, _ := c.OwnedReplicaSets(done)
	if len(rss) != 2 {
		t.Fatalf("a restart must not create extra replica sets: %s", describe(rss))
	}
}

func TestProgressDeadlineExceeded(t *testing.T) {
	c := Start(t, etcd, Options{})
	ctx := context.Background()
	d := NewDeployment("default", "stuck", "nginx:1", 2)
	d.Spec.ProgressDeadlineSeconds = api.Int32Ptr(2)
	c.Nodes.Hold.Store(true)
	if _, err := client.Create(ctx, c.Client, d); err != nil {
		t.Fatal(err)
	}
	Eventually(t, converge, func() error {
		cur, err := client.Get[*api.Deployment](ctx, c.Client, "default", "stuck")
		if err != nil {
			return err
		}
		cond := conditionOf(cur, deployment.ConditionProgressing)
		if cond == nil || cond.Status != api.ConditionFalse || cond.Reason != deployment.ReasonProgressDeadlineExceeded {
			return fmt.Errorf("Progressing = %+v, want False/ProgressDeadlineExceeded", cond)
		}
		return nil
	})
	c.Nodes.Release()
	Eventually(t, converge, func() error {
		cur, err := client.Get[*api.Deployment](ctx, c.Client, "default", "stuck")
		if err != nil {
			return err
		}
		if cond := conditionOf(cur, deployment.ConditionProgressing); cond == nil || cond.Reason != deployment.ReasonNewReplicaSetAvailable {
			return fmt.Errorf("Progressing = %+v after pods became ready, want NewReplicaSetAvailable", cond)
		}
		return nil
	})
}
