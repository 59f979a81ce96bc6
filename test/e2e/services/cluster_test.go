// Package services is the one-node end-to-end test of Services: skiffd with
// real containerd, runc, CNI and iptables in a network namespace of its own,
// the example web app behind ClusterIP and NodePort Services, and cluster
// DNS. Run as root: `make e2e` or `sudo -E go test ./test/e2e/services`.
package services

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/plugins/proxy/iptables"
	"github.com/skiff-sh/skiff/test/harness"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.RemoveBinaries()
	os.Exit(code)
}

// cluster is `skiffd server` (API server, controllers, scheduler and the
// local agent with its private containerd) running as a child process in a
// harness node's network namespace, so its bridge, iptables rules and DNS
// server never touch the host's.
type cluster struct {
	t       *testing.T
	node    *harness.Node
	netns   string // the namespace's name for `ip netns exec`
	skiffd  string
	skiff   string
	dataDir string
	config  string
	logPath string
	client  *client.Client
	name    string // the Node's name

	cmd  *exec.Cmd
	done chan error
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	skiffd, skiff := harness.Binaries(t)
	h := harness.New(t, harness.Options{Nodes: 1})
	n := h.Nodes()[0]
	c := &cluster{t: t, node: n, netns: filepath.Base(n.NetNS), skiffd: skiffd, skiff: skiff, dataDir: t.TempDir()}
	// A real node has a default route; without one the kernel refuses
	// connections to cluster IPs before the proxy's OUTPUT rules see them.
	if out, err := exec.Command("ip", "-n", c.netns, "route", "add", "default", "via", h.HostIP.String()).CombinedOutput(); err != nil {
		t.Fatalf("default route in %s: %v: %s", c.netns, err, out)
	}
	// A name of its own: the private containerd's state lives in
	// /run/skiff/skiff-<node name>, which the test removes at the end.
	nodeName := "svc-" + h.ID
	t.Cleanup(func() { os.RemoveAll(filepath.Join("/run/skiff", "skiff-"+nodeName)) })
	ip := n.IP.String()
	c.name = nodeName
	c.config = filepath.Join(c.dataDir, "skiffd.yaml")
	c.logPath = filepath.Join(c.dataDir, "skiffd.log")
	conf := fmt.Sprintf(`data-dir: %s
listen: %s:6443
api: {extra-sans: [%s]}
agent: {node-name: %s, node-ip: %s, listen: "%s:10250"}
`, filepath.Join(c.dataDir, "state"), ip, ip, nodeName, ip, ip)
	if err := os.WriteFile(c.config, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	c.start(t)
	t.Cleanup(c.stop)
	var err error
	if c.client, err = client.FromFile(c.adminConf()); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *cluster) adminConf() string { return filepath.Join(c.dataDir, "state", "admin.conf") }

// start runs skiffd and waits until the API server answers.
func (c *cluster) start(t *testing.T) {
	t.Helper()
	logFile, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	// nsenter execs skiffd (the PID is skiffd's own) and changes only the
	// network namespace: `ip netns exec` would also remount /sys, hiding the
	// cgroup mounts runc needs.
	c.cmd = exec.Command("nsenter", "--net="+c.node.NetNS, c.skiffd, "server", "--config", c.config)
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	if err := c.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start skiffd: %v", err)
	}
	c.done = make(chan error, 1)
	go func() { c.done <- c.cmd.Wait(); logFile.Close() }()
	c.eventually(t, 60*time.Second, "the API server to answer", func() error {
		select {
		case err := <-c.done:
			c.done <- err
			return fmt.Errorf("skiffd exited: %v", err)
		default:
		}
		_, err := c.run(nil, "get", "nodes")
		return err
	})
}

// stop ends skiffd with SIGTERM (as an init system would) and waits. Pods'
// containers keep running, as they do across a real restart.
func (c *cluster) stop() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		c.t.Errorf("skiffd did not stop within 30s of SIGTERM; killing it")
		c.cmd.Process.Kill()
		<-c.done
	}
	c.cmd = nil
}

// run runs the skiff CLI against the cluster.
func (c *cluster) run(stdin []byte, args ...string) (string, error) {
	cmd := exec.Command(c.skiff, args...)
	cmd.Env = append(os.Environ(), "SKIFF_CONFIG="+c.adminConf())
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("skiff %s: %v: %s%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String(), nil
}

func (c *cluster) skiffOK(t *testing.T, stdin []byte, args ...string) string {
	t.Helper()
	out, err := c.run(stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// eventually retries fn until it succeeds or timeout passes, then fails the
// test with fn's last error and the tail of skiffd's log.
func (c *cluster) eventually(t *testing.T, timeout time.Duration, what string, fn func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if err = fn(); err == nil {
			return
		}
	}
	t.Fatalf("timed out after %s waiting for %s: %v\n%s", timeout, what, err, c.diagnostics())
}

// diagnostics is what a failure report needs: the objects and skiffd's log.
func (c *cluster) diagnostics() string {
	var b strings.Builder
	for _, args := range [][]string{{"get", "pods,services,endpoints", "-A", "-o", "wide"}, {"describe", "pods"}} {
		out, err := c.run(nil, args...)
		fmt.Fprintf(&b, "--- skiff %s ---\n%s", strings.Join(args, " "), out)
		if err != nil {
			fmt.Fprintf(&b, "(%v)\n", err)
		}
	}
	fmt.Fprintf(&b, "--- skiffd log (tail) ---\n%s", c.logTail(60))
	return b.String()
}

func (c *cluster) logTail(lines int) string {
	data, _ := os.ReadFile(c.logPath)
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

// rules returns the node's nat and filter rules that belong to skiff's
// proxy, as iptables-save prints them without counters.
func (c *cluster) rules(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", c.netns, "iptables-save").CombinedOutput()
	if err != nil {
		t.Fatalf("iptables-save in %s: %v: %s", c.netns, err, out)
	}
	var b strings.Builder
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, iptables.Prefix) {
			if i := strings.Index(line, " ["); strings.HasPrefix(line, ":") && i > 0 {
				line = line[:i] // chain declarations carry counters
			}
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// dialer opens connections from the node's network namespace, as a process
// on the node would.
func (c *cluster) dialer() func(ctx context.Context, network, addr string) (net.Conn, error) {
	return harness.DialerIn(c.node.NetNS)
}

// httpFrom returns a client whose connections start in the node's
// namespace; keepAlive false makes every request a new connection, so the
// proxy balances each one.
func (c *cluster) httpFrom(keepAlive bool) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: c.dialer(), DisableKeepAlives: !keepAlive}}
}

// get fetches url with hc and returns the body.
func get(hc *http.Client, url string) (string, error) {
	resp, err := hc.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return string(body), err
}

// isRefused reports a connection refused (an ICMP port unreachable from
// the proxy's REJECT, or a RST).
func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
