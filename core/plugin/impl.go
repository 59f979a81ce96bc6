package plugin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/abi"
	"github.com/skiff-sh/skiff/sdk/admission"
	"github.com/skiff-sh/skiff/sdk/network"
	"github.com/skiff-sh/skiff/sdk/proxy"
	"github.com/skiff-sh/skiff/sdk/scheduler"
)

// impl is a loaded plugin as a loader produces it, before the host's policy.
type impl interface {
	filter(ctx context.Context, pod *scheduler.Pod, snap scheduler.Snapshot, candidates []int32, reasons []string) error
	score(ctx context.Context, pod *scheduler.Pod, snap scheduler.Snapshot, candidates []int32, scores []int64) error
	admit(ctx context.Context, req *admission.Request) (*admission.Response, error)
	plan(ctx context.Context, in network.Input) (network.Plan, error)
	rules(ctx context.Context, in *proxy.Input) (*proxy.Ruleset, error)
	// restarting reports a process plugin being brought back after a crash.
	restarting() bool
	close() error
}

// builtin calls a compiled-in plugin directly: nodes are shared, not copied.
type builtin struct{ plugin any }

func loadBuiltin(reg *Registry, spec *Spec, args sdk.Args, h sdk.Handle) (impl, error) {
	e, err := reg.lookup(spec.Point, spec.Name)
	if err != nil {
		return nil, err
	}
	p, err := e.factory(args, h)
	if err != nil {
		return nil, err
	}
	if err := abi.Implements(spec.Point, p); err != nil {
		return nil, err
	}
	return builtin{plugin: p}, nil
}

func (b builtin) filter(ctx context.Context, pod *scheduler.Pod, snap scheduler.Snapshot, c []int32, reasons []string) error {
	return b.plugin.(scheduler.FilterPlugin).Filter(ctx, pod, snap.Nodes, c, reasons)
}

func (b builtin) score(ctx context.Context, pod *scheduler.Pod, snap scheduler.Snapshot, c []int32, scores []int64) error {
	return b.plugin.(scheduler.ScorePlugin).Score(ctx, pod, snap.Nodes, c, scores)
}

func (b builtin) admit(ctx context.Context, req *admission.Request) (*admission.Response, error) {
	return b.plugin.(admission.Plugin).Admit(ctx, req)
}

func (b builtin) plan(ctx context.Context, in network.Input) (network.Plan, error) {
	return b.plugin.(network.Plugin).Plan(ctx, in)
}

func (b builtin) rules(ctx context.Context, in *proxy.Input) (*proxy.Ruleset, error) {
	return b.plugin.(proxy.Plugin).Rules(ctx, in)
}

func (builtin) restarting() bool { return false }

func (b builtin) close() error {
	if c, ok := b.plugin.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}

// session is one connection to a plugin on the far side of the ABI (a WASM
// instance or a plugin process) with the generation its node mirror is at.
type session interface {
	roundTrip(ctx context.Context, req []byte) ([]byte, error)
	syncedGen() uint64
	setSyncedGen(gen uint64)
	scratch() *callScratch
}

// callScratch is reusable encoding space for one session.
type callScratch struct {
	w       abi.Writer
	changed []int32
}

// acquirer hands out sessions; release gets the call's error so that a
// loader can discard a broken instance.
type acquirer interface {
	acquire(ctx context.Context) (session, error)
	release(s session, err error)
}

// remote implements impl over the ABI for any acquirer.
type remote struct {
	acq acquirer
	// afterClose is called by close.
	closer func() error
	// isRestarting reports a process being restarted.
	isRestarting func() bool
	// syncTimeout bounds sending the full node table to a fresh session.
	syncTimeout time.Duration
}

func (r *remote) restarting() bool { return r.isRestarting != nil && r.isRestarting() }
func (r *remote) close() error     { return r.closer() }

// checkCandidates refuses slots that are not nodes of the snapshot: the
// plugin side trusts them.
func checkCandidates(snap scheduler.Snapshot, candidates []int32) error {
	for _, c := range candidates {
		if c < 0 || int(c) >= len(snap.Nodes) || snap.Nodes[c] == nil {
			return fmt.Errorf("candidate slot %d is not a node of the table (generation %d)", c, snap.Gen)
		}
	}
	return nil
}

func (r *remote) schedule(ctx context.Context, op abi.Op, pod *scheduler.Pod, snap scheduler.Snapshot, candidates []int32, decode func(*abi.Reader)) (err error) {
	if err := checkCandidates(snap, candidates); err != nil {
		return err
	}
	s, err := r.acq.acquire(ctx)
	if err != nil {
		return err
	}
	defer func() { r.acq.release(s, err) }()
	if s.syncedGen() == 0 && snap.Gen != 0 {
		if err := r.fullSync(ctx, s, snap); err != nil {
			return err
		}
	}
	sc := s.scratch()
	for attempt := 0; ; attempt++ {
		since := s.syncedGen()
		if attempt > 0 {
			since = 0
		}
		sc.w.Reset()
		sc.w.U8(uint8(op))
		sc.changed = sc.w.PutSchedCall(snap, since, pod, candidates, sc.changed)
		resp, err := s.roundTrip(ctx, sc.w.Buf)
		if err != nil {
			return err
		}
		rd := abi.NewReader(resp)
		err = abi.DecodeStatus(rd)
		if errors.Is(err, abi.ErrResync) && attempt == 0 {
			continue
		}
		if err != nil {
			s.setSyncedGen(0) // the plugin may have dropped its mirror
			return err
		}
		decode(rd)
		if err := rd.Err(); err != nil {
			return fmt.Errorf("decoding plugin response: %w", err)
		}
		s.setSyncedGen(snap.Gen)
		return nil
	}
}

// fullSync sends the whole node table to a fresh session. Decoding
// thousands of nodes takes a WASM guest far longer than a pod's call may,
// so it runs under its own deadline (syncTimeout), not the call's.
func (r *remote) fullSync(ctx context.Context, s session, snap scheduler.Snapshot) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.syncTimeout)
	defer cancel()
	sc := s.scratch()
	sc.w.Reset()
	sc.w.U8(uint8(abi.OpSync))
	sc.changed = sc.w.PutDelta(snap, 0, sc.changed)
	resp, err := s.roundTrip(ctx, sc.w.Buf)
	if err != nil {
		return fmt.Errorf("sending the node table (%d slots): %w", len(snap.Nodes), err)
	}
	if err := abi.DecodeStatus(abi.NewReader(resp)); err != nil {
		return fmt.Errorf("sending the node table (%d slots): %w", len(snap.Nodes), err)
	}
	s.setSyncedGen(snap.Gen)
	return nil
}

func (r *remote) filter(ctx context.Context, pod *scheduler.Pod, snap scheduler.Snapshot, c []int32, reasons []string) error {
	return r.schedule(ctx, abi.OpFilter, pod, snap, c, func(rd *abi.Reader) { rd.Reasons(reasons) })
}

func (r *remote) score(ctx context.Context, pod *scheduler.Pod, snap scheduler.Snapshot, c []int32, scores []int64) error {
	return r.schedule(ctx, abi.OpScore, pod, snap, c, func(rd *abi.Reader) { rd.Scores(scores) })
}

// call sends one request that needs no node table: encode writes the
// payload after the op, decode reads the result after the status.
func (r *remote) call(ctx context.Context, op abi.Op, encode func(*abi.Writer) error, decode func(*abi.Reader) error) (err error) {
	s, err := r.acq.acquire(ctx)
	if err != nil {
		return err
	}
	defer func() { r.acq.release(s, err) }()
	sc := s.scratch()
	sc.w.Reset()
	sc.w.U8(uint8(op))
	if err := encode(&sc.w); err != nil {
		return err
	}
	raw, err := s.roundTrip(ctx, sc.w.Buf)
	if err != nil {
		return err
	}
	rd := abi.NewReader(raw)
	if err := abi.DecodeStatus(rd); err != nil {
		return err
	}
	if err := decode(rd); err != nil {
		return fmt.Errorf("decoding plugin response: %w", err)
	}
	if err := rd.Err(); err != nil {
		return fmt.Errorf("decoding plugin response: %w", err)
	}
	return nil
}

func (r *remote) admit(ctx context.Context, req *admission.Request) (resp *admission.Response, err error) {
	err = r.call(ctx, abi.OpAdmit,
		func(w *abi.Writer) error { w.PutAdmissionRequest(req); return nil },
		func(rd *abi.Reader) error { resp = rd.AdmissionResponse(); return nil })
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func (r *remote) plan(ctx context.Context, in network.Input) (plan network.Plan, err error) {
	err = r.call(ctx, abi.OpPlan,
		func(w *abi.Writer) error { return w.PutNetworkInput(&in) },
		func(rd *abi.Reader) (err error) { plan, err = rd.NetworkPlan(); return err })
	if err != nil {
		return network.Plan{}, err
	}
	return plan, nil
}

func (r *remote) rules(ctx context.Context, in *proxy.Input) (rs *proxy.Ruleset, err error) {
	err = r.call(ctx, abi.OpRules,
		func(w *abi.Writer) error { w.PutProxyInput(in); return nil },
		func(rd *abi.Reader) error { rs = rd.Ruleset(); return nil })
	if err != nil {
		return nil, err
	}
	return rs, nil
}

// handshake checks a fresh session's descriptor against the spec and
// configures it with the args.
func handshake(ctx context.Context, s session, spec *Spec, args sdk.Args) error {
	sc := s.scratch()
	sc.w.Reset()
	sc.w.U8(uint8(abi.OpDescribe))
	raw, err := s.roundTrip(ctx, sc.w.Buf)
	if err != nil {
		return fmt.Errorf("describe: %w", err)
	}
	rd := abi.NewReader(raw)
	if err := abi.DecodeStatus(rd); err != nil {
		return fmt.Errorf("describe: %w", err)
	}
	desc := sdk.Descriptor{Name: rd.Str(), Point: sdk.Point(rd.Str()), Version: rd.Str()}
	if err := rd.Err(); err != nil {
		return fmt.Errorf("describe: %w", err)
	}
	if err := desc.Validate(); err != nil {
		return err
	}
	if desc.Point != spec.Point {
		return fmt.Errorf("%s implements %s (plugin %q), but is configured as %s", spec.Path(), desc.Point, desc.Name, spec.Point)
	}
	sc.w.Reset()
	sc.w.U8(uint8(abi.OpConfigure))
	sc.w.Bytes(args)
	raw, err = s.roundTrip(ctx, sc.w.Buf)
	if err != nil {
		return fmt.Errorf("configure: %w", err)
	}
	if err := abi.DecodeStatus(abi.NewReader(raw)); err != nil {
		return fmt.Errorf("configure: %w", err)
	}
	s.setSyncedGen(0)
	return nil
}
