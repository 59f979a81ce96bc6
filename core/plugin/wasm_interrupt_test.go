package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// A tiny assembler for hand-written test modules.

func vec(entries ...[]byte) []byte {
	out := appendU32(nil, uint32(len(entries)))
	for _, e := range entries {
		out = append(out, e...)
	}
	return out
}

func sec(id byte, body []byte) []byte { return appendSection(nil, id, body) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func str(s string) []byte { return append(appendU32(nil, uint32(len(s))), s...) }

// fn is a code-section entry: locals (count, type) pairs and instructions.
func fn(locals []byte, instrs ...[]byte) []byte {
	body := cat(append([][]byte{locals}, instrs...)...)
	body = append(body, opEnd)
	return append(appendU32(nil, uint32(len(body))), body...)
}

func exportFunc(name string, idx byte) []byte { return cat(str(name), []byte{0, idx}) }

var (
	typeI32toI32 = []byte{0x60, 1, 0x7f, 1, 0x7f}
	noLocals     = []byte{0}
	oneI32Local  = []byte{1, 1, 0x7f}
)

// count(n) counts n down to 0 in a loop and returns how many turns it took.
var countBody = fn(oneI32Local,
	[]byte{0x02, 0x40},                      // block
	[]byte{0x03, 0x40},                      //   loop
	[]byte{0x20, 0, 0x45, 0x0d, 1},          // local.get 0; i32.eqz; br_if 1
	[]byte{0x20, 1, 0x41, 1, 0x6a, 0x21, 1}, // local1++
	[]byte{0x20, 0, 0x41, 1, 0x6b, 0x21, 0}, // local0--
	[]byte{0x0c, 0, 0x0b, 0x0b},             // br 0; end; end
	[]byte{0x20, 1})

// classify(n) sums, for i = n..1, by i%3 through a br_table: 0 adds 1, 1
// adds 100 (odd i) or 10 (even i) through if/else, 2 adds nothing.
var classifyBody = fn(oneI32Local,
	[]byte{0x02, 0x40, 0x03, 0x40},                   // block; loop
	[]byte{0x20, 0, 0x45, 0x0d, 1},                   // exit when local0 == 0
	[]byte{0x02, 0x40, 0x02, 0x40, 0x02, 0x40},       // block (join); block (c1); block (c0)
	[]byte{0x20, 0, 0x41, 3, 0x70},                   // local0 % 3
	[]byte{0x0e, 2, 0, 1, 2},                         // br_table c0 c1 join
	[]byte{0x0b},                                     // end c0
	[]byte{0x20, 1, 0x41, 1, 0x6a, 0x21, 1, 0x0c, 1}, // local1 += 1; br join
	[]byte{0x0b},                                     // end c1
	[]byte{0x20, 0, 0x41, 2, 0x70, 0x04, 0x40},       // if local0 % 2
	[]byte{0x20, 1, 0x41, 0xe4, 0x00, 0x6a, 0x21, 1}, // local1 += 100
	[]byte{0x05},                                     // else
	[]byte{0x20, 1, 0x41, 10, 0x6a, 0x21, 1},         // local1 += 10
	[]byte{0x0b, 0x0b},                               // end if; end join
	[]byte{0x20, 0, 0x41, 1, 0x6b, 0x21, 0, 0x0c, 0}, // local0--; br loop
	[]byte{0x0b, 0x0b},                               // end loop; end block
	[]byte{0x20, 1})

// sum(n) adds n..1 in a loop whose block type is a type index (s33) with a
// parameter, the accumulator, carried on the stack (multi-value).
var sumBody = fn(noLocals,
	[]byte{0x41, 0},                         // acc = 0
	[]byte{0x03, 0x00},                      // loop (type 0): [i32] -> [i32]
	[]byte{0x20, 0, 0x6a},                   // acc += n
	[]byte{0x20, 0, 0x41, 1, 0x6b, 0x22, 0}, // n--, tee
	[]byte{0x04, 0x00, 0x0c, 1, 0x0b},       // if (type 0) n != 0: br loop; end
	[]byte{0x0b})

// misc(n) runs one of most instruction shapes the instrumenter knows and
// returns n + (n != 0 ? 1 : 2) + 7.
var miscBody = fn(noLocals,
	[]byte{0x42, 0xec, 0xb5, 0xd5, 0xc5, 0xb3, 0x7c, 0x1a},             // i64.const -123456789012; drop
	[]byte{0x43, 0, 0, 0xc0, 0x3f, 0x1a},                               // f32.const 1.5; drop
	[]byte{0x44, 0, 0, 0, 0, 0, 0, 4, 0x40, 0xfc, 6, 0x1a},             // f64.const 2.5; i64.trunc_sat_f64_s; drop
	[]byte{0x41, 8, 0x20, 0, 0x36, 2, 4},                               // i32.store offset=4
	[]byte{0x41, 8, 0x28, 2, 4, 0xc0, 0x1a},                            // i32.load offset=4; i32.extend8_s; drop
	[]byte{0x3f, 0, 0x1a, 0x41, 0, 0x40, 0, 0x1a},                      // memory.size; memory.grow 0
	[]byte{0x41, 0xe4, 0, 0x41, 7, 0x41, 16, 0xfc, 11, 0},              // memory.fill 100 7 16
	[]byte{0x41, 0xc8, 1, 0x41, 0xe4, 0, 0x41, 16, 0xfc, 10, 0, 0},     // memory.copy 200 100 16
	[]byte{0x41, 0xe8, 7, 0x41, 0, 0x41, 0, 0xfc, 8, 0, 0, 0xfc, 9, 0}, // memory.init 1000 0 0 (valid after the drop); data.drop 0
	[]byte{0xd0, 0x70, 0xd1, 0x1a},                                     // ref.null func; ref.is_null; drop
	[]byte{0x41, 0, 0x25, 0, 0xd1, 0x1a},                               // table.get 0; ref.is_null; drop
	[]byte{0x41, 1, 0xd2, 0, 0x26, 0},                                  // table.set 0 1 (ref.func 0)
	[]byte{0xfc, 16, 0, 0x1a},                                          // table.size 0; drop
	[]byte{0x20, 0, 0x41, 1, 0x11, 0, 0},                               // call_indirect (type 0) table 0 [1] = count(n)
	[]byte{0x41, 1, 0x41, 2, 0x20, 0, 0x1c, 1, 0x7f, 0x6a},             // select (result i32) 1 2 n; add
	[]byte{0x41, 0xc8, 1, 0x2d, 0, 0, 0x6a},                            // i32.load8_u 200 (= 7); add
	[]byte{0x20, 0, 0x10, 0, 0x1a})                                     // call 0 (count); drop

// testModule exports count, classify, sum and misc, with a memory, a table,
// an element, a data count and a data section, and no global section.
func testModule() []byte {
	return cat([]byte("\x00asm\x01\x00\x00\x00"),
		sec(1, vec(typeI32toI32)),
		sec(3, vec([]byte{0}, []byte{0}, []byte{0}, []byte{0})),
		sec(4, vec([]byte{0x70, 0, 2})), // table funcref min 2
		sec(5, vec([]byte{0, 1})),       // memory min 1 page
		sec(7, vec(exportFunc("count", 0), exportFunc("classify", 1), exportFunc("sum", 2), exportFunc("misc", 3))),
		sec(0, cat(str(".debug_info"), []byte{1, 2, 3})),
		sec(9, vec(cat([]byte{0, 0x41, 0, 0x0b}, vec([]byte{0})))), // active: table[0] = count
		sec(12, appendU32(nil, 1)),
		sec(10, vec(countBody, classifyBody, sumBody, miscBody)),
		sec(11, vec(cat([]byte{1}, str("ab")))), // passive data
		sec(0, cat(str("name"), []byte{})),
	)
}

func newTestRuntime(t *testing.T) wazero.Runtime {
	rt := wazero.NewRuntimeWithConfig(t.Context(), wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(false))
	t.Cleanup(func() { rt.Close(context.Background()) })
	return rt
}

func instantiate(t *testing.T, rt wazero.Runtime, code []byte) api.Module {
	t.Helper()
	mod, err := rt.InstantiateWithConfig(t.Context(), code, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatalf("instantiate: %v", err)
	}
	return mod
}

func call1(t *testing.T, mod api.Module, name string, arg uint32) (uint32, error) {
	t.Helper()
	stack := []uint64{uint64(arg)}
	err := mod.ExportedFunction(name).CallWithStack(t.Context(), stack)
	return uint32(stack[0]), err
}

func TestInterruptKeepsBehaviour(t *testing.T) {
	orig := testModule()
	code, err := instrumentInterrupt("test.wasm", orig)
	if err != nil {
		t.Fatal(err)
	}
	rt := newTestRuntime(t)
	before, after := instantiate(t, rt, orig), instantiate(t, rt, code)
	for _, name := range []string{"count", "classify", "sum", "misc"} {
		for _, n := range []uint32{0, 1, 2, 3, 7, 100, 1000} {
			want, err := call1(t, before, name, n)
			if err != nil {
				t.Fatalf("original %s(%d): %v", name, n, err)
			}
			got, err := call1(t, after, name, n)
			if err != nil || got != want {
				t.Errorf("instrumented %s(%d) = %d, %v; the original returns %d", name, n, got, err, want)
			}
		}
	}
	if got, _ := call1(t, after, "misc", 5); got != 5+1+7 {
		t.Errorf("misc(5) = %d, want 13", got)
	}
	if got, _ := call1(t, after, "classify", 6); got != 1+10+1+100 {
		t.Errorf("classify(6) = %d, want 112", got) // 6:+1 4:+10 3:+1 1:+100
	}
	if bytes.Contains(code, []byte(".debug_info")) {
		t.Error("the DWARF section was kept; its code offsets no longer hold")
	}
	// The flag (global 0: the module had none) is exported and starts at 0.
	g, ok := after.ExportedGlobal(interruptExport).(api.MutableGlobal)
	if !ok || g.Get() != 0 {
		t.Fatalf("exported %s = %v, want a mutable global at 0", interruptExport, after.ExportedGlobal(interruptExport))
	}
	g.Set(1)
	if _, err := call1(t, after, "count", 2*interruptTicks); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("count with the flag raised: err = %v, want a trap at the next safe point", err)
	}
	if _, err := call1(t, after, "misc", 2*interruptTicks); err == nil {
		t.Error("misc (which calls count) with the flag raised did not trap")
	}
}

func TestInterruptCheckAfterEveryLoop(t *testing.T) {
	code, err := instrumentInterrupt("test.wasm", testModule())
	if err != nil {
		t.Fatal(err)
	}
	// The safe point is function 4 (after the 4 defined), the flag global 0.
	ins := &instrumentation{flag: 0, safepoint: 4}
	// Each function grows by one check per loop; its size prefix says so.
	r := &wasmReader{name: "out", buf: code, pos: 8}
	for r.pos < len(r.buf) && r.err == nil {
		id, size := r.byte(), r.u32()
		body := r.take(int(size))
		if id != wasmSectionCode {
			continue
		}
		cr := &wasmReader{buf: body}
		n, _ := cr.vecCount()
		// The counter comes after the parameter and the locals.
		for i, f := range []struct {
			body  []byte
			ticks uint32
		}{{countBody, 2}, {classifyBody, 2}, {sumBody, 1}, {miscBody, 1}} {
			got := cr.take(int(cr.u32()))
			orig := f.body[lenPrefix(f.body):]
			check := ins.check(nil, f.ticks)
			loops := bytes.Count(orig, []byte{opLoop, blockTypeEmpty}) + bytes.Count(orig, []byte{opLoop, 0x00})
			// One more locals group, (1 i32), and one check per loop.
			if len(got) != len(orig)+2+loops*len(check) {
				t.Errorf("function %d: %d bytes, want %d + 2 + %d checks", i, len(got), len(orig), loops)
			}
			if got[0] != orig[0]+1 || !bytes.Contains(got, []byte{1, valTypeI32}) {
				t.Errorf("function %d: locals % x, want one more group of one i32", i, got[:5])
			}
			if c := bytes.Count(got, check); c != loops {
				t.Errorf("function %d: %d checks, want %d (one per loop)", i, c, loops)
			}
			if loops > 0 && !bytes.Contains(got, cat([]byte{opLoop, blockTypeEmpty}, check)) && !bytes.Contains(got, cat([]byte{opLoop, 0x00}, check)) {
				t.Errorf("function %d: no check right after a loop's block type", i)
			}
		}
		if sp := cr.take(int(cr.u32())); !bytes.Equal(sp, ins.safepointBody()[1:]) {
			t.Errorf("last function % x, want the safe point", sp)
		}
		if n != 5 || cr.end() != nil {
			t.Errorf("code section: %d functions, want 4 + the safe point; end %v", n, cr.end())
		}
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
}

func lenPrefix(b []byte) int {
	r := &wasmReader{buf: b}
	r.u32()
	return r.pos
}

// With imported and defined globals, the flag takes the index after both.
func TestInterruptGlobalIndexAfterImports(t *testing.T) {
	env := cat([]byte("\x00asm\x01\x00\x00\x00"),
		sec(6, vec([]byte{0x7f, 0, 0x41, 5, 0x0b})), // (global i32 (i32.const 5))
		sec(7, vec(cat(str("g"), []byte{3, 0}))))
	guest := cat([]byte("\x00asm\x01\x00\x00\x00"),
		sec(1, vec(typeI32toI32)),
		sec(2, vec(cat(str("env"), str("g"), []byte{3, 0x7f, 0}))),
		sec(3, vec([]byte{0})),
		sec(5, vec([]byte{0, 1})),
		sec(6, vec([]byte{0x7f, 1, 0x41, 9, 0x0b})), // (global (mut i32) (i32.const 9))
		sec(7, vec(exportFunc("count", 0))),
		sec(10, vec(countBody)))
	code, err := instrumentInterrupt("guest.wasm", guest)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(code, (&instrumentation{flag: 2}).safepointBody()) {
		t.Fatal("the safe point does not read global 2 (after one imported and one defined global)")
	}
	rt := newTestRuntime(t)
	if _, err := rt.InstantiateWithConfig(t.Context(), env, wazero.NewModuleConfig().WithName("env")); err != nil {
		t.Fatal(err)
	}
	mod := instantiate(t, rt, code)
	if got, err := call1(t, mod, "count", 4); err != nil || got != 4 {
		t.Fatalf("count(4) = %d, %v", got, err)
	}
	mod.ExportedGlobal(interruptExport).(api.MutableGlobal).Set(1)
	if _, err := call1(t, mod, "count", 2*interruptTicks); err == nil {
		t.Fatal("the raised flag did not stop the loop")
	}
}

// spinGuest instantiates an instrumented module exporting spin:
// (loop br 0), and its interrupter.
func spinGuest(t *testing.T) (api.Module, *interrupter) {
	spin := cat([]byte("\x00asm\x01\x00\x00\x00"),
		sec(1, vec([]byte{0x60, 0, 0})),
		sec(3, vec([]byte{0})),
		sec(5, vec([]byte{0, 1})),
		sec(7, vec(exportFunc("spin", 0))),
		sec(10, vec(fn(noLocals, []byte{0x03, 0x40, 0x0c, 0, 0x0b}))))
	code, err := instrumentInterrupt("spin.wasm", spin)
	if err != nil {
		t.Fatal(err)
	}
	mod := instantiate(t, newTestRuntime(t), code)
	return mod, newInterrupter(mod.ExportedGlobal(interruptExport).(api.MutableGlobal))
}

func TestInterruptStopsEndlessLoopAtDeadline(t *testing.T) {
	mod, x := spinGuest(t)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- x.call(ctx, mod.ExportedFunction("spin"), nil) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "unreachable") {
			t.Fatalf("err = %v, want the trap and the deadline", err)
		}
		if took := time.Since(start); took < 50*time.Millisecond {
			t.Fatalf("stopped after %s, before its deadline", took)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("loop br 0 was not stopped at its 50 ms deadline")
	}
}

// Compiled guest code cannot be preempted: without the safe points a
// spinning guest would stall the collector's stop-the-world (and this test
// would hang until the test binary's timeout).
func TestInterruptSafePointsLetTheCollectorRun(t *testing.T) {
	mod, x := spinGuest(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- x.call(ctx, mod.ExportedFunction("spin"), nil) }()
	time.Sleep(20 * time.Millisecond) // the guest is spinning
	for range 3 {
		runtime.GC()
	}
	select {
	case err := <-done:
		t.Fatalf("the guest stopped before it was cancelled: %v", err)
	default:
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want the cancellation", err)
	}
}

// A context that ends as a call returns must not leave the flag raised for
// the next call on that instance.
func TestInterruptFlagLoweredAfterLateCancel(t *testing.T) {
	code, err := instrumentInterrupt("test.wasm", testModule())
	if err != nil {
		t.Fatal(err)
	}
	rt := newTestRuntime(t)
	for i := range 50 {
		mod := instantiate(t, rt, code)
		flag := mod.ExportedGlobal(interruptExport).(api.MutableGlobal)
		x := newInterrupter(flag)
		ctx, cancel := context.WithCancel(t.Context())
		stack := []uint64{uint64(i)}
		go cancel()
		err := x.call(ctx, mod.ExportedFunction("count"), stack)
		if flag.Get() != 0 {
			t.Fatalf("run %d: flag left at %d", i, flag.Get())
		}
		if err == nil && stack[0] != uint64(i) {
			t.Fatalf("run %d: count = %d", i, stack[0])
		}
		if err == nil { // the instance is still good: a fresh call works
			stack[0] = 3
			if err := x.call(t.Context(), mod.ExportedFunction("count"), stack); err != nil || stack[0] != 3 {
				t.Fatalf("run %d: call after a late cancel: %d, %v", i, stack[0], err)
			}
		}
		mod.Close(t.Context())
	}
}

func TestInterruptRefusesWhatItCannotParse(t *testing.T) {
	header := []byte("\x00asm\x01\x00\x00\x00")
	head := cat(header, sec(1, vec([]byte{0x60, 0, 0})), sec(3, vec([]byte{0})), sec(5, vec([]byte{0, 1})))
	withBody := func(instrs ...[]byte) []byte { return cat(head, sec(10, vec(fn(noLocals, instrs...)))) }
	// Offset of the first instruction: the sections before code, the code
	// section's id, size and count, the body's size and locals.
	first := len(head) + 5
	tests := []struct {
		name string
		code []byte
		want []string
	}{
		{"SIMD", withBody([]byte{0x41, 0, 0xfd, 0x0c}), []string{"bad.wasm", fmt.Sprintf("byte offset %#x", first+2), "SIMD"}},
		{"unknown opcode", withBody([]byte{0x01, 0xc5}), []string{fmt.Sprintf("byte offset %#x", first+1), "unknown opcode 0xc5"}},
		{"unknown 0xfc op", withBody([]byte{0xfc, 0x20}), []string{"unknown instruction 0xfc 32"}},
		{"tail call", withBody([]byte{0x12, 0}), []string{"tail call"}},
		{"missing end", cat(head, sec(10, vec([]byte{3, 0, 0x02, 0x40}))), []string{"ends before its final end"}},
		{"bytes after end", cat(head, sec(10, vec([]byte{3, 0, 0x0b, 0x01}))), []string{"1 bytes after the function's final end"}},
		{"no memory", cat(header, sec(1, vec([]byte{0x60, 0, 0})), sec(3, vec([]byte{0})), sec(10, vec(fn(noLocals)))), []string{"no memory"}},
		{"truncated section", cat(header, []byte{10, 50, 1}), []string{"50 bytes announced"}},
		{"not wasm", []byte("#!/bin/sh\n"), []string{"not a WebAssembly module"}},
		{"taken export", cat(header, sec(7, vec(cat(str(interruptExport), []byte{3, 0})))), []string{"already exports"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := instrumentInterrupt("bad.wasm", tt.code)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// A real Go guest (3 MB) instruments in a few milliseconds, once per load.
func BenchmarkInstrumentGoGuest(b *testing.B) {
	code, err := os.ReadFile(artifact("zone-pref.wasm"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(code)))
	for b.Loop() {
		if _, err := instrumentInterrupt("zone-pref.wasm", code); err != nil {
			b.Fatal(err)
		}
	}
}
