package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/plugins/network/bridge"
	"github.com/skiff-sh/skiff/test/images"
)

// clusterCIDR is a range only these tests use, so their pods never look
// like a real cluster's.
const clusterCIDR = "10.213.0.0/16"

// cluster is one `skiffd server` child process (control plane and a local
// agent on a private containerd) and the paths the tests drive it with.
type cluster struct {
	bin      string // dir holding skiffd and skiff
	dir      string // temp root: config, data, images
	dataDir  string
	config   string
	node     string
	logPath  string
	client   *client.Client
	adminCfg string

	mu  sync.Mutex
	cmd *exec.Cmd
}

var (
	shared     *cluster
	sharedErr  error
	sharedOnce sync.Once
	buildDir   string
)

// TestMain builds the binaries the way users get them and, after the
// tests, stops the shared cluster and removes everything it created.
func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		if err := shared.destroy(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e cleanup:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// requireCluster returns the shared cluster, starting it on first use; it
// skips (fails with CI=true) without root, containerd, runc or the CNI
// plugins.
func requireCluster(t *testing.T) *cluster {
	t.Helper()
	images.RequireHost(t, "containerd", "runc", "iptables", "/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback", images.BusyboxPath, "go")
	sharedOnce.Do(func() { shared, sharedErr = startCluster() })
	if sharedErr != nil {
		t.Fatalf("start cluster: %v", sharedErr)
	}
	return shared
}

func startCluster() (*cluster, error) {
	if _, err := netlink.LinkByName(bridge.DefaultBridge); err == nil {
		return nil, fmt.Errorf("bridge %s exists: a skiff cluster runs on this machine (stop it with `sudo scripts/down.sh --purge`, or `ip link del %s` if it is a leftover)", bridge.DefaultBridge, bridge.DefaultBridge)
	}
	var err error
	if buildDir, err = os.MkdirTemp("", "skiff-e2e-bin-"); err != nil {
		return nil, err
	}
	build := exec.Command("go", "build", "-o", buildDir+"/", "github.com/skiff-sh/skiff/cmd/skiffd", "github.com/skiff-sh/skiff/cmd/skiff")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build skiffd skiff: %v\n%s", err, out)
	}
	dir, err := os.MkdirTemp("", "skiff-e2e-")
	if err != nil {
		return nil, err
	}
	suffix := make([]byte, 3)
	rand.Read(suffix)
	c := &cluster{
		bin: buildDir, dir: dir, dataDir: filepath.Join(dir, "data"), config: filepath.Join(dir, "skiffd.yaml"),
		node: "e2e-" + hex.EncodeToString(suffix), logPath: filepath.Join(dir, "skiffd.log"),
	}
	c.adminCfg = filepath.Join(c.dataDir, "admin.conf")
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`data-dir: %s
listen: 127.0.0.1:%d
agent:
  enabled: true
  node-name: %s
  cluster-cidr: %s
  listen: ":0"
`, c.dataDir, port, c.node, clusterCIDR)
	if err := os.WriteFile(c.config, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	if err := c.start(); err != nil {
		c.destroy()
		return nil, err
	}
	if err := c.importImage(); err != nil {
		c.destroy()
		return nil, err
	}
	return c, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs `skiffd server --config` and waits for the node to be Ready.
func (c *cluster) start() error {
	logFile, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(filepath.Join(c.bin, "skiffd"), "server", "--config", c.config)
	// HOME in the temp dir: skiffd writes ~/.skiff/config when it is absent.
	// SKIFF_* variables would be read as configuration keys.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SKIFF_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "HOME="+c.dir)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start skiffd: %w", err)
	}
	c.mu.Lock()
	c.cmd = cmd
	c.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if c.client == nil {
			if cl, err := client.FromFile(c.adminCfg); err == nil {
				c.client = cl
			}
		}
		if c.client != nil && c.nodeReady() {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("node %s not Ready 60 s after starting skiffd; log %s:\n%s", c.node, c.logPath, c.logTail())
}

func (c *cluster) nodeReady() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, err := client.Get[*api.Node](ctx, c.client, "", c.node)
	if err != nil || n.Spec.PodCIDR == "" {
		return false
	}
	for _, cond := range n.Status.Conditions {
		if cond.Type == "Ready" && cond.Status == "True" {
			return true
		}
	}
	return false
}

// stop sends SIGTERM and waits for skiffd to exit; the pods keep running.
func (c *cluster) stop() error {
	c.mu.Lock()
	cmd := c.cmd
	c.cmd = nil
	c.mu.Unlock()
	if cmd == nil {
		return nil
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		return nil
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("skiffd did not exit within 30 s of SIGTERM")
	}
}

func (c *cluster) restart() error {
	if err := c.stop(); err != nil {
		return err
	}
	return c.start()
}

func (c *cluster) logTail() string {
	data, _ := os.ReadFile(c.logPath)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return strings.Join(lines[max(0, len(lines)-40):], "\n")
}

// skiff runs the CLI and returns its stdout, stderr and exit code.
func (c *cluster) skiff(args ...string) (stdout, stderr string, code int) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "skiff"), args...)
	cmd.Env = append(os.Environ(), "SKIFF_CONFIG="+c.adminCfg, "HOME="+c.dir)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code == 0 {
		code = -1
	}
	return out.String(), errOut.String(), code
}

// mustSkiff runs the CLI and fails the test unless it exits 0.
func (c *cluster) mustSkiff(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := c.skiff(args...)
	if code != 0 {
		t.Fatalf("skiff %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func (c *cluster) importImage() error {
	archive, err := images.BuildWebImage(c.dir, images.WebRef)
	if err != nil {
		return fmt.Errorf("build the example image: %w", err)
	}
	if out, errOut, code := c.skiff("image", "import", archive); code != 0 {
		return fmt.Errorf("skiff image import: exit %d: %s%s", code, out, errOut)
	}
	return nil
}

// destroy deletes every pod the tests left (the agent stops them and
// releases their addresses), stops skiffd and removes the pod network and
// the temp dir.
func (c *cluster) destroy() error {
	var errs []string
	if c.client != nil && c.cmdRunning() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		if err := deleteAllPods(ctx, c.client); err != nil {
			errs = append(errs, err.Error())
		}
		cancel()
	}
	if err := c.stop(); err != nil {
		errs = append(errs, err.Error())
	}
	// The service proxy's rules outlive skiffd by design (as kube-proxy's).
	if out, err := exec.Command(filepath.Join(c.bin, "skiffd"), "agent", "--teardown", "--node-name", c.node).CombinedOutput(); err != nil {
		errs = append(errs, fmt.Sprintf("skiffd agent --teardown: %v: %s", err, out))
	}
	n, err := bridge.New(bridge.Config{Subnet: c.podCIDR(), DataDir: filepath.Join(c.dataDir, "agent", "network")})
	if err == nil {
		err = n.Teardown(context.Background())
	}
	if err != nil {
		errs = append(errs, "pod network teardown: "+err.Error())
	}
	os.RemoveAll(filepath.Join("/run/skiff", "skiff-"+c.node))
	os.RemoveAll(c.dir)
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func (c *cluster) cmdRunning() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cmd != nil
}

// podCIDR is the node's subnet as the agent leased it.
func (c *cluster) podCIDR() string {
	if c.client == nil {
		return "10.213.0.0/24"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := client.Get[*api.Node](ctx, c.client, "", c.node)
	if err != nil || n.Spec.PodCIDR == "" {
		return "10.213.0.0/24"
	}
	return n.Spec.PodCIDR
}

// deleteAllPods deletes every workload and pod outside the system
// namespaces and waits until the agent has removed them.
func deleteAllPods(ctx context.Context, c *client.Client) error {
	nss, err := client.List[*api.Namespace](ctx, c, "", client.ListOptions{})
	if err != nil {
		return err
	}
	for _, ns := range nss.Items {
		if strings.HasPrefix(ns.Name, "e2e-") {
			client.Delete[*api.Namespace](ctx, c, "", ns.Name, client.DeleteOptions{})
		}
	}
	for {
		pods, err := client.List[*api.Pod](ctx, c, "", client.ListOptions{})
		if err == nil && len(pods.Items) == 0 {
			return nil
		}
		if err == nil {
			for _, p := range pods.Items {
				if p.DeletionTimestamp == nil {
					client.Delete[*api.Pod](ctx, c, p.Namespace, p.Name, client.DeleteOptions{})
				}
			}
		}
		select {
		case <-ctx.Done():
			n := -1
			if pods != nil {
				n = len(pods.Items)
			}
			return fmt.Errorf("%d pods still present after cleanup: %v", n, ctx.Err())
		case <-time.After(300 * time.Millisecond):
		}
	}
}
