package harness

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/test/images"
)

// SkiffCluster is a real skiff cluster on a harness: the server on the
// host side and an agent per node, the example web image imported on every
// node.
type SkiffCluster struct {
	*Cluster
	Server *Server
	Client *client.Client
	// Agents by harness node name.
	Agents map[string]*Agent

	webImage string // the web image's tarball
}

// RequireSkiffHost skips t unless the machine has what real agents need.
func RequireSkiffHost(t testing.TB) {
	images.RequireHost(t, "containerd", "runc", "/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback",
		"iptables", "iptables-save", "iptables-restore", "nsenter", "go", images.BusyboxPath)
}

// StartSkiff starts a cluster of opts.Nodes nodes whose agents run with
// agentConfig (skiffd.yaml keys) and waits until every node is Ready and
// has the web image. t's cleanup deletes the default namespace's workloads
// (and waits for their pods to go) before it stops the agents.
func StartSkiff(t testing.TB, opts Options, agentConfig string) *SkiffCluster {
	t.Helper()
	RequireSkiffHost(t)
	n := opts.Nodes
	if n == 0 {
		n = 3
	}
	// New makes no nodes here: AddAgent does, with their agents.
	s := &SkiffCluster{Cluster: New(t, Options{Underlay: opts.Underlay, MTU: opts.MTU}), Agents: map[string]*Agent{}}
	s.Server = s.StartServer(t, "")
	var err error
	if s.Client, err = client.FromFile(s.Server.AdminConf); err != nil {
		t.Fatal(err)
	}
	if s.webImage, err = images.BuildWebImage(t.TempDir(), images.WebRef); err != nil {
		t.Fatal(err)
	}
	for range n {
		s.AddAgent(t, agentConfig)
	}
	t.Cleanup(func() { s.deleteWorkloads(t) })
	return s
}

// AddAgent creates a node with a default route to the host (a real node
// has one; without it the kernel refuses cluster IPs before the proxy's
// rules see them), starts its agent, waits until its Node is Ready and
// imports the web image there.
func (s *SkiffCluster) AddAgent(t testing.TB, config string) *Agent {
	t.Helper()
	n, err := s.AddNode(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	err = n.Do(func() error { return netlink.RouteAdd(&netlink.Route{Gw: s.HostIP}) })
	if err != nil {
		t.Fatalf("node %s: default route: %v", n.Name, err)
	}
	a := s.Server.StartAgent(t, n, config)
	s.Agents[n.Name] = a
	// Runs before the agent stops: a pod's network namespace and
	// containers go only through its agent.
	t.Cleanup(func() { s.deletePods(t, func(p *api.Pod) bool { return p.Spec.NodeName == a.Name }) })
	s.WaitNodeReady(t, a)
	s.Eventually(t, a, 60*time.Second, "node "+a.Name+" to accept the web image", func() error {
		_, err := s.Server.Skiff(nil, "image", "import", s.webImage, "--node", a.Name)
		return err
	})
	return a
}

// WaitNodeReady waits until a's Node is Ready with a pod subnet and
// returns it.
func (s *SkiffCluster) WaitNodeReady(t testing.TB, a *Agent) *api.Node {
	t.Helper()
	var node *api.Node
	s.Eventually(t, a, 60*time.Second, "node "+a.Name+" Ready", func() (err error) {
		if node, err = client.Get[*api.Node](context.Background(), s.Client, "", a.Name); err != nil {
			return err
		}
		if c := api.GetNodeCondition(&node.Status, "Ready"); c == nil || c.Status != "True" || node.Spec.PodCIDR == "" {
			return fmt.Errorf("node %s: not Ready with a pod subnet yet", a.Name)
		}
		return nil
	})
	return node
}

// Eventually retries fn until it succeeds; on timeout it fails t with
// fn's last error and the log tails of the server and of agent (if any).
func (s *SkiffCluster) Eventually(t testing.TB, agent *Agent, timeout time.Duration, what string, fn func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if err = fn(); err == nil {
			return
		}
		if agent != nil {
			if exitErr, done := agent.Exited(); done {
				err = fmt.Errorf("agent on %s exited: %v", agent.Node.Name, exitErr)
				break
			}
		}
	}
	msg := fmt.Sprintf("timed out after %s waiting for %s: %v\n", timeout, what, err)
	for _, a := range s.agentList() {
		if agent == nil || a == agent {
			msg += fmt.Sprintf("--- agent on %s (tail) ---\n%s\n", a.Node.Name, a.LogTail(25))
		}
	}
	pods, _ := s.Server.Skiff(nil, "get", "pods,nodes", "-A", "-o", "wide")
	t.Fatalf("%s--- skiff get pods,nodes ---\n%s--- server (tail) ---\n%s", msg, pods, s.Server.LogTail(20))
}

func (s *SkiffCluster) agentList() []*Agent {
	var out []*Agent
	for _, n := range s.Nodes() {
		if a, ok := s.Agents[n.Name]; ok {
			out = append(out, a)
		}
	}
	return out
}

// Apply applies a manifest.
func (s *SkiffCluster) Apply(t testing.TB, manifest string) {
	t.Helper()
	if out, err := s.Server.Skiff([]byte(manifest), "apply", "-f", "-"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

// ReadyPods waits until exactly n pods of the default namespace match
// selector, all Running and Ready with an IP, and returns them by name.
func (s *SkiffCluster) ReadyPods(t testing.TB, selector string, n int) []*api.Pod {
	t.Helper()
	var ready []*api.Pod
	s.Eventually(t, nil, 3*time.Minute, fmt.Sprintf("%d ready pods %s", n, selector), func() error {
		list, err := client.List[*api.Pod](context.Background(), s.Client, "default", client.ListOptions{LabelSelector: selector})
		if err != nil {
			return err
		}
		ready = ready[:0]
		for _, p := range list.Items {
			if p.DeletionTimestamp == nil && p.Status.Phase == "Running" && api.IsPodReady(p) && p.Status.PodIP != "" {
				ready = append(ready, p)
			}
		}
		if len(ready) != n || len(list.Items) != n {
			return fmt.Errorf("%d of %d pods ready", len(ready), len(list.Items))
		}
		return nil
	})
	slices.SortFunc(ready, func(a, b *api.Pod) int { return strings.Compare(a.Name, b.Name) })
	return ready
}

// deleteWorkloads deletes the default namespace's Deployments and
// Services, then its pods.
func (s *SkiffCluster) deleteWorkloads(t testing.TB) {
	for _, kind := range []string{"deployments", "services"} {
		s.Server.Skiff(nil, "delete", kind, "--all", "-n", "default")
	}
	s.deletePods(t, func(*api.Pod) bool { return true })
}

// deletePods deletes the default namespace's pods that match and waits
// until they are gone, so no container or pod namespace outlives the test.
func (s *SkiffCluster) deletePods(t testing.TB, match func(*api.Pod) bool) {
	ctx := context.Background()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(250 * time.Millisecond) {
		list, err := client.List[*api.Pod](ctx, s.Client, "default", client.ListOptions{})
		if err != nil {
			list = &client.TypedList[*api.Pod]{}
		}
		left := 0
		for _, p := range list.Items {
			if match(p) {
				left++
				if p.DeletionTimestamp == nil {
					client.Delete[*api.Pod](ctx, s.Client, "default", p.Name, client.DeleteOptions{})
				}
			}
		}
		if err == nil && left == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("cleanup: %d pods left after 2 minutes (%v)", left, err)
			return
		}
	}
}

// HTTPGet fetches url with a new connection opened inside the namespace
// at netns, as a process there would ("" is the caller's namespace).
func HTTPGet(netns, url string) (string, error) {
	tr := &http.Transport{DisableKeepAlives: true}
	if netns != "" {
		tr.DialContext = DialerIn(netns)
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: tr}
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

// URL is http://ip:port/.
func URL(ip string, port int) string { return "http://" + net.JoinHostPort(ip, fmt.Sprint(port)) + "/" }
