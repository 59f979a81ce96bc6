// Package pod measures how fast one real node starts pods: `skiffd server`
// (control plane and agent on a private containerd with the bridge network)
// as a child process, 30 web pods created at once. TestBench* skips unless
// SKIFF_BENCH=1 and prints BENCH lines (make bench-pod).
package pod

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/plugins/network/bridge"
	"github.com/skiff-sh/skiff/test/images"
)

const pods = 30

// startTimes records, per pod, when it was created and when a watch first
// saw it Running and Ready.
type startTimes struct {
	mu                      sync.Mutex
	created, running, ready map[string]time.Time
	allReady                chan struct{}
}

func (s *startTimes) OnSync([]api.Object) {}

func (s *startTimes) OnEvent(_ client.EventType, obj api.Object) {
	p := obj.(*api.Pod)
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.running[p.Name]; !ok && p.Status.Phase == "Running" {
		s.running[p.Name] = now
	}
	if _, ok := s.ready[p.Name]; !ok && api.IsPodReady(p) {
		s.ready[p.Name] = now
		if len(s.ready) == pods {
			close(s.allReady)
		}
	}
}

func percentile(d []time.Duration, p float64) float64 {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	i := int(float64(len(d))*p+0.5) - 1
	return float64(d[min(max(i, 0), len(d)-1)].Microseconds()) / 1000
}

func TestBenchPodStart(t *testing.T) {
	if os.Getenv("SKIFF_BENCH") != "1" {
		t.Skip("set SKIFF_BENCH=1 (make bench-pod)")
	}
	images.RequireHost(t, "containerd", "runc", "iptables", "/usr/lib/cni/bridge", "/usr/lib/cni/host-local", images.BusyboxPath, "go")
	if _, err := net.InterfaceByName(bridge.DefaultBridge); err == nil {
		t.Fatalf("bridge %s exists: stop the running cluster first (sudo scripts/down.sh --purge)", bridge.DefaultBridge)
	}
	dir := t.TempDir()
	bin := os.Getenv("SKIFF_BIN_DIR") // e.g. bin/ after `make build`
	if bin == "" {
		bin = dir
		if out, err := exec.Command("go", "build", "-o", dir+"/", "github.com/skiff-sh/skiff/cmd/skiffd", "github.com/skiff-sh/skiff/cmd/skiff").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	node := fmt.Sprintf("bench-%d", os.Getpid())
	dataDir := filepath.Join(dir, "data")
	conf := fmt.Sprintf("data-dir: %s\nlisten: 127.0.0.1:0\nagent: {node-name: %s, cluster-cidr: 10.214.0.0/16, listen: \":0\"}\n", dataDir, node)
	if err := os.WriteFile(filepath.Join(dir, "skiffd.yaml"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "skiffd.log"))
	if err != nil {
		t.Fatal(err)
	}
	logPath = logFile.Name()
	skiffd := exec.Command(filepath.Join(bin, "skiffd"), "server", "--config", filepath.Join(dir, "skiffd.yaml"))
	skiffd.Env = append(childEnv(), "HOME="+dir)
	skiffd.Stdout, skiffd.Stderr = logFile, logFile
	if err := skiffd.Start(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var c *client.Client
	t.Cleanup(func() {
		if c != nil {
			deleteNamespace(t, c, "bench")
		}
		skiffd.Process.Signal(syscall.SIGTERM)
		skiffd.Wait()
		exec.Command(filepath.Join(bin, "skiffd"), "agent", "--teardown", "--node-name", node).Run()
		if n, err := bridge.New(bridge.Config{Subnet: "10.214.0.0/24", DataDir: filepath.Join(dataDir, "agent", "network")}); err == nil {
			n.Teardown(ctx)
		}
		os.RemoveAll(filepath.Join("/run/skiff", "skiff-"+node))
	})
	waitFor(t, "node Ready", func() bool {
		if c == nil {
			c, _ = client.FromFile(filepath.Join(dataDir, "admin.conf"))
		}
		if c == nil {
			return false
		}
		n, err := client.Get[*api.Node](ctx, c, "", node)
		return err == nil && n.Spec.PodCIDR != "" && api.IsNodeReady(n)
	})
	archive, err := images.BuildWebImage(dir, images.WebRef)
	if err != nil {
		t.Fatal(err)
	}
	imp := exec.Command(filepath.Join(bin, "skiff"), "image", "import", archive)
	imp.Env = append(os.Environ(), "SKIFF_CONFIG="+filepath.Join(dataDir, "admin.conf"))
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("skiff image import: %v: %s", err, out)
	}
	if _, err := client.Create(ctx, c, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "bench"}}); err != nil {
		t.Fatal(err)
	}
	// One pod first: the bridge, the first CNI ADD and the image's
	// snapshot are one-time costs of a node, not of a pod start.
	times := &startTimes{created: map[string]time.Time{}, running: map[string]time.Time{}, ready: map[string]time.Time{}, allReady: make(chan struct{})}
	if _, err := client.Create(ctx, c, webPod("warmup")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "warm-up pod Ready", func() bool {
		p, err := client.Get[*api.Pod](ctx, c, "bench", "warmup")
		return err == nil && api.IsPodReady(p)
	})
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	lw := client.NewListWatch(c, client.ResourceOf[*api.Pod](), "bench", client.ListWatchOptions{LabelSelector: "bench=start"}, times)
	go lw.Run(wctx)
	time.Sleep(500 * time.Millisecond) // the watch is established

	var wg sync.WaitGroup
	for i := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("web-%02d", i)
			times.mu.Lock()
			times.created[name] = time.Now()
			times.mu.Unlock()
			if _, err := client.Create(ctx, c, webPod(name)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	select {
	case <-times.allReady:
	case <-time.After(3 * time.Minute):
		t.Fatalf("only %d of %d pods Ready after 3 minutes; log %s", len(times.ready), pods, logFile.Name())
	}
	times.mu.Lock()
	var running, ready []time.Duration
	for name, created := range times.created {
		running = append(running, times.running[name].Sub(created))
		ready = append(ready, times.ready[name].Sub(created))
	}
	times.mu.Unlock()
	fmt.Printf("BENCH pod_start_running_p50_ms %.0f ms\n", percentile(running, 0.50))
	fmt.Printf("BENCH pod_start_running_p99_ms %.0f ms\n", percentile(running, 0.99))
	fmt.Printf("BENCH pod_start_ready_p99_ms %.0f ms\n", percentile(ready, 0.99))
	fmt.Printf("BENCH allinone_rss_30_pods_mb %.0f MB\n", vmRSSMB(t, skiffd.Process.Pid))
}

func webPod(name string) *api.Pod {
	return &api.Pod{
		ObjectMeta: api.ObjectMeta{Namespace: "bench", Name: name, Labels: map[string]string{"bench": "start"}},
		Spec: api.PodSpec{Containers: []api.Container{{
			Name: "web", Image: images.WebRef, ImagePullPolicy: "Never",
			ReadinessProbe: &api.Probe{ProbeHandler: api.ProbeHandler{TCPSocket: &api.TCPSocketAction{Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1},
		}}},
	}
}

func vmRSSMB(t *testing.T, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		var kb float64
		if _, err := fmt.Sscanf(line, "VmRSS: %f kB", &kb); err == nil {
			return kb / 1024
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

var logPath string

// childEnv is the environment without SKIFF_* variables, which skiffd
// would read as configuration keys (SKIFF_BENCH is not one).
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SKIFF_") {
			env = append(env, kv)
		}
	}
	return env
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if ok() {
			return
		}
	}
	log, _ := os.ReadFile(logPath)
	t.Fatalf("%s: not within 2 minutes; skiffd log:\n%s", what, log)
}

// deleteNamespace deletes the bench pods and waits until the agent has
// removed them, so no container outlives the benchmark.
func deleteNamespace(t *testing.T, c *client.Client, ns string) {
	ctx := context.Background()
	client.Delete[*api.Namespace](ctx, c, "", ns, client.DeleteOptions{})
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		list, err := client.List[*api.Pod](ctx, c, ns, client.ListOptions{})
		if (err == nil && len(list.Items) == 0) || api.IsNotFound(err) {
			return
		}
		if err == nil {
			for _, p := range list.Items {
				client.Delete[*api.Pod](ctx, c, ns, p.Name, client.DeleteOptions{})
			}
		}
	}
	t.Errorf("bench pods still present 2 minutes after deleting namespace %s", ns)
}
