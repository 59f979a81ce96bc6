package abi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/admission"
	"github.com/skiff-sh/skiff/sdk/network"
	"github.com/skiff-sh/skiff/sdk/proxy"
	"github.com/skiff-sh/skiff/sdk/scheduler"
)

// Op is the first byte of every request; the rest is the op's payload.
type Op uint8

// The operations of ABI version 2 (1 sent the pod of a scheduler call
// without a length prefix).
const (
	// OpDescribe returns the plugin's descriptor (name, point, version).
	OpDescribe Op = 1
	// OpConfigure builds the plugin from its Args; it must precede other calls.
	OpConfigure Op = 2
	// OpFilter and OpScore carry a node-table delta, a pod and candidate slots.
	OpFilter Op = 3
	OpScore  Op = 4
	// OpAdmit carries an admission request.
	OpAdmit Op = 5
	// OpSync carries only a node-table delta: the host sends a full table
	// to a fresh plugin this way, outside the deadline of a pod's call.
	OpSync Op = 6
	// OpPlan carries a network.Input (JSON) and returns a network.Plan.
	OpPlan Op = 7
	// OpRules carries a proxy.Input (compact) and returns a proxy.Ruleset.
	OpRules Op = 8
)

// Status is the first byte of every response.
type Status uint8

const (
	// StatusOK is followed by the op's result.
	StatusOK Status = 0
	// StatusError is followed by an error message.
	StatusError Status = 1
	// StatusResync means the plugin's node mirror is not at the delta's base
	// generation: resend the call with a full table (since = 0).
	StatusResync Status = 2
)

// ErrResync is returned by DecodeStatus for StatusResync.
var ErrResync = errors.New("abi: plugin node table out of date, resync required")

// DecodeStatus reads a response's status byte and, for StatusError, the
// plugin's message as an error.
func DecodeStatus(r *Reader) error {
	switch Status(r.U8()) {
	case StatusOK:
		return r.Err()
	case StatusError:
		msg := r.Str()
		if err := r.Err(); err != nil {
			return err
		}
		return errors.New(msg)
	case StatusResync:
		return ErrResync
	default:
		if r.Err() != nil {
			return r.Err()
		}
		return fmt.Errorf("abi: unknown response status")
	}
}

// Dispatcher runs one plugin on the plugin side of the ABI: it decodes
// requests, keeps the node-table mirror, calls the plugin and encodes the
// result. The process and WASM guest SDKs are thin transports around it.
// Handle may run concurrently.
type Dispatcher struct {
	desc    sdk.Descriptor
	factory sdk.Factory
	handle  sdk.Handle

	mu     sync.RWMutex
	plugin any
	gen    uint64
	nodes  []*scheduler.Node
}

// NewDispatcher serves the plugin built by factory.
func NewDispatcher(desc sdk.Descriptor, factory sdk.Factory, h sdk.Handle) *Dispatcher {
	return &Dispatcher{desc: desc, factory: factory, handle: h}
}

// Handle answers one request msg into w (which it resets first).
func (d *Dispatcher) Handle(ctx context.Context, msg []byte, w *Writer) {
	w.Reset()
	if len(msg) == 0 {
		fail(w, errors.New("empty request"))
		return
	}
	r := NewReader(msg[1:])
	var err error
	switch op := Op(msg[0]); op {
	case OpDescribe:
		w.U8(uint8(StatusOK))
		w.Str(d.desc.Name)
		w.Str(string(d.desc.Point))
		w.Str(d.desc.Version)
		return
	case OpConfigure:
		if err = d.configure(r.Bytes(), r); err == nil {
			w.U8(uint8(StatusOK))
		}
	case OpFilter, OpScore:
		err = d.schedule(ctx, op, r, w)
	case OpAdmit:
		err = d.admit(ctx, r, w)
	case OpPlan:
		err = d.plan(ctx, r, w)
	case OpRules:
		err = d.rules(ctx, r, w)
	case OpSync:
		if err = d.applyDelta(r); err == nil {
			w.U8(uint8(StatusOK))
		}
	default:
		err = fmt.Errorf("unknown op %d: the host speaks a newer ABI than this plugin's sdk", op)
	}
	if errors.Is(err, ErrResync) {
		w.Reset()
		w.U8(uint8(StatusResync))
	} else if err != nil {
		fail(w, err)
	}
}

func fail(w *Writer, err error) {
	w.Reset()
	w.U8(uint8(StatusError))
	w.Str(err.Error())
}

func (d *Dispatcher) configure(args []byte, r *Reader) error {
	if err := r.Err(); err != nil {
		return err
	}
	p, err := d.factory(sdk.Args(args), d.handle)
	if err != nil {
		return err
	}
	if err := checkImplements(d.desc.Point, p); err != nil {
		return err
	}
	d.mu.Lock()
	d.plugin = p
	d.mu.Unlock()
	return nil
}

// Implements checks that p, built by a factory, implements the interface of
// point. Points outside the ABI (controller, runtime) are not checked here.
func Implements(point sdk.Point, p any) error {
	ok := true
	switch point {
	case sdk.PointFilter:
		_, ok = p.(scheduler.FilterPlugin)
	case sdk.PointScore:
		_, ok = p.(scheduler.ScorePlugin)
	case sdk.PointAdmission:
		_, ok = p.(admission.Plugin)
	case sdk.PointNetwork:
		_, ok = p.(network.Plugin)
	case sdk.PointProxy:
		_, ok = p.(proxy.Plugin)
	}
	if !ok {
		return fmt.Errorf("factory returned %T, which does not implement the %s interface", p, point)
	}
	return nil
}

func checkImplements(point sdk.Point, p any) error {
	switch point {
	case sdk.PointFilter, sdk.PointScore, sdk.PointAdmission, sdk.PointNetwork, sdk.PointProxy:
		return Implements(point, p)
	}
	return fmt.Errorf("extension point %s is not served over the plugin ABI yet", point)
}

// applyDelta brings the mirror to the call's generation.
func (d *Dispatcher) applyDelta(r *Reader) error {
	since, gen := r.U64(), r.U64()
	size := r.Len(0)
	count := r.Len(0)
	records := r.Section()
	if err := r.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.plugin == nil {
		return errors.New("plugin called before configure")
	}
	if gen == d.gen && since != 0 {
		return nil // a concurrent call already applied this delta
	}
	if since != 0 && since != d.gen {
		return ErrResync
	}
	nodes := d.nodes
	if since == 0 {
		nodes = nodes[:0]
	}
	for len(nodes) < size {
		nodes = append(nodes, nil)
	}
	nodes = nodes[:size]
	if since == 0 {
		clear(nodes)
	}
	for range count {
		slot := records.I32()
		var n *scheduler.Node
		if records.Bool() {
			n = records.Node()
		}
		if records.Err() != nil {
			break
		}
		if slot < 0 || int(slot) >= size {
			return fmt.Errorf("abi: node slot %d outside table of %d", slot, size)
		}
		nodes[slot] = n
	}
	if err := records.Err(); err != nil {
		d.gen, d.nodes = 0, nodes[:0] // force a full resync next time
		return err
	}
	d.gen, d.nodes = gen, nodes
	return nil
}

// callScratch is per-call working space, reused so that a guest's steady
// state does not allocate (allocation and GC dominate Go WASM call costs).
type callScratch struct {
	candidates []int32
	scores     []int64
	reasons    []string
}

var scratchPool = sync.Pool{New: func() any { return new(callScratch) }}

// schedule runs a filter or score call. The host checks that candidates are
// occupied slots of the table it sends, so the plugin side trusts them.
func (d *Dispatcher) schedule(ctx context.Context, op Op, r *Reader, w *Writer) error {
	if err := d.applyDelta(r); err != nil {
		return err
	}
	sc := scratchPool.Get().(*callScratch)
	defer scratchPool.Put(sc)
	podSec := r.Section()
	pod := podSec.Pod()
	candidates := r.Candidates(&sc.candidates)
	if err := r.Err(); err != nil {
		return err
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if n := len(d.nodes); len(candidates) > 0 && int(slices.Max(candidates)) >= n {
		return fmt.Errorf("abi: candidate slot %d outside the table of %d", slices.Max(candidates), n)
	}
	w.U8(uint8(StatusOK))
	if op == OpScore {
		p, ok := d.plugin.(scheduler.ScorePlugin)
		if !ok {
			return fmt.Errorf("plugin %q is not a score plugin", d.desc.Name)
		}
		scores, commit := w.ReserveScores(len(candidates), &sc.scores)
		if err := p.Score(ctx, pod, d.nodes, candidates, scores); err != nil {
			return err
		}
		commit()
		return nil
	}
	p, ok := d.plugin.(scheduler.FilterPlugin)
	if !ok {
		return fmt.Errorf("plugin %q is not a filter plugin", d.desc.Name)
	}
	reasons := slices.Grow(sc.reasons[:0], len(candidates))[:len(candidates)]
	sc.reasons = reasons
	clear(reasons)
	if err := p.Filter(ctx, pod, d.nodes, candidates, reasons); err != nil {
		return err
	}
	w.PutReasons(reasons)
	clear(reasons) // do not keep the plugin's strings alive
	return nil
}

func (d *Dispatcher) admit(ctx context.Context, r *Reader, w *Writer) error {
	req := r.AdmissionRequest()
	if err := r.Err(); err != nil {
		return err
	}
	d.mu.RLock()
	p, ok := d.plugin.(admission.Plugin)
	d.mu.RUnlock()
	if !ok {
		return fmt.Errorf("plugin %q is not configured as an admission plugin", d.desc.Name)
	}
	resp, err := p.Admit(ctx, req)
	if err != nil {
		return err
	}
	if resp == nil {
		return errors.New("admission plugin returned no response")
	}
	w.U8(uint8(StatusOK))
	w.PutAdmissionResponse(resp)
	return nil
}

// configured returns the plugin once configure has built it.
func (d *Dispatcher) configured() (any, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.plugin == nil {
		return nil, errors.New("plugin called before configure")
	}
	return d.plugin, nil
}

func (d *Dispatcher) plan(ctx context.Context, r *Reader, w *Writer) error {
	in, err := r.NetworkInput()
	if err != nil {
		return err
	}
	v, err := d.configured()
	if err != nil {
		return err
	}
	p, ok := v.(network.Plugin)
	if !ok {
		return fmt.Errorf("plugin %q is not configured as a network plugin", d.desc.Name)
	}
	plan, err := p.Plan(ctx, in)
	if err != nil {
		return err
	}
	w.U8(uint8(StatusOK))
	return w.PutNetworkPlan(&plan)
}

func (d *Dispatcher) rules(ctx context.Context, r *Reader, w *Writer) error {
	in := r.ProxyInput()
	if err := r.Err(); err != nil {
		return err
	}
	v, err := d.configured()
	if err != nil {
		return err
	}
	p, ok := v.(proxy.Plugin)
	if !ok {
		return fmt.Errorf("plugin %q is not configured as a proxy plugin", d.desc.Name)
	}
	rs, err := p.Rules(ctx, in)
	if err != nil {
		return err
	}
	if rs == nil {
		return errors.New("proxy plugin returned no ruleset")
	}
	w.U8(uint8(StatusOK))
	w.PutRuleset(rs)
	return nil
}
