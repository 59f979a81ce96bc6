package multinode

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/sdk/network"
	"github.com/skiff-sh/skiff/test/harness"
	"github.com/skiff-sh/skiff/test/images"
)

// Real agents: `skiffd server` on the host side of the underlay and one
// `skiffd agent` (private containerd, runc, CNI) per node namespace, the
// fabric planned by the configured backend.

func TestMain(m *testing.M) {
	code := m.Run()
	harness.RemoveBinaries()
	os.Exit(code)
}

func backendConfig(backend string) string { return "network: {backend: " + backend + "}\n" }

// webContainers is the web image serving on port 80, in a pod template.
const webContainers = `      containers:
        - name: web
          image: ` + images.WebRef + `
          imagePullPolicy: Never
          env: [{name: PORT, value: "80"}]
          readinessProbe: {httpGet: {path: /ready, port: 80}, periodSeconds: 1}
`

// spreadWeb is 3 web replicas, at most one per node.
const spreadWeb = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            - labelSelector: {matchLabels: {app: web}}
              topologyKey: kubernetes.io/hostname
` + webContainers

// pinnedWeb is one web pod bound to node.
func pinnedWeb(name, node string) string {
	return `apiVersion: v1
kind: Pod
metadata: {name: ` + name + `, namespace: default, labels: {app: pinned}}
spec:
  nodeName: ` + node + `
  terminationGracePeriodSeconds: 1` + strings.ReplaceAll("\n"+webContainers, "\n    ", "\n") // a pod spec sits two levels higher
}

var hostnameRE = regexp.MustCompile(`hostname=(\S+)`)

// checkPodMesh asserts that every node and every pod reaches every pod by
// its IP, across nodes, and that each answer comes from the pod asked.
func checkPodMesh(t *testing.T, s *harness.SkiffCluster, pods []*api.Pod) {
	t.Helper()
	for _, n := range s.Nodes() {
		for _, to := range pods {
			var body string
			s.Eventually(t, nil, 20*time.Second, "node "+n.Name+" -> pod "+to.Name, func() (err error) {
				body, err = harness.HTTPGet(n.NetNS, harness.URL(to.Status.PodIP, 80))
				return err
			})
			if m := hostnameRE.FindStringSubmatch(body); m == nil || m[1] != to.Name {
				t.Errorf("node %s -> %s (%s): answered %q", n.Name, to.Name, to.Status.PodIP, body)
			}
		}
	}
	script := ""
	for _, to := range pods {
		script += fmt.Sprintf("timeout 5 wget -q -O- %s 2>&1 || echo FAILED %s; ", harness.URL(to.Status.PodIP, 80), to.Status.PodIP)
	}
	for _, from := range pods {
		var out string
		// A just restarted agent may not serve exec yet.
		s.Eventually(t, nil, 20*time.Second, "exec in "+from.Name, func() (err error) {
			out, err = s.Server.Skiff(nil, "exec", from.Name, "--", "sh", "-c", script)
			if err == nil && strings.Contains(out, "FAILED") {
				err = fmt.Errorf("pod %s on %s -> every pod:\n%s", from.Name, from.Spec.NodeName, out)
			}
			return err
		})
		for _, to := range pods {
			if !strings.Contains(out, "hostname="+to.Name+" ") {
				t.Errorf("pod %s -> pod %s (%s, on %s): no answer in\n%s", from.Name, to.Name, to.Status.PodIP, to.Spec.NodeName, out)
			}
		}
	}
}

// spreadPods starts the spread Deployment and checks it covers 3 nodes.
func spreadPods(t *testing.T, s *harness.SkiffCluster) []*api.Pod {
	t.Helper()
	s.Apply(t, spreadWeb)
	pods := s.ReadyPods(t, "app=web", 3)
	nodes := map[string]bool{}
	for _, p := range pods {
		nodes[p.Spec.NodeName] = true
	}
	if len(nodes) != 3 {
		t.Fatalf("3 replicas on %d nodes, want one per node: %v", len(nodes), nodes)
	}
	return pods
}

// dumps is every live node's host state.
func dumps(t *testing.T, s *harness.SkiffCluster) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, n := range s.Nodes() {
		d, err := harness.Dump(n.NetNS)
		if err != nil {
			t.Fatal(err)
		}
		out[n.Name] = d
	}
	return out
}

// fabricApplied is what an agent logs once its first plan is applied.
const fabricApplied = "network fabric applied"

// restartAgents stops and starts every agent, then waits until each has
// applied a plan and published its backend again.
func restartAgents(t *testing.T, s *harness.SkiffCluster, backend string) {
	t.Helper()
	applied := map[string]int{}
	for _, n := range s.Nodes() {
		a := s.Agents[n.Name]
		applied[n.Name] = a.LogCount(fabricApplied)
		a.SetConfig(t, backendConfig(backend))
		if err := a.Stop(); err != nil {
			t.Fatal(err)
		}
		if err := a.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range s.Nodes() {
		a := s.Agents[n.Name]
		s.Eventually(t, a, 60*time.Second, "agent "+a.Name+" to apply a plan after its restart", func() error {
			if a.LogCount(fabricApplied) == applied[n.Name] {
				return fmt.Errorf("no plan applied since the restart")
			}
			return nil
		})
	}
	waitBackend(t, s, backend)
}

// waitBackend waits until every node publishes backend and its VTEP MAC
// exactly when the backend has one.
func waitBackend(t *testing.T, s *harness.SkiffCluster, backend string) {
	t.Helper()
	for _, n := range s.Nodes() {
		a := s.Agents[n.Name]
		s.Eventually(t, a, 60*time.Second, "node "+a.Name+" on backend "+backend, func() error {
			node, err := client.Get[*api.Node](context.Background(), s.Client, "", a.Name)
			if err != nil {
				return err
			}
			if got := node.Annotations[network.AnnotationBackend]; got != backend {
				return fmt.Errorf("node %s publishes backend %q", a.Name, got)
			}
			if ip := node.Annotations[network.AnnotationPublicIP]; ip != n.IP.String() {
				return fmt.Errorf("node %s publishes public IP %q, want %s", a.Name, ip, n.IP)
			}
			return nil
		})
	}
}

func TestAgentsOverlay(t *testing.T) { testAgents(t, "overlay", "routed") }

func TestAgentsRouted(t *testing.T) { testAgents(t, "routed", "") }

// testAgents runs the multi-node checks on backend, then, with swap set,
// moves the cluster to swap and back.
func testAgents(t *testing.T, backend, swap string) {
	s := harness.StartSkiff(t, harness.Options{Nodes: 3}, backendConfig(backend))
	waitBackend(t, s, backend)
	pods := spreadPods(t, s)

	t.Run("every pod reaches every pod across nodes", func(t *testing.T) {
		checkPodMesh(t, s, pods)
		out, err := s.Server.Skiff(nil, "get", "nodes", "-o", "wide")
		if err != nil || strings.Count(out, " "+backend+"\n") != 3 {
			t.Errorf("get nodes -o wide: want BACKEND %s on 3 nodes: %v\n%s", backend, err, out)
		}
	})

	t.Run("restarting the agents leaves the hosts exactly as they were", func(t *testing.T) {
		before := dumps(t, s)
		restartAgents(t, s, backend)
		for _, n := range s.Nodes() {
			s.WaitNodeReady(t, s.Agents[n.Name])
		}
		after := dumps(t, s)
		for name, d := range before {
			if after[name] != d {
				t.Errorf("node %s changed across the restart:\nbefore:\n%s\nafter:\n%s", name, d, after[name])
			}
		}
		checkPodMesh(t, s, pods)
	})

	t.Run("a joining node gets a subnet and is reachable; a removed node leaves no trace on its peers", func(t *testing.T) {
		peersBefore := dumps(t, s)
		a := s.AddAgent(t, backendConfig(backend))
		node := s.WaitNodeReady(t, a)
		waitBackend(t, s, backend)
		s.Apply(t, pinnedWeb("joiner", a.Name))
		joiner := s.ReadyPods(t, "app=pinned", 1)
		checkPodMesh(t, s, append([]*api.Pod{joiner[0]}, pods...))
		for name, d := range dumps(t, s) {
			if _, old := peersBefore[name]; old && !strings.Contains(d, node.Spec.PodCIDR) {
				t.Errorf("node %s has no route to the new node's subnet %s", name, node.Spec.PodCIDR)
			}
		}

		if out, err := s.Server.Skiff(nil, "delete", "pod", "joiner"); err != nil {
			t.Fatal(err, out)
		}
		s.ReadyPods(t, "app=pinned", 0)
		// Removing a node for good: stop its agent, tear down what it
		// configured (and its cluster DNS registration), delete the Node.
		if err := a.Stop(); err != nil {
			t.Fatal(err)
		}
		if err := a.Teardown(); err != nil {
			t.Fatal(err)
		}
		if out, err := s.Server.Skiff(nil, "delete", "node", a.Name); err != nil {
			t.Fatal(err, out)
		}
		if err := s.RemoveNode(a.Node); err != nil {
			t.Fatal(err)
		}
		delete(s.Agents, a.Node.Name)
		s.Eventually(t, nil, 30*time.Second, "peers back to their state before the join", func() error {
			for name, d := range dumps(t, s) {
				if d != peersBefore[name] {
					return fmt.Errorf("node %s differs from before the join (routes, neighbours or FDB entries of %s left?)", name, a.Node.IP)
				}
			}
			return nil
		})
	})

	if swap == "" {
		return
	}
	t.Run("swapping the backend and back keeps cross-node traffic and leaves nothing behind", func(t *testing.T) {
		restartAgents(t, s, swap)
		s.Eventually(t, nil, 30*time.Second, "no VXLAN device or FDB entry left", func() error {
			for name, d := range dumps(t, s) {
				if strings.Contains(d, "type=vxlan") || strings.Contains(d, "\nfdb ") {
					return fmt.Errorf("node %s still has VXLAN state:\n%s", name, d)
				}
			}
			return nil
		})
		checkPodMesh(t, s, pods)
		restartAgents(t, s, backend)
		s.Eventually(t, nil, 30*time.Second, "VXLAN devices with an FDB entry per peer", func() error {
			for name, d := range dumps(t, s) {
				if !strings.Contains(d, "type=vxlan") || strings.Count(d, "\nfdb ") != 2 {
					return fmt.Errorf("node %s: want a VXLAN device and 2 FDB entries:\n%s", name, d)
				}
			}
			return nil
		})
		checkPodMesh(t, s, pods)
	})
}

// Bad network input stops `skiffd agent` at start with an error naming the
// problem, and the node is left exactly as it was.
func TestAgentRejectsBadNetworkInput(t *testing.T) {
	images.RequireHost(t, "nsenter", "go")
	h := harness.New(t, harness.Options{Nodes: 1})
	n := h.Nodes()[0]
	skiffd, _ := harness.Binaries(t)
	before, err := harness.Dump(n.NetNS)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, config, want string }{
		{"cluster CIDR overlaps services", "agent: {cluster-cidr: 10.96.0.0/12}\nnetwork: {backend: overlay}\n", "overlaps the service CIDR"},
		{"cluster CIDR too small", "agent: {cluster-cidr: 10.244.0.0/24}\nnetwork: {backend: overlay}\n", "too small"},
		{"cluster CIDR holds the node", "agent: {cluster-cidr: 172.31.0.0/16}\nnetwork: {backend: routed}\n", "overlaps the node network"},
		{"VNI out of range", "network: {backend: overlay, args: {vni: 16777216}}\n", "args.vni: must be between 1 and 16777215"},
		{"unknown backend", "network: {backend: weave}\n", `"weave"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := n.DataDir + "/bad.yaml"
			if err := os.WriteFile(conf, []byte(tc.config), 0o644); err != nil {
				t.Fatal(err)
			}
			dataDir := t.TempDir()
			cmd := exec.Command("nsenter", "--net="+n.NetNS, skiffd, "agent", "--config", conf, "--server", "https://"+h.HostIP.String()+":1",
				"--token", "t", "--data-dir", dataDir, "--node-name", "bad-"+h.ID, "--node-ip", n.IP.String())
			cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Fatalf("skiffd agent: %v, want an error containing %q:\n%s", err, tc.want, out)
			}
			if entries, _ := os.ReadDir(dataDir); len(entries) > 0 {
				t.Errorf("the agent wrote %d entries in its data dir before failing", len(entries))
			}
			after, err := harness.Dump(n.NetNS)
			if err != nil {
				t.Fatal(err)
			}
			if after != before {
				t.Errorf("the node changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}
