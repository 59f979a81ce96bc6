package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/test/images"
)

// webPod is a single web pod; extra is appended to its container.
func webPod(ns, name, extra string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s, labels: {app: %s}}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: web
    image: %s
    imagePullPolicy: Never
    ports: [{name: http, containerPort: 8080}]
%s`, name, ns, name, images.WebRef, extra)
}

// shellPod runs script with sh in the example image.
func shellPod(ns, name string, grace int, script string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s}
spec:
  terminationGracePeriodSeconds: %d
  containers:
  - name: sh
    image: %s
    imagePullPolicy: Never
    command: ["sh", "-c", %q]
`, name, ns, grace, images.WebRef, script)
}

func waitRunning(t *testing.T, c *cluster, ns, name string) *api.Pod {
	t.Helper()
	var p *api.Pod
	eventually(t, 60*time.Second, "pod "+name+" Running and Ready", func() error {
		p = c.pod(t, ns, name)
		if p.Status.Phase != "Running" || !podReady(p) {
			return fmt.Errorf("phase %q ready %v: %+v", p.Status.Phase, podReady(p), p.Status.ContainerStatuses)
		}
		return nil
	})
	return p
}

// The example Deployment runs for real: three pods with addresses from
// the node's subnet, answering HTTP, with logs and exec through the API
// server.
func TestDeploymentServesHTTPLogsAndExec(t *testing.T) {
	c := requireCluster(t)
	manifest, err := os.ReadFile("../../conf/examples/web.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ns := c.namespace(t, "web")
	c.apply(t, strings.ReplaceAll(string(manifest), "namespace: default", "namespace: "+ns))
	var pods []*api.Pod
	eventually(t, 90*time.Second, "deployment web 3/3 Running and Ready", func() error {
		pods = c.pods(t, ns, "app=web")
		ready := 0
		for _, p := range pods {
			if p.Status.Phase == "Running" && podReady(p) {
				ready++
			}
		}
		if len(pods) != 3 || ready != 3 {
			return fmt.Errorf("%d pods, %d Running and Ready", len(pods), ready)
		}
		return nil
	})
	_, subnet, err := net.ParseCIDR(c.podCIDR())
	if err != nil {
		t.Fatalf("node pod CIDR: %v", err)
	}
	ips := map[string]bool{}
	for _, p := range pods {
		ip := net.ParseIP(p.Status.PodIP)
		if ip == nil || !subnet.Contains(ip) || ips[p.Status.PodIP] {
			t.Fatalf("pod %s IP %q: want a distinct address in the node subnet %s", p.Name, p.Status.PodIP, subnet)
		}
		ips[p.Status.PodIP] = true
		body, err := httpGet("http://" + p.Status.PodIP + ":8080/")
		if want := fmt.Sprintf("hostname=%s ip=%s", p.Name, p.Status.PodIP); err != nil || strings.TrimSpace(body) != want {
			t.Errorf("GET pod %s: %q, %v; want %q", p.Name, body, err, want)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	pod := pods[0]

	t.Run("logs show the request lines, with --tail and -f", func(t *testing.T) {
		httpGet("http://" + pod.Status.PodIP + ":8080/?from=logs")
		eventually(t, 10*time.Second, "request line in skiff logs", func() error {
			if out := c.mustSkiff(t, "logs", pod.Name, "-n", ns); !strings.Contains(out, "GET / 200") {
				return fmt.Errorf("logs lack %q:\n%s", "GET / 200", out)
			}
			return nil
		})
		if out := c.mustSkiff(t, "logs", pod.Name, "-n", ns, "--tail", "1"); strings.Count(out, "\n") != 1 {
			t.Errorf("logs --tail 1 printed %d lines:\n%s", strings.Count(out, "\n"), out)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		follow := exec.CommandContext(ctx, filepath.Join(c.bin, "skiff"), "logs", "-f", "--tail", "0", pod.Name, "-n", ns)
		follow.Env = append(os.Environ(), "SKIFF_CONFIG="+c.adminCfg)
		stdout, err := follow.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := follow.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { follow.Process.Kill(); follow.Wait() }()
		got := make(chan string, 1)
		go func() {
			var seen strings.Builder
			buf := make([]byte, 4096)
			for {
				n, err := stdout.Read(buf)
				seen.Write(buf[:n])
				if strings.Contains(seen.String(), "/followed-line") || err != nil {
					got <- seen.String()
					return
				}
			}
		}()
		// The line is written after -f started: only following shows it.
		time.Sleep(500 * time.Millisecond)
		httpGet("http://" + pod.Status.PodIP + ":8080/followed-line")
		select {
		case out := <-got:
			if !strings.Contains(out, "GET /followed-line 404") {
				t.Errorf("logs -f did not stream the new request line:\n%s", out)
			}
		case <-ctx.Done():
			t.Errorf("logs -f: no new line within 20 s")
		}
	})

	t.Run("exec prints the pod's hostname and exits with the command's code", func(t *testing.T) {
		if out := c.mustSkiff(t, "exec", pod.Name, "-n", ns, "--", "cat", "/etc/hostname"); strings.TrimSpace(out) != pod.Name {
			t.Errorf("exec cat /etc/hostname = %q, want %q", out, pod.Name)
		}
		if _, errOut, code := c.skiff("exec", pod.Name, "-n", ns, "--", "sh", "-c", "exit 3"); code != 3 {
			t.Errorf("exec sh -c 'exit 3': skiff exited %d (stderr %q), want 3", code, errOut)
		}
	})
}

// A container whose process is killed is restarted, RESTARTS goes up and
// the pod serves again.
func TestKilledContainerRestarts(t *testing.T) {
	c := requireCluster(t)
	ns := c.namespace(t, "kill")
	c.apply(t, webPod(ns, "victim", ""))
	p := waitRunning(t, c, ns, "victim")
	before := containerStatus(p).ContainerID
	if err := syscall.Kill(c.taskPID(t, before), syscall.SIGKILL); err != nil {
		t.Fatalf("kill the container's process: %v", err)
	}
	eventually(t, 60*time.Second, "killed container restarted", func() error {
		row, err := c.getPo(t, ns, "victim")
		if err != nil {
			return err
		}
		cs := containerStatus(c.pod(t, ns, "victim"))
		if row.restarts == "0" || cs.State.Running == nil || cs.ContainerID == before {
			return fmt.Errorf("get po: %+v; container %+v", row, cs)
		}
		if lt := cs.LastTerminationState.Terminated; lt == nil || lt.ExitCode != 137 {
			return fmt.Errorf("last state %+v, want terminated with exit code 137 (SIGKILL)", cs.LastTerminationState)
		}
		return nil
	})
	ip := c.pod(t, ns, "victim").Status.PodIP
	eventually(t, 30*time.Second, "restarted pod answers", func() error {
		_, err := httpGet("http://" + ip + ":8080/")
		return err
	})
	if _, errOut, code := c.skiff("logs", "victim", "-n", ns, "--previous"); code != 0 {
		t.Errorf("logs --previous after a restart: exit %d: %s", code, errOut)
	}
}

// A failing liveness probe restarts the container; a failing readiness
// probe only takes the pod out of Ready.
func TestProbes(t *testing.T) {
	c := requireCluster(t)
	ns := c.namespace(t, "probes")
	c.apply(t, webPod(ns, "unlive", `    livenessProbe:
      httpGet: {path: /no-such-path, port: http}
      periodSeconds: 1
      failureThreshold: 2
`))
	c.apply(t, webPod(ns, "unready", `    readinessProbe:
      httpGet: {path: /ready, port: http}
      periodSeconds: 1
      failureThreshold: 1
`))
	t.Run("liveness", func(t *testing.T) {
		eventually(t, 60*time.Second, "container restarted by its liveness probe", func() error {
			cs := containerStatus(c.pod(t, ns, "unlive"))
			if cs == nil || cs.RestartCount < 1 {
				return fmt.Errorf("container %+v", cs)
			}
			return nil
		})
	})
	t.Run("readiness", func(t *testing.T) {
		p := waitRunning(t, c, ns, "unready")
		restarts := containerStatus(p).RestartCount
		c.mustSkiff(t, "exec", "unready", "-n", ns, "--", "touch", "/tmp/not-ready")
		eventually(t, 30*time.Second, "pod not Ready after its readiness probe fails", func() error {
			row, err := c.getPo(t, ns, "unready")
			if err != nil {
				return err
			}
			if row.ready != "0/1" || row.status != "Running" || podReady(c.pod(t, ns, "unready")) {
				return fmt.Errorf("get po: %+v", row)
			}
			return nil
		})
		c.mustSkiff(t, "exec", "unready", "-n", ns, "--", "rm", "/tmp/not-ready")
		waitRunning(t, c, ns, "unready")
		if got := containerStatus(c.pod(t, ns, "unready")).RestartCount; got != restarts {
			t.Errorf("readiness failure restarted the container: restarts %d -> %d", restarts, got)
		}
	})
}

// Deleting a pod stops a container that ignores SIGTERM once the grace
// period is over, removes it and releases the pod's address and rules.
func TestDeleteStopsContainersAndReleasesIP(t *testing.T) {
	c := requireCluster(t)
	ns := c.namespace(t, "delete")
	c.apply(t, shellPod(ns, "stubborn", 3, "trap '' TERM; while true; do sleep 1; done"))
	var p *api.Pod
	eventually(t, 60*time.Second, "pod stubborn Running", func() error {
		p = c.pod(t, ns, "stubborn")
		if p.Status.Phase != "Running" || p.Status.PodIP == "" {
			return fmt.Errorf("phase %q", p.Status.Phase)
		}
		return nil
	})
	lease := filepath.Join(c.dataDir, "agent", "network", "ipam", "skiff", p.Status.PodIP)
	if _, err := os.Stat(lease); err != nil {
		t.Fatalf("host-local holds no lease for the pod's IP %s: %v", p.Status.PodIP, err)
	}
	if n := c.podContainers(t, p.UID); n != 1 {
		t.Fatalf("pod has %d containers in containerd, want 1", n)
	}
	c.mustSkiff(t, "delete", "pod", "stubborn", "-n", ns)
	eventually(t, 60*time.Second, "pod deleted", func() error {
		_, err := client.Get[*api.Pod](context.Background(), c.client, ns, "stubborn")
		if !api.IsNotFound(err) {
			return fmt.Errorf("pod still present (%v)", err)
		}
		return nil
	})
	if n := c.podContainers(t, p.UID); n != 0 {
		t.Errorf("pod deleted but %d of its containers remain in containerd", n)
	}
	if _, err := os.Stat(lease); !os.IsNotExist(err) {
		t.Errorf("IP %s still leased in %s after deletion (%v)", p.Status.PodIP, lease, err)
	}
	if out, err := exec.Command("iptables-save", "-t", "nat").CombinedOutput(); err != nil || strings.Contains(string(out), p.Status.PodIP+"/") {
		t.Errorf("nat rules still mention %s after deletion (%v):\n%s", p.Status.PodIP, err, out)
	}
}

// A restarted skiffd adopts the running pods: same containers, no
// restarts, no duplicates, still serving.
func TestRestartedAgentAdoptsPods(t *testing.T) {
	c := requireCluster(t)
	ns := c.namespace(t, "adopt")
	c.apply(t, webPod(ns, "survivor", ""))
	before := waitRunning(t, c, ns, "survivor")
	if err := c.restart(); err != nil {
		t.Fatal(err)
	}
	// Let the new agent run several syncs of the pod before judging.
	time.Sleep(3 * time.Second)
	after := waitRunning(t, c, ns, "survivor")
	b, a := containerStatus(before), containerStatus(after)
	if a.ContainerID != b.ContainerID || a.RestartCount != b.RestartCount {
		t.Errorf("after the restart container %s restarts %d; before %s restarts %d", a.ContainerID, a.RestartCount, b.ContainerID, b.RestartCount)
	}
	if after.Status.PodIP != before.Status.PodIP {
		t.Errorf("pod IP changed across the restart: %s -> %s", before.Status.PodIP, after.Status.PodIP)
	}
	if n := c.podContainers(t, after.UID); n != 1 {
		t.Errorf("pod has %d containers after the restart, want 1 (no duplicates)", n)
	}
	if _, err := httpGet("http://" + after.Status.PodIP + ":8080/"); err != nil {
		t.Errorf("adopted pod does not answer: %v", err)
	}
	// Logs and exec reach the new agent (new endpoint, new certificate).
	if out := c.mustSkiff(t, "exec", "survivor", "-n", ns, "--", "cat", "/etc/hostname"); strings.TrimSpace(out) != "survivor" {
		t.Errorf("exec after restart = %q", out)
	}
}

// An image the registry does not have shows ImagePullBackOff with the
// registry's message; one it has is pulled and runs.
func TestImagePull(t *testing.T) {
	c := requireCluster(t)
	bb, err := images.Busybox()
	if err != nil {
		t.Fatal(err)
	}
	reg := images.ServeRegistry(t, map[string]v1.Image{"test/busybox:1": bb})
	ns := c.namespace(t, "pull")
	for name, image := range map[string]string{"present": reg + "/test/busybox:1", "missing": reg + "/test/missing:1"} {
		c.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: %s
    command: ["sleep", "3600"]
`, name, ns, image))
	}
	eventually(t, 60*time.Second, "missing image in ImagePullBackOff", func() error {
		row, err := c.getPo(t, ns, "missing")
		if err != nil {
			return err
		}
		cs := containerStatus(c.pod(t, ns, "missing"))
		if row.status != "ImagePullBackOff" || cs == nil || cs.State.Waiting == nil || !strings.Contains(cs.State.Waiting.Message, "not found") {
			return fmt.Errorf("get po: %+v; container %+v", row, cs)
		}
		return nil
	})
	eventually(t, 60*time.Second, "pulled image Running", func() error {
		if row, err := c.getPo(t, ns, "present"); err != nil || row.status != "Running" {
			return fmt.Errorf("get po: %+v, %v", row, err)
		}
		return nil
	})
	// The agent's events tell the story in `describe`, as the kubelet's do.
	eventually(t, 30*time.Second, "pull events in describe", func() error {
		out, _, _ := c.skiff("describe", "pod", "-n", ns, "present")
		missing, _, _ := c.skiff("describe", "pod", "-n", ns, "missing")
		for _, want := range []string{"Pulling", "Successfully pulled image", "Started container c"} {
			if !strings.Contains(out, want) {
				return fmt.Errorf("describe pod present has no %q:\n%s", want, out)
			}
		}
		if !strings.Contains(missing, "Failed to pull image") {
			return fmt.Errorf("describe pod missing has no pull failure:\n%s", missing)
		}
		return nil
	})
}

// A command that fails shows CrashLoopBackOff with its exit code.
func TestCrashLoopBackOff(t *testing.T) {
	c := requireCluster(t)
	ns := c.namespace(t, "crash")
	c.apply(t, shellPod(ns, "crasher", 1, "echo giving up; exit 7"))
	eventually(t, 60*time.Second, "CrashLoopBackOff with exit code 7", func() error {
		row, err := c.getPo(t, ns, "crasher")
		if err != nil {
			return err
		}
		cs := containerStatus(c.pod(t, ns, "crasher"))
		if row.status != "CrashLoopBackOff" || cs == nil || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 7 {
			return fmt.Errorf("get po: %+v; container %+v", row, cs)
		}
		return nil
	})
	if out := c.mustSkiff(t, "logs", "crasher", "-n", ns); !strings.Contains(out, "giving up") {
		t.Errorf("logs of the crashed container = %q, want its output", out)
	}
}
