package scenario

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
)

// statusInterval is the controllers' least time between two intermediate
// status writes of one object (plugins/controllers/internal.StatusInterval,
// which this package may not import).
const statusInterval = time.Second

// statusWrite is one write that changed a Deployment's status, as a watch
// saw it (an unchanged status is never written).
type statusWrite struct {
	at     time.Time
	status api.DeploymentStatus
}

type statusWrites struct {
	mu     sync.Mutex
	writes []statusWrite
	last   api.DeploymentStatus
}

func watchStatusWrites(t *testing.T, c *Cluster, namespace, name string) *statusWrites {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	d, err := client.Get[*api.Deployment](ctx, c.Client, namespace, name)
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.Client.Watch(ctx, client.ResourceOf[*api.Deployment](), namespace,
		client.WatchOptions{ResourceVersion: d.ResourceVersion, FieldSelector: "metadata.name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	sw := &statusWrites{last: d.Status}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			if ev.Type != client.Modified {
				continue
			}
			st := ev.Object.(*api.Deployment).Status
			sw.mu.Lock()
			if !reflect.DeepEqual(st, sw.last) {
				sw.writes = append(sw.writes, statusWrite{time.Now(), st})
				sw.last = st
			}
			sw.mu.Unlock()
		}
	}()
	return sw
}

// until waits for the watch to deliver want as the last status written.
func (sw *statusWrites) until(t *testing.T, want api.DeploymentStatus) []statusWrite {
	t.Helper()
	Eventually(t, converge, func() error {
		sw.mu.Lock()
		defer sw.mu.Unlock()
		if !reflect.DeepEqual(sw.last, want) {
			return errString("the watch has not delivered the final status yet")
		}
		return nil
	})
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return append([]statusWrite(nil), sw.writes...)
}

// movesRollout reports whether cur moves the rollout's state beyond counts
// and times: a new observedGeneration, the Progressing condition's status,
// or completion (Progressing reason NewReplicaSetAvailable). The
// Deployment controller writes these at once and batches the rest.
func movesRollout(prev, cur *api.DeploymentStatus) bool {
	was, is := conditionOf(&api.Deployment{Status: *prev}, "Progressing"), conditionOf(&api.Deployment{Status: *cur}, "Progressing")
	return prev.ObservedGeneration != cur.ObservedGeneration || (was == nil) != (is == nil) ||
		is != nil && (is.Status != was.Status || is.Reason == "NewReplicaSetAvailable")
}

// A 3-replica rollout (maxSurge 1, maxUnavailable 0: three steps of one
// new pod up, one old pod down) with pods that take 1.5 s to start writes
// the Deployment's status once per reconcile that changes it, and an
// intermediate status (counts, Available, the Progressing condition's
// time) at most once per statusInterval: each step's pod transitions share a
// write instead of costing one each.
func TestDeploymentRolloutStatusWrites(t *testing.T) {
	c := Start(t, etcd, Options{StartupDelay: 1500 * time.Millisecond})
	if _, err := client.Create(context.Background(), c.Client, NewDeployment("default", "web", "nginx:1", 3)); err != nil {
		t.Fatal(err)
	}
	before := c.WaitDeploymentComplete(t, "default", "web", converge)
	sw := watchStatusWrites(t, c, "default", "web")
	start := time.Now()
	setImage(t, c, "web", "nginx:2")
	done := c.WaitDeploymentComplete(t, "default", "web", converge)
	writes := sw.until(t, done.Status)
	took := time.Since(start)
	t.Logf("one 3-replica rollout in %s: %d status writes", took.Round(100*time.Millisecond), len(writes))

	prev := before.Status
	for i, w := range writes {
		// Watch delivery jitters (more on a loaded machine); batching spaces
		// writes by a second.
		if i > 0 && !movesRollout(&prev, &w.status) {
			if gap := w.at.Sub(writes[i-1].at); gap < statusInterval*6/10 {
				t.Errorf("write %d came %s after the previous one with only counts or times changed (%+v): intermediate writes must be batched",
					i+1, gap.Round(time.Millisecond), w.status)
			}
		}
		prev = w.status
	}
	// Beyond the observedGeneration and completion writes, one per interval.
	if most := 2 + int(took/statusInterval); len(writes) > most {
		t.Fatalf("%d status writes in a %s rollout, want at most %d", len(writes), took.Round(100*time.Millisecond), most)
	}
}
