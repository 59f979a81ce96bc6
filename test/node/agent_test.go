package node_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/client/clienttest"
	"github.com/skiff-sh/skiff/core/node"
	"github.com/skiff-sh/skiff/plugins/runtime/sim"
	"github.com/skiff-sh/skiff/sdk/network"
)

var etcd *clienttest.Etcd

func TestMain(m *testing.M) { clienttest.RunMain(m, &etcd) }

// simAgent runs an agent on the simulated runtime until the test ends or
// stop is called.
type simAgent struct {
	*node.Agent
	rt      *sim.Runtime
	dataDir string
	stop    func()
}

func startAgent(t *testing.T, c *client.Client, name string, rt *sim.Runtime, dataDir string) *simAgent {
	t.Helper()
	return startAgentProbing(t, c, name, rt, dataDir, node.AlwaysSucceed{})
}

// startAgentProbing is startAgent with the given prober.
func startAgentProbing(t *testing.T, c *client.Client, name string, rt *sim.Runtime, dataDir string, prober node.Prober) *simAgent {
	t.Helper()
	a, err := node.New(node.Config{
		NodeName: name, Client: c, Runtime: rt, NewNetwork: sim.NewNetwork, DataDir: dataDir,
		NodeIPs: []string{"192.0.2.10"}, Prober: prober, ResyncInterval: 200 * time.Millisecond, NetworkBackend: sim.Name,
		LeaseInterval: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("agent %s: %v", name, err)
			}
		}
	}
	t.Cleanup(stop)
	return &simAgent{Agent: a, rt: rt, dataDir: dataDir, stop: stop}
}

func newPod(name, nodeName string, containers ...api.Container) *api.Pod {
	return &api.Pod{
		ObjectMeta: api.ObjectMeta{Namespace: "default", Name: name},
		Spec:       api.PodSpec{NodeName: nodeName, Containers: containers},
	}
}

func waitPod(t *testing.T, c *client.Client, name, what string, cond func(p *api.Pod) bool) *api.Pod {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last *api.Pod
	for time.Now().Before(deadline) {
		p, err := client.Get[*api.Pod](context.Background(), c, "default", name)
		if err == nil {
			last = p
			if cond(p) {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("pod %s: timed out waiting for %s; last status %+v", name, what, last.Status)
	return nil
}

func TestAgentRegistersNodeAndRunsPods(t *testing.T) {
	srv := etcd.NewServer(t)
	c := srv.Client
	ctx := context.Background()
	a := startAgent(t, c, "n1", sim.New(), t.TempDir())
	if _, err := client.Create(ctx, c, newPod("web", "n1", api.Container{Name: "app", Image: "example/web:1"})); err != nil {
		t.Fatal(err)
	}
	p := waitPod(t, c, "web", "Running and Ready", func(p *api.Pod) bool { return p.Status.Phase == "Running" && api.IsPodReady(p) })
	_, subnet, _ := net.ParseCIDR(a.PodCIDR())
	if ip := net.ParseIP(p.Status.PodIP); ip == nil || !subnet.Contains(ip) {
		t.Errorf("pod IP %q is not in the node subnet %s", p.Status.PodIP, a.PodCIDR())
	}
	cs := p.Status.ContainerStatuses
	if len(cs) != 1 || cs[0].State.Running == nil || !cs[0].Ready || !strings.HasPrefix(cs[0].ContainerID, "skiff://") || p.Status.HostIP != "192.0.2.10" || p.Status.StartTime == nil {
		t.Errorf("status = %+v", p.Status)
	}
	n, err := client.Get[*api.Node](ctx, c, "", "n1")
	if err != nil {
		t.Fatal(err)
	}
	if n.Spec.PodCIDR != a.PodCIDR() || !api.IsNodeReady(n) || n.Labels[node.LabelHostname] != "n1" || n.Labels["kubernetes.io/os"] == "" ||
		n.Annotations[network.AnnotationBackend] != sim.Name {
		t.Errorf("node = %+v", n)
	}
	if _, ok := n.Status.Capacity["cpu"]; !ok || n.Status.NodeInfo.ContainerRuntimeVersion != "sim://1" || n.Status.NodeInfo.KernelVersion == "" {
		t.Errorf("node status = %+v", n.Status)
	}
	lease, err := client.Get[*api.Lease](ctx, c, node.LeaseNamespace, "n1")
	if err != nil || lease.Spec.RenewTime == nil {
		t.Fatalf("lease: %v %+v", err, lease)
	}
	first := *lease.Spec.RenewTime
	time.Sleep(1200 * time.Millisecond)
	lease, _ = client.Get[*api.Lease](ctx, c, node.LeaseNamespace, "n1")
	if !lease.Spec.RenewTime.After(first) {
		t.Errorf("lease not renewed: %v then %v", first, *lease.Spec.RenewTime)
	}
}

func TestSubnetsAreLeasedPerNode(t *testing.T) {
	srv := etcd.NewServer(t)
	a1 := startAgent(t, srv.Client, "n1", sim.New(), t.TempDir())
	a2 := startAgent(t, srv.Client, "n2", sim.New(), t.TempDir())
	s1, s2 := nodeCIDR(t, srv.Client, "n1"), nodeCIDR(t, srv.Client, "n2")
	if s1 == s2 || s1 != a1.PodCIDR() || s2 != a2.PodCIDR() {
		t.Fatalf("subnets %q and %q: want two distinct leases", s1, s2)
	}
	// A restarted agent keeps its subnet.
	a1.stop()
	again := startAgent(t, srv.Client, "n1", sim.New(), t.TempDir())
	deadline := time.Now().Add(10 * time.Second)
	for again.PodCIDR() == "" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if again.PodCIDR() != s1 {
		t.Errorf("after restart subnet %q, want %q", again.PodCIDR(), s1)
	}
}

// nodeCIDR waits for a node to be registered with its pod subnet.
func nodeCIDR(t *testing.T, c *client.Client, name string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		n, err := client.Get[*api.Node](context.Background(), c, "", name)
		if err == nil && n.Spec.PodCIDR != "" {
			return n.Spec.PodCIDR
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("node %s not registered with a pod subnet", name)
	return ""
}

func TestCrashLoopBackOffAndRestartCount(t *testing.T) {
	srv := etcd.NewServer(t)
	rt := sim.New()
	rt.ExitOnStart("bad", 3)
	startAgent(t, srv.Client, "n1", rt, t.TempDir())
	if _, err := client.Create(context.Background(), srv.Client, newPod("crash", "n1", api.Container{Name: "bad", Image: "busybox:1"})); err != nil {
		t.Fatal(err)
	}
	p := waitPod(t, srv.Client, "crash", "CrashLoopBackOff", func(p *api.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "CrashLoopBackOff"
	})
	cs := p.Status.ContainerStatuses[0]
	if cs.RestartCount < 1 || !strings.Contains(cs.State.Waiting.Message, "back-off 10s restarting failed container=bad pod=crash") {
		t.Errorf("status = %+v waiting %+v", cs, cs.State.Waiting)
	}
	if term := cs.LastTerminationState.Terminated; term == nil || term.ExitCode != 3 || term.Reason != "Error" {
		t.Errorf("lastState = %+v, want terminated with exit code 3", cs.LastTerminationState)
	}
	if p.Status.Phase != "Running" || api.IsPodReady(p) {
		t.Errorf("phase %s ready %v, want Running and not ready", p.Status.Phase, api.IsPodReady(p))
	}
}

func TestRestartPolicyNeverEndsThePod(t *testing.T) {
	srv := etcd.NewServer(t)
	rt := sim.New()
	rt.ExitOnStart("fails", 1)
	rt.ExitOnStart("ok", 0)
	startAgent(t, srv.Client, "n1", rt, t.TempDir())
	ctx := context.Background()
	failed := newPod("failed", "n1", api.Container{Name: "fails", Image: "busybox:1"})
	failed.Spec.RestartPolicy = "Never"
	done := newPod("done", "n1", api.Container{Name: "ok", Image: "busybox:1"})
	done.Spec.RestartPolicy = "OnFailure"
	for _, p := range []*api.Pod{failed, done} {
		if _, err := client.Create(ctx, srv.Client, p); err != nil {
			t.Fatal(err)
		}
	}
	waitPod(t, srv.Client, "failed", "Failed", func(p *api.Pod) bool { return p.Status.Phase == "Failed" })
	p := waitPod(t, srv.Client, "done", "Succeeded", func(p *api.Pod) bool { return p.Status.Phase == "Succeeded" })
	if p.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Errorf("a succeeded OnFailure container restarted: %+v", p.Status.ContainerStatuses[0])
	}
}

func TestImagePullBackOffShowsRegistryMessage(t *testing.T) {
	srv := etcd.NewServer(t)
	rt := sim.New()
	rt.FailPulls("registry.local/missing:1", "manifest unknown: manifest unknown")
	startAgent(t, srv.Client, "n1", rt, t.TempDir())
	if _, err := client.Create(context.Background(), srv.Client, newPod("nopull", "n1", api.Container{Name: "app", Image: "registry.local/missing:1"})); err != nil {
		t.Fatal(err)
	}
	waitPod(t, srv.Client, "nopull", "ImagePullBackOff", func(p *api.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "ImagePullBackOff" &&
			strings.Contains(cs[0].State.Waiting.Message, "manifest unknown")
	})
}

func TestDeleteStopsContainersAndConfirms(t *testing.T) {
	srv := etcd.NewServer(t)
	rt := sim.New()
	startAgent(t, srv.Client, "n1", rt, t.TempDir())
	ctx := context.Background()
	if _, err := client.Create(ctx, srv.Client, newPod("web", "n1", api.Container{Name: "app", Image: "web:1"})); err != nil {
		t.Fatal(err)
	}
	waitPod(t, srv.Client, "web", "Running", func(p *api.Pod) bool { return p.Status.Phase == "Running" })
	if err := client.Delete[*api.Pod](ctx, srv.Client, "default", "web", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := client.Get[*api.Pod](ctx, srv.Client, "default", "web")
		if api.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod still there after delete: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if list, _ := rt.ListContainers(ctx); len(list) != 0 {
		t.Errorf("containers left after delete: %+v", list)
	}
}

func TestRestartedAgentAdoptsContainers(t *testing.T) {
	srv := etcd.NewServer(t)
	rt := sim.New()
	dir := t.TempDir()
	a := startAgent(t, srv.Client, "n1", rt, dir)
	ctx := context.Background()
	if _, err := client.Create(ctx, srv.Client, newPod("web", "n1", api.Container{Name: "app", Image: "web:1"})); err != nil {
		t.Fatal(err)
	}
	before := waitPod(t, srv.Client, "web", "Running", func(p *api.Pod) bool { return api.IsPodReady(p) })
	a.stop()
	startAgent(t, srv.Client, "n1", rt, dir)
	time.Sleep(time.Second)
	after := waitPod(t, srv.Client, "web", "Running", func(p *api.Pod) bool { return api.IsPodReady(p) })
	b, c := before.Status.ContainerStatuses[0], after.Status.ContainerStatuses[0]
	if b.ContainerID != c.ContainerID || c.RestartCount != 0 || after.Status.PodIP != before.Status.PodIP {
		t.Errorf("after restart %+v (ip %s), before %+v (ip %s): want the same container, no restart", c, after.Status.PodIP, b, before.Status.PodIP)
	}
	if list, _ := rt.ListContainers(ctx); len(list) != 1 {
		t.Errorf("runtime holds %d containers, want 1: %+v", len(list), list)
	}
}

func TestConfigMapVolumeAndEnv(t *testing.T) {
	srv := etcd.NewServer(t)
	dir := t.TempDir()
	startAgent(t, srv.Client, "n1", sim.New(), dir)
	ctx := context.Background()
	cm := &api.ConfigMap{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "cfg"}, Data: map[string]string{"a.txt": "one", "b.txt": "two"}}
	if _, err := client.Create(ctx, srv.Client, cm); err != nil {
		t.Fatal(err)
	}
	p := newPod("vol", "n1", api.Container{
		Name: "app", Image: "web:1",
		VolumeMounts: []api.VolumeMount{{Name: "cfg", MountPath: "/etc/cfg"}},
		Env:          []api.EnvVar{{Name: "A", ValueFrom: &api.EnvVarSource{ConfigMapKeyRef: &api.KeySelector{Name: "cfg", Key: "a.txt"}}}},
	})
	mode := int32(0o600)
	p.Spec.Volumes = []api.Volume{{Name: "cfg", VolumeSource: api.VolumeSource{ConfigMap: &api.ConfigMapVolumeSource{
		Name: "cfg", Items: []api.KeyToPath{{Key: "a.txt", Path: "sub/a"}}, DefaultMode: &mode,
	}}}}
	created, err := client.Create(ctx, srv.Client, p)
	if err != nil {
		t.Fatal(err)
	}
	waitPod(t, srv.Client, "vol", "Running", func(p *api.Pod) bool { return p.Status.Phase == "Running" })
	file := filepath.Join(dir, "pods", created.UID, "volumes", "cfg", "sub", "a")
	data, err := os.ReadFile(file)
	if err != nil || string(data) != "one" {
		t.Fatalf("projected file: %q, %v", data, err)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(dir, "pods", created.UID, "volumes", "cfg", "b.txt")); err == nil {
		t.Errorf("b.txt projected although items names only a.txt")
	}
	cm.Data["a.txt"] = "uno"
	cur, _ := client.Get[*api.ConfigMap](ctx, srv.Client, "default", "cfg")
	cur.Data["a.txt"] = "uno"
	if _, err := client.Update(ctx, srv.Client, cur); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ = os.ReadFile(file)
		if string(data) == "uno" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("projected file not updated: %q", data)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
