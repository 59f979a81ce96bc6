package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/core/schedule/view"
	"github.com/skiff-sh/skiff/sdk/scheduler"
)

// DefaultSchedulerName is the spec.schedulerName this scheduler serves
// (an empty schedulerName means it too).
const DefaultSchedulerName = "default-scheduler"

// Event reasons and the PodScheduled condition's reasons.
const (
	ReasonScheduled        = "Scheduled"
	ReasonFailedScheduling = "FailedScheduling"
	ReasonUnschedulable    = "Unschedulable"
	ReasonSchedulerError   = "SchedulerError"
)

// Binder is how the scheduler acts on the cluster. ClientBinder talks to
// the API server; benchmarks use a fake.
type Binder interface {
	// Bind sets the pod's node through the binding subresource.
	Bind(ctx context.Context, pod *api.Pod, node string) error
	// SetCondition sets the pod's PodScheduled condition to False with a
	// reason and message through the status subresource.
	SetCondition(ctx context.Context, pod *api.Pod, reason, message string) error
}

// Options configure a Scheduler.
type Options struct {
	// Policies returns the plugins for one cycle; called once per pod.
	Policies func() Policies
	Binder   Binder
	// Recorder writes Events (FailedScheduling, Scheduled); nil records none.
	Recorder reconcile.Recorder
	Logger   *slog.Logger
	// PercentageOfNodesToScore: see DecideOptions (0 is adaptive).
	PercentageOfNodesToScore int32
	// Seed makes tie-breaking reproducible; 0 seeds from the clock.
	Seed uint64
	// MaxBindsInFlight bounds concurrent bindings (default 64).
	MaxBindsInFlight int
	// Now is the clock of the queue; nil means time.Now.
	Now func() time.Time
}

// Scheduler places pods on nodes: it keeps the queue and the cache in step
// with the pod and node informers, runs one pod at a time through Decide,
// assumes the result and binds it in the background.
type Scheduler struct {
	opts  Options
	log   *slog.Logger
	queue *Queue
	cache *Cache

	// Used only by the scheduling goroutine.
	scratch Scratch
	rng     *rand.Rand
	start   int

	binds   chan struct{}
	binding sync.WaitGroup
}

// New returns a scheduler; feed it through Handlers (or the informers given
// to Run) and start it with Run.
func New(opts Options) (*Scheduler, error) {
	if opts.Policies == nil || opts.Binder == nil {
		return nil, errors.New("schedule: Options.Policies and Options.Binder are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxBindsInFlight <= 0 {
		opts.MaxBindsInFlight = 64
	}
	seed := opts.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	return &Scheduler{
		opts: opts, log: opts.Logger.With("component", "scheduler"),
		queue: NewQueue(opts.Now), cache: NewCache(),
		rng:   rand.New(rand.NewPCG(seed, seed>>1|1)),
		binds: make(chan struct{}, opts.MaxBindsInFlight),
	}, nil
}

// Queue is the scheduling queue.
func (s *Scheduler) Queue() *Queue { return s.queue }

// Cache is the scheduler's cluster picture.
func (s *Scheduler) Cache() *Cache { return s.cache }

// Run registers the scheduler's handlers on the factory's pod and node
// informers, starts them, waits for their caches and schedules until ctx
// ends; then it waits for bindings in flight.
func (s *Scheduler) Run(ctx context.Context, informers *reconcile.SharedInformerFactory) error {
	nodes := reconcile.InformerFor[*api.Node](informers)
	pods := reconcile.InformerFor[*api.Pod](informers)
	// Nodes first, so that pods replayed to the handler find their node.
	nodes.AddHandler(s.NodeHandler())
	pods.AddHandler(s.PodHandler())
	informers.Start(ctx)
	if !informers.WaitForCacheSync(ctx) {
		return ctx.Err()
	}
	s.log.Info("scheduler started", "nodes", nodes.Cache().Len(), "pending", s.queue.Len())
	s.Loop(ctx)
	return nil
}

// Loop schedules pods until ctx ends, retrying unschedulable pods every
// UnschedulableFlush; then it waits for bindings in flight.
func (s *Scheduler) Loop(ctx context.Context) {
	defer s.binding.Wait()
	go func() {
		tick := time.NewTicker(UnschedulableFlush / 4)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				s.queue.FlushUnschedulable()
			}
		}
	}()
	for {
		qp := s.queue.Pop(ctx)
		if qp == nil {
			return
		}
		s.ScheduleOne(ctx, qp)
	}
}

// ScheduleOne runs one scheduling attempt for a popped pod.
func (s *Scheduler) ScheduleOne(ctx context.Context, qp *QueuedPod) {
	pols := s.opts.Policies()
	var (
		d   Decision
		err error
	)
	s.cache.Table().Read(func(snap scheduler.Snapshot) {
		d, err = Decide(ctx, pols, qp.View, snap, DecideOptions{
			PercentageOfNodesToScore: s.opts.PercentageOfNodesToScore, Start: s.start, Rand: s.rng,
		}, &s.scratch)
	})
	if d.Nodes > 0 {
		s.start = (s.start + d.Evaluated) % d.Nodes
	}
	if len(d.Skipped) > 0 {
		s.log.Debug("fail-open plugins skipped", "pod", qp.Key, "plugins", d.Skipped)
	}
	switch {
	case ctx.Err() != nil:
		s.queue.Failed(qp, false)
	case err != nil:
		msg := fmt.Sprintf("0/%d nodes are available: %v", d.Nodes, err)
		s.fail(ctx, qp, ReasonSchedulerError, msg, false)
	case d.Node == "":
		s.fail(ctx, qp, ReasonUnschedulable, d.Message(), true)
	default:
		s.assumeAndBind(ctx, qp, d.Node)
	}
}

// fail records why a pod was not placed (condition and Event) and queues
// it for a retry.
func (s *Scheduler) fail(ctx context.Context, qp *QueuedPod, reason, msg string, unschedulable bool) {
	s.log.Debug("pod not scheduled", "pod", qp.Key, "reason", reason, "message", msg)
	if s.opts.Recorder != nil {
		s.opts.Recorder.Event(qp.Pod, reconcile.EventWarning, ReasonFailedScheduling, msg)
	}
	if cond := api.GetPodCondition(&qp.Pod.Status, api.PodScheduled); cond == nil || cond.Reason != reason || cond.Message != msg {
		if err := s.opts.Binder.SetCondition(ctx, qp.Pod, reason, msg); err != nil && ctx.Err() == nil && !api.IsNotFound(err) {
			s.log.Warn("could not set PodScheduled condition", "pod", qp.Key, "err", err)
		}
	}
	s.queue.Failed(qp, unschedulable)
}

// assumeAndBind places the pod in the cache at once, so the next pod sees
// the allocation, and binds it in the background; a failed binding undoes
// the assumption and retries the pod after a backoff.
func (s *Scheduler) assumeAndBind(ctx context.Context, qp *QueuedPod, node string) {
	s.cache.Assume(qp.Key, qp.Pod.UID, node, qp.View)
	s.queue.Done(qp)
	select {
	case s.binds <- struct{}{}:
	case <-ctx.Done():
		s.cache.Forget(qp.Key)
		return
	}
	s.binding.Add(1)
	go func() {
		defer s.binding.Done()
		defer func() { <-s.binds }()
		err := s.opts.Binder.Bind(ctx, qp.Pod, node)
		switch {
		case err == nil:
			if s.opts.Recorder != nil {
				s.opts.Recorder.Eventf(qp.Pod, reconcile.EventNormal, ReasonScheduled, "Successfully assigned %s to %s", qp.Key, node)
			}
		case api.IsConflict(err) || api.IsNotFound(err):
			// Bound by someone else, or deleted: the informer tells the
			// cache what really happened.
			s.cache.Forget(qp.Key)
			s.log.Debug("binding not needed", "pod", qp.Key, "err", err)
		default:
			s.cache.Forget(qp.Key)
			s.queue.MoveAll() // the room it held is free again
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("binding failed, retrying", "pod", qp.Key, "node", node, "err", err)
			if s.opts.Recorder != nil {
				s.opts.Recorder.Eventf(qp.Pod, reconcile.EventWarning, ReasonFailedScheduling, "Binding rejected: %v", err)
			}
			s.queue.Failed(qp, false)
		}
	}()
}

// responsible reports whether this scheduler should place the pod.
func responsible(p *api.Pod) bool {
	return (p.Spec.SchedulerName == "" || p.Spec.SchedulerName == DefaultSchedulerName) &&
		p.Spec.NodeName == "" && p.DeletionTimestamp == nil && !api.IsPodTerminal(p)
}

// PodHandler keeps the queue and the cache in step with pods.
func (s *Scheduler) PodHandler() reconcile.Handler {
	return reconcile.HandlerFuncs{
		AddFunc:    func(obj api.Object) { s.podChanged(nil, obj.(*api.Pod)) },
		UpdateFunc: func(old, obj api.Object) { s.podChanged(old.(*api.Pod), obj.(*api.Pod)) },
		DeleteFunc: func(obj api.Object) { s.podDeleted(obj.(*api.Pod)) },
	}
}

func (s *Scheduler) podChanged(old, p *api.Pod) {
	key := p.Namespace + "/" + p.Name
	switch {
	case p.Spec.NodeName != "":
		s.queue.Delete(key)
		if api.IsPodTerminal(p) {
			if s.cache.RemovePod(key) {
				s.queue.MoveAll() // a finished pod frees its node's room
			}
			return
		}
		if err := s.cache.AddPod(p); err != nil {
			s.log.Warn("caching bound pod", "err", err)
		}
		if old != nil && old.Spec.NodeName != "" && !slices.Equal(scheduler.MakeLabels(old.Labels), scheduler.MakeLabels(p.Labels)) {
			s.queue.MoveAll() // anti-affinity and spread count labels
		}
	case responsible(p):
		if s.cache.IsAssumed(key) {
			return // its binding is in flight; the informer will show it bound
		}
		v, err := view.Pod(p)
		if err != nil {
			s.log.Warn("cannot schedule pod", "pod", key, "err", err)
			return
		}
		s.queue.Add(p, v, old == nil || schedulingChanged(old, p))
	default:
		s.queue.Delete(key)
	}
}

func (s *Scheduler) podDeleted(p *api.Pod) {
	key := p.Namespace + "/" + p.Name
	s.queue.Delete(key)
	if s.cache.RemovePod(key) {
		s.queue.MoveAll()
	}
}

// NodeHandler keeps the cache in step with nodes and retries unschedulable
// pods when a node appears or changes in a way that may let them fit.
func (s *Scheduler) NodeHandler() reconcile.Handler {
	return reconcile.HandlerFuncs{
		AddFunc: func(obj api.Object) {
			s.cache.SetNode(obj.(*api.Node))
			s.queue.MoveAll()
		},
		UpdateFunc: func(old, obj api.Object) {
			o, n := old.(*api.Node), obj.(*api.Node)
			s.cache.SetNode(n)
			if nodeSchedulingChanged(o, n) {
				s.queue.MoveAll()
			}
		},
		DeleteFunc: func(obj api.Object) { s.cache.RemoveNode(obj.(*api.Node).Name) },
	}
}

// schedulingChanged reports a change of a pod that may change where it
// fits (not a status update).
func schedulingChanged(o, n *api.Pod) bool {
	return !maps.Equal(o.Labels, n.Labels) || !maps.Equal(o.Annotations, n.Annotations) || !reflect.DeepEqual(o.Spec, n.Spec)
}

// nodeSchedulingChanged reports a change a policy may care about (not a
// heartbeat).
func nodeSchedulingChanged(o, n *api.Node) bool {
	ov, nv := view.Node(o), view.Node(n)
	return ov.Unschedulable != nv.Unschedulable || !slices.Equal(ov.Labels, nv.Labels) ||
		!slices.Equal(ov.Taints, nv.Taints) || ov.Allocatable.MilliCPU != nv.Allocatable.MilliCPU ||
		ov.Allocatable.Memory != nv.Allocatable.Memory || ov.Allocatable.Pods != nv.Allocatable.Pods ||
		ov.Allocatable.EphemeralStorage != nv.Allocatable.EphemeralStorage
}
