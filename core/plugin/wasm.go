package plugin

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/guest"
)

// wasmModule is a compiled guest with a pool of instances. An instance is
// not goroutine-safe, so each call borrows one; a call that traps, runs out
// of memory or passes its deadline leaves the instance closed, and it is
// discarded (the next call instantiates a fresh one).
type wasmModule struct {
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	spec     *Spec
	args     sdk.Args
	stderr   *lineLogger

	slots chan struct{} // one token per instance that may exist
	// instantiateTimeout bounds creating one instance.
	instantiateTimeout time.Duration

	mu     sync.Mutex
	idle   []*wasmInstance
	closed bool
}

type wasmInstance struct {
	mod    api.Module
	malloc api.Function
	call   api.Function
	mem    api.Memory
	stack  []uint64
	synced uint64
	sc     callScratch
	// interrupt stops the guest when a call's context ends.
	interrupt *interrupter
	// buf is the guest's request buffer, of bufSize bytes.
	buf, bufSize uint32
}

// minGuestBuffer is the smallest request buffer asked of a guest: a
// scheduler call over 5,000 candidates fits.
const minGuestBuffer = 64 << 10

// loadWasm compiles the module (through the host's on-disk compilation
// cache) and instantiates and configures one instance, so a module that
// cannot serve fails at load time rather than at its first call.
func loadWasm(ctx context.Context, cache wazero.CompilationCache, spec *Spec, code []byte, args sdk.Args, stderr *lineLogger, syncTimeout time.Duration) (impl, error) {
	// The deadline is enforced by the interrupt flag instrumentInterrupt
	// adds, not by wazero's context check, which costs a call out to Go at
	// every loop header (11x on a Go guest's score call).
	cfg := wazero.NewRuntimeConfigCompiler().
		WithCloseOnContextDone(false).
		WithMemoryLimitPages(spec.MemoryLimitPages)
	if cache != nil {
		cfg = cfg.WithCompilationCache(cache)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	m := &wasmModule{rt: rt, spec: spec, args: args, stderr: stderr, slots: make(chan struct{}, runtime.GOMAXPROCS(0)),
		instantiateTimeout: syncTimeout}
	fail := func(err error) (impl, error) {
		rt.Close(ctx)
		return nil, err
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return fail(fmt.Errorf("wasi: %w", err))
	}
	// The compilation cache is keyed by the bytes compiled: the
	// instrumented ones.
	code, err := instrumentInterrupt(spec.Wasm, code)
	if err != nil {
		return fail(err)
	}
	compiled, err := rt.CompileModule(ctx, code)
	if err != nil {
		return fail(fmt.Errorf("compile %s: %w", spec.Wasm, err))
	}
	m.compiled = compiled
	exports := compiled.ExportedFunctions()
	for _, name := range []string{"_initialize", "skiff_abi_version", "skiff_malloc", "skiff_call"} {
		if _, ok := exports[name]; !ok {
			return fail(fmt.Errorf("%s does not export %s: build it with GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared and import github.com/skiff-sh/skiff/sdk/guest",
				spec.Wasm, name))
		}
	}
	s, err := m.acquire(ctx)
	if err != nil {
		return fail(err)
	}
	m.release(s, nil)
	return &remote{acq: m, closer: m.close, syncTimeout: syncTimeout}, nil
}

// guestRuntimeEnv tunes a Go guest's collector to the sandbox (other
// languages ignore it). A guest never idles, so the collector's background
// worker never runs: a whole cycle over the node mirror is paid in assists
// by the calls that allocate, and at the default GOGC=100 that was ~15% of
// a 500-candidate score call's mean and its 1% tail (~240 us). GOGC=400
// makes cycles four times rarer; the soft limit, three quarters of the
// instance's memory, makes the collector work harder before the heap would
// reach the hard limit and trap, where GOGC=100 alone would have let it.
const wasmPageSize = 64 << 10

func guestRuntimeEnv(limitPages uint32) map[string]string {
	return map[string]string{"GOGC": "400", "GOMEMLIMIT": strconv.FormatUint(uint64(limitPages)*wasmPageSize*3/4, 10)}
}

func (m *wasmModule) instantiate(ctx context.Context) (*wasmInstance, error) {
	// No start function: _initialize runs below under the interrupt flag,
	// so a guest whose init never returns is stopped like any other call.
	cfg := wazero.NewModuleConfig().
		WithName(""). // several anonymous instances share the runtime
		WithStartFunctions().
		WithStderr(m.stderr).
		WithStdout(m.stderr)
	for k, v := range guestRuntimeEnv(m.spec.MemoryLimitPages) {
		cfg = cfg.WithEnv(k, v)
	}
	mod, err := m.rt.InstantiateModule(experimental.WithMemoryAllocator(ctx, guestMemory), m.compiled, cfg)
	if err != nil {
		return nil, fmt.Errorf("instantiate %s: %w", m.spec.Wasm, err)
	}
	flag, ok := mod.ExportedGlobal(interruptExport).(api.MutableGlobal)
	if !ok {
		mod.Close(ctx)
		return nil, fmt.Errorf("instantiate %s: the instrumented module has no mutable %s global", m.spec.Wasm, interruptExport)
	}
	in := &wasmInstance{mod: mod, malloc: mod.ExportedFunction("skiff_malloc"), call: mod.ExportedFunction("skiff_call"),
		mem: mod.Memory(), stack: make([]uint64, 1), interrupt: newInterrupter(flag)}
	if err := in.interrupt.call(ctx, mod.ExportedFunction("_initialize"), nil); err != nil {
		mod.Close(ctx)
		return nil, fmt.Errorf("%s: _initialize: %w", m.spec.Wasm, err)
	}
	if err := in.interrupt.call(ctx, mod.ExportedFunction("skiff_abi_version"), in.stack); err != nil {
		mod.Close(ctx)
		return nil, fmt.Errorf("skiff_abi_version: %w", err)
	}
	if v := uint32(in.stack[0]); v != guest.ABIVersion {
		mod.Close(ctx)
		return nil, fmt.Errorf("%s speaks plugin ABI %d, this host speaks %d: rebuild it against this skiff sdk", m.spec.Wasm, v, guest.ABIVersion)
	}
	if err := handshake(ctx, in, m.spec, m.args); err != nil {
		mod.Close(ctx)
		return nil, err
	}
	return in, nil
}

func (m *wasmModule) acquire(ctx context.Context) (session, error) {
	select {
	case m.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a free WASM instance: %w", ctx.Err())
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		<-m.slots
		return nil, errUnloaded
	}
	in, ok := popIdle(&m.idle)
	m.mu.Unlock()
	if ok {
		return in, nil
	}
	// Replacing a discarded instance (instantiate, _initialize, configure)
	// is not the pod's fault: it runs under the load timeout, not the call's.
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.instantiateTimeout)
	defer cancel()
	in, err := m.instantiate(ictx)
	if err != nil {
		<-m.slots
		return nil, err
	}
	return in, nil
}

func (m *wasmModule) release(s session, err error) {
	in := s.(*wasmInstance)
	m.mu.Lock()
	if err != nil && isBroken(err) || m.closed {
		m.mu.Unlock()
		in.mod.Close(context.Background())
	} else {
		m.idle = append(m.idle, in)
		m.mu.Unlock()
	}
	<-m.slots
}

func (m *wasmModule) close() error {
	m.mu.Lock()
	m.closed = true
	m.idle = nil
	m.mu.Unlock()
	return m.rt.Close(context.Background())
}

// roundTrip copies req into the guest's buffer, runs skiff_call and
// returns a view of the guest's response, valid until the next call.
func (in *wasmInstance) roundTrip(ctx context.Context, req []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err // the instance is untouched and stays in the pool
	}
	if uint64(len(req)) > uint64(in.bufSize) {
		// The guest's buffer stays valid for requests up to the size asked
		// for until the next skiff_malloc, so one call sets it up for many.
		size := max(len(req), minGuestBuffer)
		in.stack[0] = uint64(size)
		if err := in.interrupt.call(ctx, in.malloc, in.stack); err != nil {
			return nil, broken(err)
		}
		in.buf, in.bufSize = uint32(in.stack[0]), uint32(size)
	}
	ptr := in.buf
	if !in.mem.Write(ptr, req) {
		return nil, broken(fmt.Errorf("guest buffer at %#x (+%d) outside its memory", ptr, len(req)))
	}
	in.stack[0] = uint64(len(req))
	if err := in.interrupt.call(ctx, in.call, in.stack); err != nil {
		return nil, broken(err)
	}
	out, n := uint32(in.stack[0]>>32), uint32(in.stack[0])
	resp, ok := in.mem.Read(out, n)
	if !ok {
		return nil, broken(fmt.Errorf("guest response at %#x (+%d) outside its memory", out, n))
	}
	return resp, nil
}

func (in *wasmInstance) syncedGen() uint64     { return in.synced }
func (in *wasmInstance) setSyncedGen(g uint64) { in.synced = g }
func (in *wasmInstance) scratch() *callScratch { return &in.sc }

// interrupter raises an instance's interrupt flag when a call's context
// ends, so that the guest traps at its next loop header, and lowers it
// again when the flag went up after the guest had already returned.
type interrupter struct {
	flag  api.MutableGlobal
	fired chan struct{} // the raise is done; one at a time per instance
}

func newInterrupter(flag api.MutableGlobal) *interrupter {
	return &interrupter{flag: flag, fired: make(chan struct{}, 1)}
}

// call runs fn with stack under ctx. A guest stopped by the flag returns an
// error naming the context's end; the instance must then be discarded, as
// after any trap.
func (x *interrupter) call(ctx context.Context, fn api.Function, stack []uint64) error {
	stop := context.AfterFunc(ctx, func() {
		x.flag.Set(1)
		x.fired <- struct{}{}
	})
	err := fn.CallWithStack(ctx, stack)
	if !stop() {
		<-x.fired // the flag is set: lower it before anyone reuses the instance
		x.flag.Set(0)
		if err != nil {
			err = fmt.Errorf("stopped when its call ended (%w): %w", context.Cause(ctx), err)
		}
	}
	return err
}

// popIdle takes the most recently used item of a pool's idle stack (its
// node mirror is the most likely to be current).
func popIdle[T any](idle *[]T) (T, bool) {
	var zero T
	k := len(*idle)
	if k == 0 {
		return zero, false
	}
	v := (*idle)[k-1]
	*idle = (*idle)[:k-1]
	return v, true
}
