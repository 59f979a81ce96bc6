package node_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/node"
	"github.com/skiff-sh/skiff/plugins/runtime/sim"
)

// wantEvent is an event the agent must record about a pod.
type wantEvent struct{ typ, reason, message string }

// waitEvents waits until every wanted event (message as a substring) has
// been recorded about pod by the agent of node, and returns them all.
func waitEvents(t *testing.T, c *client.Client, pod, nodeName string, want ...wantEvent) []api.Event {
	t.Helper()
	var got []api.Event
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		list, err := client.List[*api.Event](context.Background(), c, "default", client.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for _, ev := range list.Items {
			if ev.InvolvedObject.Kind == "Pod" && ev.InvolvedObject.Name == pod && ev.Source.Component == node.EventComponent {
				if ev.Source.Host != nodeName {
					t.Fatalf("event %s: source host %q, want the node %q", ev.Reason, ev.Source.Host, nodeName)
				}
				got = append(got, *ev)
			}
		}
		missing := 0
		for _, w := range want {
			if !hasEvent(got, w) {
				missing++
			}
		}
		if missing == 0 {
			return got
		}
	}
	t.Fatalf("pod %s: events %s, want all of %+v", pod, formatEvents(got), want)
	return nil
}

func hasEvent(evs []api.Event, w wantEvent) bool {
	for _, ev := range evs {
		if ev.Type == w.typ && ev.Reason == w.reason && strings.Contains(ev.Message, w.message) {
			return true
		}
	}
	return false
}

func formatEvents(evs []api.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "\n  %s %s x%d: %s", ev.Type, ev.Reason, ev.Count, ev.Message)
	}
	return b.String()
}

func TestEventsOfAPodStart(t *testing.T) {
	srv := etcd.NewServer(t)
	startAgent(t, srv.Client, "n1", sim.New(), t.TempDir())
	ctx := context.Background()
	if _, err := client.Create(ctx, srv.Client, newPod("web", "n1", api.Container{Name: "app", Image: "example/web:1"})); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, srv.Client, "web", "n1",
		wantEvent{"Normal", node.EventPulled, `Container image "example/web:1" already present on machine`},
		wantEvent{"Normal", node.EventCreated, "Created container app"},
		wantEvent{"Normal", node.EventStarted, "Started container app"})
	if err := client.Delete[*api.Pod](ctx, srv.Client, "default", "web", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	evs := waitEvents(t, srv.Client, "web", "n1", wantEvent{"Normal", node.EventKilling, "Stopping container app"})
	if hasEvent(evs, wantEvent{"Normal", node.EventPulling, ""}) {
		t.Errorf("a present IfNotPresent image was pulled: %s", formatEvents(evs))
	}
}

func TestEventsOfFailedPullsAndCrashLoops(t *testing.T) {
	srv := etcd.NewServer(t)
	rt := sim.New()
	rt.FailPulls("registry.local/missing:1", "manifest unknown: manifest unknown")
	rt.ExitOnStart("bad", 3)
	startAgent(t, srv.Client, "n1", rt, t.TempDir())
	ctx := context.Background()
	for _, p := range []*api.Pod{
		newPod("nopull", "n1", api.Container{Name: "app", Image: "registry.local/missing:1"}),
		newPod("never", "n1", api.Container{Name: "app", Image: "registry.local/missing:1", ImagePullPolicy: "Never"}),
		newPod("crash", "n1", api.Container{Name: "bad", Image: "busybox:1"}),
	} {
		if _, err := client.Create(ctx, srv.Client, p); err != nil {
			t.Fatal(err)
		}
	}
	waitEvents(t, srv.Client, "nopull", "n1",
		wantEvent{"Normal", node.EventPulling, `Pulling image "registry.local/missing:1"`},
		wantEvent{"Warning", node.EventFailed, `Failed to pull image "registry.local/missing:1": manifest unknown`},
		wantEvent{"Normal", node.EventBackOff, `Back-off pulling image "registry.local/missing:1"`})
	waitEvents(t, srv.Client, "never", "n1",
		wantEvent{"Warning", "ErrImageNeverPull", `Container image "registry.local/missing:1" is not present with pull policy of Never`})
	waitEvents(t, srv.Client, "crash", "n1",
		wantEvent{"Normal", node.EventStarted, "Started container bad"},
		wantEvent{"Warning", node.EventBackOff, "Back-off restarting failed container bad in pod crash_default"})
}

// sickProber fails every probe of containers named "sick".
type sickProber struct{}

func (sickProber) Probe(_ context.Context, t node.ProbeTarget, _ *api.ProbeHandler) error {
	if t.Container.Name == "sick" {
		return errors.New("HTTP probe failed with statuscode: 500")
	}
	return nil
}

func TestEventsOfFailingProbes(t *testing.T) {
	srv := etcd.NewServer(t)
	startAgentProbing(t, srv.Client, "n1", sim.New(), t.TempDir(), sickProber{})
	probe := &api.Probe{ProbeHandler: api.ProbeHandler{TCPSocket: &api.TCPSocketAction{Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1, FailureThreshold: 2}
	p := newPod("probed", "n1", api.Container{Name: "sick", Image: "web:1", LivenessProbe: probe, ReadinessProbe: probe})
	if _, err := client.Create(context.Background(), srv.Client, p); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, srv.Client, "probed", "n1",
		wantEvent{"Warning", node.EventUnhealthy, "Liveness probe failed: HTTP probe failed with statuscode: 500"},
		wantEvent{"Warning", node.EventUnhealthy, "Readiness probe failed: HTTP probe failed with statuscode: 500"},
		wantEvent{"Normal", node.EventKilling, "Container sick failed liveness probe, will be restarted"})
}
