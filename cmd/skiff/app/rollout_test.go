package app

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/plugins/controllers/deployment"
	"github.com/skiff-sh/skiff/test/scenario"
)

// newRolloutCLI runs the CLI against an API server with the workload
// controllers and test nodes that make pods ready.
func newRolloutCLI(t *testing.T) (*cli, *scenario.Cluster) {
	t.Helper()
	cluster := scenario.Start(t, etcd, scenario.Options{Nodes: 2})
	path := filepath.Join(t.TempDir(), "config")
	if err := client.WriteConfig(path, cluster.Server.Config); err != nil {
		t.Fatal(err)
	}
	return &cli{t: t, srv: cluster.Server, config: path}, cluster
}

func getDeployment(t *testing.T, c *cli, name string) *api.Deployment {
	t.Helper()
	d, err := client.Get[*api.Deployment](context.Background(), c.srv.Client, "default", name)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func podImages(t *testing.T, c *cli, selector string) map[string]int {
	t.Helper()
	pods, err := client.List[*api.Pod](context.Background(), c.srv.Client, "default", client.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, p := range pods.Items {
		if api.IsPodActive(p) {
			out[p.Spec.Containers[0].Image]++
		}
	}
	return out
}

func TestRolloutSetImageHistoryUndo(t *testing.T) {
	c, _ := newRolloutCLI(t)
	d := scenario.NewDeployment("default", "web", "nginx:1", 2)
	d.Annotations = map[string]string{deployment.ChangeCauseAnnotation: "first release"}
	if _, err := client.Create(context.Background(), c.srv.Client, d); err != nil {
		t.Fatal(err)
	}
	if out := c.ok("", "rollout", "status", "deploy/web", "--timeout", "30s"); !strings.HasSuffix(out, "deployment \"web\" successfully rolled out\n") {
		t.Fatalf("rollout status printed %q", out)
	}

	if out := c.ok("", "set", "image", "deploy/web", "main=nginx:2"); out != "deployment.apps/web image updated\n" {
		t.Fatalf("set image printed %q", out)
	}
	// The cause of the new rollout; the old revision keeps its own.
	if _, err := client.Patch[*api.Deployment](context.Background(), c.srv.Client, "default", "web",
		[]byte(`{"metadata":{"annotations":{"kubernetes.io/change-cause":"nginx 2"}}}`)); err != nil {
		t.Fatal(err)
	}
	c.ok("", "rollout", "status", "deployment/web", "--timeout", "30s")
	if imgs := podImages(t, c, "app=web"); imgs["nginx:2"] != 2 || len(imgs) != 1 {
		t.Fatalf("after set image, pods run %v; want 2 x nginx:2", imgs)
	}
	c.fails("", `deployment "web": no container named "sidecar"; its containers: main`, "set", "image", "deploy/web", "main=nginx:3", "sidecar=envoy")
	c.fails("", "set image: pods are not supported", "set", "image", "pod/x", "main=nginx:3")
	if img := getDeployment(t, c, "web").Spec.Template.Spec.Containers[0].Image; img != "nginx:2" {
		t.Fatalf("a failed set image changed the template to %s", img)
	}

	scenario.Eventually(t, 10*time.Second, func() error {
		want := "deployment.apps/web\nREVISION  CHANGE-CAUSE\n1         first release\n2         nginx 2\n"
		if out := c.ok("", "rollout", "history", "deploy/web"); out != want {
			return fmt.Errorf("history:\n%s\nwant:\n%s", out, want)
		}
		return nil
	})
	out := c.ok("", "rollout", "history", "deploy/web", "--revision", "1")
	if !strings.HasPrefix(out, "deployment.apps/web with revision #1\nPod Template:\n") || !regexp.MustCompile(`Image:\s+nginx:1\n`).MatchString(out) {
		t.Fatalf("history --revision 1:\n%s", out)
	}
	c.fails("", `deployment "web": revision 7 not found; revisions: 1, 2`, "rollout", "history", "deploy/web", "--revision", "7")

	c.fails("", `deployment "web": revision 5 not found; revisions: 1, 2`, "rollout", "undo", "deploy/web", "--to-revision", "5")
	if out := c.ok("", "rollout", "undo", "deploy/web"); out != "deployment.apps/web rolled back\n" {
		t.Fatalf("undo printed %q", out)
	}
	undone := getDeployment(t, c, "web")
	if img := undone.Spec.Template.Spec.Containers[0].Image; img != "nginx:1" {
		t.Fatalf("undo left the template at %s, want nginx:1", img)
	}
	if _, ok := undone.Spec.Template.Labels[deployment.PodTemplateHashLabel]; ok {
		t.Fatalf("undo copied the pod-template-hash label into the deployment: %v", undone.Spec.Template.Labels)
	}
	c.ok("", "rollout", "status", "deploy/web", "--timeout", "30s")
	if imgs := podImages(t, c, "app=web"); imgs["nginx:1"] != 2 || len(imgs) != 1 {
		t.Fatalf("after undo, pods run %v; want 2 x nginx:1", imgs)
	}
	// The old replica set came back as revision 3, with its change-cause.
	scenario.Eventually(t, 10*time.Second, func() error {
		want := "deployment.apps/web\nREVISION  CHANGE-CAUSE\n2         nginx 2\n3         first release\n"
		if out := c.ok("", "rollout", "history", "deploy/web"); out != want {
			return fmt.Errorf("history after undo:\n%s\nwant:\n%s", out, want)
		}
		return nil
	})
	if out := c.ok("", "rollout", "undo", "deploy/web", "--to-revision", "3"); !strings.Contains(out, "skipped rollback (current template already matches revision 3)") {
		t.Fatalf("undo to the current revision printed %q", out)
	}
}

func TestRolloutPauseResumeRestart(t *testing.T) {
	c, _ := newRolloutCLI(t)
	if _, err := client.Create(context.Background(), c.srv.Client, scenario.NewDeployment("default", "web", "nginx:1", 2)); err != nil {
		t.Fatal(err)
	}
	c.ok("", "rollout", "status", "deploy/web", "--timeout", "30s")
	if out := c.ok("", "rollout", "pause", "deploy/web"); out != "deployment.apps/web paused\n" {
		t.Fatalf("pause printed %q", out)
	}
	if !getDeployment(t, c, "web").Spec.Paused {
		t.Fatal("pause did not set spec.paused")
	}
	c.fails("", `deployments.apps "web" is already paused`, "rollout", "pause", "deploy/web")
	c.fails("", "is paused; run 'skiff rollout resume deployment/web' first", "rollout", "restart", "deploy/web")
	c.fails("", "rollout pause: statefulsets are not supported; use one of: deployments", "rollout", "pause", "sts/web")

	// A paused deployment does not roll a template change out.
	c.ok("", "set", "image", "deploy/web", "main=nginx:2")
	time.Sleep(300 * time.Millisecond)
	if imgs := podImages(t, c, "app=web"); imgs["nginx:1"] != 2 || len(imgs) != 1 {
		t.Fatalf("a paused deployment rolled out: pods %v", imgs)
	}
	if out := c.ok("", "rollout", "resume", "deploy/web"); out != "deployment.apps/web resumed\n" {
		t.Fatalf("resume printed %q", out)
	}
	c.fails("", `deployments.apps "web" is not paused`, "rollout", "resume", "deploy/web")
	c.ok("", "rollout", "status", "deploy/web", "--timeout", "30s")
	if imgs := podImages(t, c, "app=web"); imgs["nginx:2"] != 2 || len(imgs) != 1 {
		t.Fatalf("after resume, pods run %v; want 2 x nginx:2", imgs)
	}

	before := getDeployment(t, c, "web").Annotations[deployment.RevisionAnnotation]
	if out := c.ok("", "rollout", "restart", "deploy/web"); out != "deployment.apps/web restarted\n" {
		t.Fatalf("restart printed %q", out)
	}
	restarted := getDeployment(t, c, "web")
	if _, err := time.Parse(time.RFC3339, restarted.Spec.Template.Annotations[deployment.RestartedAtAnnotation]); err != nil {
		t.Fatalf("restart annotation: %v (annotations %v)", err, restarted.Spec.Template.Annotations)
	}
	c.ok("", "rollout", "status", "deploy/web", "--timeout", "30s")
	if after := getDeployment(t, c, "web").Annotations[deployment.RevisionAnnotation]; after == before {
		t.Fatalf("restart did not start a new revision (still %s)", after)
	}
}

func TestRolloutStatusWaitsAndFails(t *testing.T) {
	c, cluster := newRolloutCLI(t)
	cluster.Nodes.Hold.Store(true) // pods stay unready
	d := scenario.NewDeployment("default", "stuck", "nginx:1", 2)
	d.Spec.ProgressDeadlineSeconds = api.Int32Ptr(2)
	if _, err := client.Create(context.Background(), c.srv.Client, d); err != nil {
		t.Fatal(err)
	}
	scenario.Eventually(t, 10*time.Second, func() error {
		out, _, code := c.run("", "rollout", "status", "deploy/stuck", "-w=false")
		if code != 0 || out != "Waiting for deployment \"stuck\" rollout to finish: 0 of 2 updated replicas are available...\n" {
			return fmt.Errorf("status -w=false: exit %d, %q", code, out)
		}
		return nil
	})
	c.fails("", `deployment "stuck" exceeded its progress deadline: ReplicaSet "stuck-`, "rollout", "status", "deploy/stuck", "--timeout", "20s")

	// Until the controller sees the pods ready, the deadline still stands
	// (as with kubectl); then the rollout completes.
	cluster.Nodes.Release()
	scenario.Eventually(t, 30*time.Second, func() error {
		out, errOut, code := c.run("", "rollout", "status", "deploy/stuck", "--timeout", "30s")
		if code != 0 || !strings.HasSuffix(out, "deployment \"stuck\" successfully rolled out\n") {
			return fmt.Errorf("status after the pods became ready: exit %d, %q, %q", code, out, errOut)
		}
		return nil
	})
}

func TestRolloutStatusTimesOut(t *testing.T) {
	c, cluster := newRolloutCLI(t)
	cluster.Nodes.Hold.Store(true)
	if _, err := client.Create(context.Background(), c.srv.Client, scenario.NewDeployment("default", "slow", "nginx:1", 1)); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := c.run("", "rollout", "status", "deploy/slow", "--timeout", "1s")
	if code != 1 || !strings.Contains(errOut, `timed out after 1s waiting for the rollout of deployments.apps "slow" to finish`) {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if !strings.Contains(out, "Waiting for deployment") {
		t.Fatalf("no progress line before the timeout: %q", out)
	}
}
