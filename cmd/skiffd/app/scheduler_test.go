package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/plugin"
)

// cluster is a real API server over the shared etcd with skiffd's
// scheduler and plugin host (policies and admission) running against it,
// configured from a file.
type cluster struct {
	c        *client.Client
	status   *pluginStatusHandler
	cfgPath  string
	reloaded chan error
}

func startCluster(t *testing.T, schedulerYAML string) *cluster {
	t.Helper()
	srv := etcd.NewServer(t)
	cl := &cluster{c: srv.Client, status: &pluginStatusHandler{}, reloaded: make(chan error, 16)}
	cl.cfgPath = filepath.Join(t.TempDir(), "skiffd.yaml")
	cl.writeConfig(t, schedulerYAML)
	cmd := newServerCommand()
	cfg, err := loadConfig(cl.cfgPath, cmd.Flags())
	if err != nil {
		t.Fatal(err)
	}
	src := configSource{path: cl.cfgPath, flags: cmd.Flags(), reloaded: func(err error) { cl.reloaded <- err }}
	host, stop, err := startPlugins(context.Background(), cfg, src, prometheus.NewRegistry(), cl.status, srv.Admission())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := runScheduler(ctx, cfg, host, srv.Config); err != nil && ctx.Err() == nil {
			t.Errorf("scheduler: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		stop()
	})
	return cl
}

// writeConfig writes a skiffd config with the given scheduler section,
// through a rename so the watcher sees one complete file.
func (cl *cluster) writeConfig(t *testing.T, schedulerYAML string) {
	t.Helper()
	body := fmt.Sprintf("data-dir: %s\nplugins:\n  wasm-cache-dir: %s\n%s", t.TempDir(), filepath.Join(artifacts, "wasm-cache"), schedulerYAML)
	tmp := cl.cfgPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, cl.cfgPath); err != nil {
		t.Fatal(err)
	}
}

func (cl *cluster) host() *plugin.Host { return cl.status.host.Load() }

func (cl *cluster) addNode(t *testing.T, name, cpu string, labels map[string]string) {
	t.Helper()
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: name, Labels: labels}}
	n.Status.Allocatable = api.ResourceList{"cpu": resource.MustParse(cpu), "memory": resource.MustParse("8Gi"), "pods": resource.MustParse("110")}
	if _, err := client.Create(context.Background(), cl.c, n); err != nil {
		t.Fatal(err)
	}
}

func (cl *cluster) addPod(t *testing.T, name, cpu string, annotations map[string]string) {
	t.Helper()
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{"app": "web"}, Annotations: annotations}}
	p.Spec.Containers = []api.Container{{Name: "c", Image: "busybox", Resources: api.ResourceRequirements{Requests: api.ResourceList{"cpu": resource.MustParse(cpu)}}}}
	if _, err := client.Create(context.Background(), cl.c, p); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last state: %s", what, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (cl *cluster) pods(t *testing.T) []*api.Pod {
	t.Helper()
	list, err := client.List[*api.Pod](context.Background(), cl.c, "default", client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

const defaultsYAML = "scheduler:\n  defaults: true\n"

func TestSchedulerBindsWithoutOvercommitAndReportsUnschedulable(t *testing.T) {
	cl := startCluster(t, defaultsYAML)
	for i := range 5 {
		cl.addNode(t, fmt.Sprintf("node-%d", i), "1", nil) // room for two 500m pods each
	}
	// Ten pods at once: each must see the ones placed before it, although
	// the watch has not caught up yet.
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl.addPod(t, fmt.Sprintf("web-%d", i), "500m", nil)
		}()
	}
	wg.Wait()
	waitFor(t, "10 pods bound", func() (bool, string) {
		bound := 0
		for _, p := range cl.pods(t) {
			if p.Spec.NodeName != "" {
				bound++
			}
		}
		return bound == 10, fmt.Sprintf("%d bound", bound)
	})
	perNode := map[string]int{}
	for _, p := range cl.pods(t) {
		perNode[p.Spec.NodeName]++
	}
	for node, n := range perNode {
		if n > 2 {
			t.Errorf("%s got %d pods of 500m with 1 cpu: over-committed (%v)", node, n, perNode)
		}
	}

	cl.addPod(t, "web-extra", "500m", nil)
	const want = "0/5 nodes are available: 5 Insufficient cpu."
	waitFor(t, "PodScheduled=False on web-extra", func() (bool, string) {
		p, err := client.Get[*api.Pod](context.Background(), cl.c, "default", "web-extra")
		if err != nil {
			return false, err.Error()
		}
		cond := api.GetPodCondition(&p.Status, api.PodScheduled)
		if cond == nil {
			return false, fmt.Sprintf("no condition, node %q", p.Spec.NodeName)
		}
		return cond.Status == api.ConditionFalse && cond.Reason == "Unschedulable" && cond.Message == want, fmt.Sprintf("%+v", *cond)
	})
	waitFor(t, "FailedScheduling event", func() (bool, string) {
		events, err := client.List[*api.Event](context.Background(), cl.c, "default", client.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range events.Items {
			if e.InvolvedObject.Name == "web-extra" && e.Reason == "FailedScheduling" && e.Type == "Warning" && e.Message == want {
				return true, ""
			}
			seen = append(seen, e.Reason+": "+e.Message)
		}
		return false, strings.Join(seen, "; ")
	})

	// Room appears: the unschedulable pod is retried at once, not after
	// the periodic flush.
	cl.addNode(t, "node-big", "4", nil)
	waitFor(t, "web-extra bound to the new node", func() (bool, string) {
		p, err := client.Get[*api.Pod](context.Background(), cl.c, "default", "web-extra")
		if err != nil {
			return false, err.Error()
		}
		return p.Spec.NodeName == "node-big", p.Spec.NodeName
	})
}

func TestSchedulerLeavesOtherSchedulersPodsAlone(t *testing.T) {
	cl := startCluster(t, defaultsYAML)
	cl.addNode(t, "node-0", "4", nil)
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "custom"}}
	p.Spec.SchedulerName = "my-scheduler"
	p.Spec.Containers = []api.Container{{Name: "c", Image: "busybox"}}
	if _, err := client.Create(context.Background(), cl.c, p); err != nil {
		t.Fatal(err)
	}
	cl.addPod(t, "mine", "100m", nil)
	waitFor(t, "default pod bound", func() (bool, string) {
		got, _ := client.Get[*api.Pod](context.Background(), cl.c, "default", "mine")
		return got != nil && got.Spec.NodeName != "", ""
	})
	got, err := client.Get[*api.Pod](context.Background(), cl.c, "default", "custom")
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.NodeName != "" {
		t.Fatalf("pod of my-scheduler was bound to %s", got.Spec.NodeName)
	}
}
