package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
)

// eventually polls check until it returns nil or timeout passes, then
// fails with the last error. Timeouts are generous: they bound a hang, they
// do not measure speed.
func eventually(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = check(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after %s: %v\nskiffd log tail:\n%s", what, timeout, err, shared.logTail())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// namespace creates a namespace for one test; destroy removes it.
func (c *cluster) namespace(t *testing.T, name string) string {
	t.Helper()
	ns := "e2e-" + name
	c.mustSkiff(t, "create", "namespace", ns)
	return ns
}

// apply applies a manifest given as text.
func (c *cluster) apply(t *testing.T, manifest string) {
	t.Helper()
	f := filepath.Join(c.dir, fmt.Sprintf("manifest-%d.yaml", time.Now().UnixNano()))
	if err := os.WriteFile(f, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	c.mustSkiff(t, "apply", "-f", f)
}

func (c *cluster) pod(t *testing.T, ns, name string) *api.Pod {
	t.Helper()
	p, err := client.Get[*api.Pod](context.Background(), c.client, ns, name)
	if err != nil {
		t.Fatalf("get pod %s/%s: %v", ns, name, err)
	}
	return p
}

func (c *cluster) pods(t *testing.T, ns, selector string) []*api.Pod {
	t.Helper()
	list, err := client.List[*api.Pod](context.Background(), c.client, ns, client.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatalf("list pods in %s: %v", ns, err)
	}
	return list.Items
}

// getPoRow is one row of `skiff get po`: READY, STATUS and RESTARTS as the
// user sees them.
type getPoRow struct{ ready, status, restarts string }

func (c *cluster) getPo(t *testing.T, ns, name string) (getPoRow, error) {
	t.Helper()
	out, errOut, code := c.skiff("get", "po", name, "-n", ns, "--no-headers")
	if code != 0 {
		return getPoRow{}, fmt.Errorf("skiff get po %s: exit %d: %s", name, code, errOut)
	}
	f := strings.Fields(out)
	if len(f) < 4 {
		return getPoRow{}, fmt.Errorf("skiff get po %s: unexpected output %q", name, out)
	}
	return getPoRow{ready: f[1], status: f[2], restarts: f[3]}, nil
}

func containerStatus(p *api.Pod) *api.ContainerStatus {
	if len(p.Status.ContainerStatuses) == 0 {
		return nil
	}
	return &p.Status.ContainerStatuses[0]
}

func podReady(p *api.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == "True"
		}
	}
	return false
}

// httpGet fetches url from the test process (the host's network).
func httpGet(url string) (string, error) {
	hc := &http.Client{Timeout: 3 * time.Second}
	resp, err := hc.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("GET %s: HTTP %d: %s", url, resp.StatusCode, body)
	}
	return string(body), err
}

// containerd opens the node's private containerd, in the agent's namespace.
func (c *cluster) containerd(t *testing.T) (*containerd.Client, context.Context) {
	t.Helper()
	ns := "skiff-" + c.node
	cl, err := containerd.New(filepath.Join("/run/skiff", ns, "containerd", "containerd.sock"))
	if err != nil {
		t.Fatalf("connect to the node's containerd: %v", err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl, namespaces.WithNamespace(context.Background(), ns)
}

// taskPID is the host PID of a container's main process.
func (c *cluster) taskPID(t *testing.T, containerID string) int {
	t.Helper()
	cl, ctx := c.containerd(t)
	ctr, err := cl.LoadContainer(ctx, strings.TrimPrefix(containerID, "skiff://"))
	if err != nil {
		t.Fatalf("container %s: %v", containerID, err)
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		t.Fatalf("task of container %s: %v", containerID, err)
	}
	return int(task.Pid())
}

// podContainers counts the containerd containers of a pod.
func (c *cluster) podContainers(t *testing.T, uid string) int {
	t.Helper()
	cl, ctx := c.containerd(t)
	list, err := cl.Containers(ctx, fmt.Sprintf("labels.%q==%s", "skiff.pod.uid", uid))
	if err != nil {
		t.Fatalf("list containers of pod %s: %v", uid, err)
	}
	return len(list)
}
