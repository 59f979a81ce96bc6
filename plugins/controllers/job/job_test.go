package job

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/test/scenario"
)

// jobEnv is an API server with the job controller on a fake clock; the
// test plays the node, finishing pods by hand.
type jobEnv struct {
	t      *testing.T
	client *client.Client
	clock  *reconcile.FakeClock

	mu        sync.Mutex
	maxActive int
}

func startEnv(t *testing.T) *jobEnv {
	srv := etcd.NewServer(t)
	env := &jobEnv{t: t, client: srv.Client, clock: reconcile.NewFakeClock(time.Now())}
	// Count active pods on every change, so a moment over parallelism
	// between two polls is still seen.
	inf := reconcile.NewInformer(srv.Client, client.ResourceOf[*api.Pod](), nil)
	pods := reconcile.NewLister[*api.Pod](inf)
	count := func(api.Object) {
		n := 0
		for _, p := range pods.List("", nil) {
			if api.IsPodActive(p) {
				n++
			}
		}
		env.mu.Lock()
		env.maxActive = max(env.maxActive, n)
		env.mu.Unlock()
	}
	inf.AddHandler(reconcile.HandlerFuncs{AddFunc: count, UpdateFunc: func(_, o api.Object) { count(o) }, DeleteFunc: count})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { inf.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	scenario.RunControllers(t, srv.Client, env.clock, scenario.Controller{Name: Name, Factory: New})
	return env
}

// eventually polls cond; each poll also moves the fake clock 10ms, so
// retries the controller queued with backoff still happen.
func (e *jobEnv) eventually(cond func() error) {
	e.t.Helper()
	scenario.Eventually(e.t, 15*time.Second, func() error {
		e.clock.Step(10 * time.Millisecond)
		return cond()
	})
}

func (e *jobEnv) create(name string, completions, parallelism, backoffLimit int32, ttl *int32) {
	e.t.Helper()
	j := &api.Job{
		TypeMeta:   api.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: api.ObjectMeta{Namespace: "default", Name: name},
		Spec: api.JobSpec{
			Completions: api.Int32Ptr(completions), Parallelism: api.Int32Ptr(parallelism), BackoffLimit: api.Int32Ptr(backoffLimit),
			TTLSecondsAfterFinished: ttl,
			Template:                api.PodTemplateSpec{Spec: api.PodSpec{RestartPolicy: "Never", Containers: []api.Container{{Name: "work", Image: "busybox"}}}},
		},
	}
	if _, err := client.Create(context.Background(), e.client, j); err != nil {
		e.t.Fatal(err)
	}
}

func (e *jobEnv) activePods(job string) []*api.Pod {
	e.t.Helper()
	list, err := client.List[*api.Pod](context.Background(), e.client, "default", client.ListOptions{LabelSelector: api.JobNameLabel + "=" + job})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*api.Pod
	for _, p := range list.Items {
		if api.IsPodActive(p) {
			out = append(out, p)
		}
	}
	return out
}

// finish ends a pod in phase (Succeeded or Failed) at the fake clock's time.
func (e *jobEnv) finish(p *api.Pod, phase string) {
	e.t.Helper()
	exit := int32(0)
	if phase == api.PodFailed {
		exit = 1
	}
	p.Status.Phase = phase
	p.Status.ContainerStatuses = []api.ContainerStatus{{Name: "work", State: api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: exit, FinishedAt: e.clock.Now()}}}}
	if _, err := client.UpdateStatus(context.Background(), e.client, p); err != nil {
		e.t.Fatal(err)
	}
}

func (e *jobEnv) job(name string) *api.Job {
	e.t.Helper()
	j, err := client.Get[*api.Job](context.Background(), e.client, "default", name)
	if err != nil {
		e.t.Fatal(err)
	}
	return j
}

func TestJobCompletesWithinParallelism(t *testing.T) {
	e := startEnv(t)
	e.create("work", 3, 2, 6, api.Int32Ptr(30))
	for done := 0; done < 3; done++ {
		var running []*api.Pod
		e.eventually(func() error {
			running = e.activePods("work")
			if want := min(2, 3-done); len(running) != want {
				return fmt.Errorf("%d active pods, want %d", len(running), want)
			}
			return nil
		})
		e.finish(running[0], api.PodSucceeded)
	}
	e.eventually(func() error {
		j := e.job("work")
		if _, ok := IsFinished(j); !ok || j.Status.Succeeded != 3 || j.Status.CompletionTime == nil || j.Status.StartTime == nil {
			return fmt.Errorf("status %+v", j.Status)
		}
		return nil
	})
	e.mu.Lock()
	peak := e.maxActive
	e.mu.Unlock()
	if peak != 2 {
		t.Fatalf("at most %d pods ran at once, want exactly parallelism 2", peak)
	}
	if len(e.activePods("work")) != 0 {
		t.Fatal("pods still active after completion")
	}

	// ttlSecondsAfterFinished: the job goes, with its pods, 30s after it finished.
	e.clock.Step(29 * time.Second)
	time.Sleep(200 * time.Millisecond)
	if _, err := client.Get[*api.Job](context.Background(), e.client, "default", "work"); err != nil {
		t.Fatalf("job gone before its TTL: %v", err)
	}
	e.clock.Step(time.Second)
	e.eventually(func() error {
		if _, err := client.Get[*api.Job](context.Background(), e.client, "default", "work"); !api.IsNotFound(err) {
			return fmt.Errorf("job still there after its TTL (%v)", err)
		}
		return nil
	})
}

func TestFailingJobBacksOffAndStopsAtBackoffLimit(t *testing.T) {
	e := startEnv(t)
	e.create("flaky", 1, 1, 2, nil)
	// Three failures: the first two retry after 10s and 20s, the third
	// exceeds backoffLimit 2.
	for i, backoff := range []time.Duration{10 * time.Second, 20 * time.Second, 0} {
		var pods []*api.Pod
		e.eventually(func() error {
			if pods = e.activePods("flaky"); len(pods) != 1 {
				return fmt.Errorf("failure %d: %d active pods, want 1", i, len(pods))
			}
			return nil
		})
		e.finish(pods[0], api.PodFailed)
		if backoff == 0 {
			break
		}
		time.Sleep(300 * time.Millisecond)
		if n := len(e.activePods("flaky")); n != 0 {
			t.Fatalf("failure %d: a new pod started before the %s backoff", i+1, backoff)
		}
		e.clock.Step(backoff)
	}
	e.eventually(func() error {
		j := e.job("flaky")
		cond, done := IsFinished(j)
		if !done || cond != ConditionFailed || j.Status.Failed != 3 || j.Status.Active != 0 {
			return fmt.Errorf("status %+v", j.Status)
		}
		for _, c := range j.Status.Conditions {
			if c.Type == ConditionFailed && c.Reason != ReasonBackoffLimitExceeded {
				return fmt.Errorf("failed with reason %q, want %s", c.Reason, ReasonBackoffLimitExceeded)
			}
		}
		return nil
	})
}

// Indexed completion is not implemented, so the API server refuses it
// rather than run such a job as NonIndexed.
func TestIndexedJobIsRejected(t *testing.T) {
	srv := etcd.NewServer(t)
	j := &api.Job{
		TypeMeta:   api.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "indexed"},
		Spec: api.JobSpec{Completions: api.Int32Ptr(3), CompletionMode: "Indexed",
			Template: api.PodTemplateSpec{Spec: api.PodSpec{RestartPolicy: "Never", Containers: []api.Container{{Name: "main", Image: "busybox"}}}}},
	}
	_, err := client.Create(context.Background(), srv.Client, j)
	if !api.IsInvalid(err) || !strings.Contains(err.Error(), `spec.completionMode: Invalid value: "Indexed": not supported by skiff`) {
		t.Fatalf("create an Indexed job: %v; want Invalid naming spec.completionMode as not supported", err)
	}
}
