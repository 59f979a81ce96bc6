package plugin

import (
	"fmt"
	"strings"
)

// interruptExport is the mutable i32 global instrumentInterrupt adds to a
// guest. The host sets it to 1 when a call's deadline passes; the guest
// traps at its next safe point.
const interruptExport = "skiff_interrupt"

// interruptTicks is how many loop iterations a function runs between two
// safe points (a power of two): a few microseconds of guest code, so a
// deadline is met within that and the Go runtime never waits longer than
// that to stop the world.
const interruptTicks = 1024

// instrumentInterrupt returns a copy of the WASM module code that the host
// can stop at a deadline, the way epoch interruption and gas-metering
// injection do, at a cost of ~1 ns per loop iteration. It adds
//
//	(global $skiff_interrupt (mut i32) (i32.const 0))  ;; exported
//	(func $safepoint
//	  (drop (memory.grow (i32.const 0)))
//	  (if (global.get $skiff_interrupt) (then unreachable)))
//
// gives every function a new i32 local $ticks, and makes every `loop`
// start with
//
//	(local.set $ticks (i32.add (local.get $ticks) (i32.const 1)))
//	(if (i32.eqz (i32.and (local.get $ticks) (i32.const 1023)))
//	  (then (call $safepoint)))
//
// The global, the function and the locals take the next free indices, so no
// existing index moves. The counter is a local, which the compiler keeps in
// a register: a global counter is a load and a store on every iteration,
// and cost Go guests ~20% more. Whatever runs forever does so in a loop of
// some frame, which then reaches a safe point every 1,024 iterations
// (unbounded recursion ends in a stack-exhaustion trap instead).
//
// Why not wazero's WithCloseOnContextDone: it calls out to Go at every loop
// header (~55 ns), and a Go guest passes one for every function it enters
// and every branch to an earlier block: a score call over 5,000 nodes took
// 4 ms with it and 0.37 ms without. Why the safe point grows memory by 0
// pages: compiled guest code cannot be preempted by the Go scheduler, so a
// guest that never left it would stall every stop-the-world (garbage
// collection) of the host, and with it the timer that raises the flag;
// memory.grow is a call into the runtime in every engine, where the
// goroutine can be stopped.
//
// The walk covers the instruction set wazero accepts by default, except
// SIMD: MVP, sign-extension, non-trapping float-to-int, bulk memory,
// reference types and multi-value block types. Anything else (SIMD,
// threads, exceptions, tail calls, an unknown opcode, a malformed body) is
// refused with the module's name and the byte offset rather than guessed
// at. DWARF sections are dropped: their code offsets no longer hold.
func instrumentInterrupt(name string, code []byte) ([]byte, error) {
	in := &wasmReader{name: name, buf: code}
	sections, err := in.sections()
	if err != nil {
		return nil, err
	}
	var l wasmLayout
	for _, s := range sections {
		if err := l.add(in, s); err != nil {
			return nil, err
		}
	}
	if len(l.funcTypes) == 0 {
		return nil, in.errorf(0, "the module defines no functions: it cannot be a plugin")
	}
	if l.memories == 0 {
		return nil, in.errorf(0, "the module has no memory: the plugin ABI, and the host's deadline check, need one")
	}
	ins := &instrumentation{
		flag:      uint32(l.importedGlobals + l.definedGlobals),
		safepoint: uint32(l.importedFuncs + len(l.funcTypes)),
		layout:    &l,
	}
	out := make([]byte, 0, len(code)+len(code)/8)
	out = append(out, code[:8]...)
	added := map[byte]bool{}
	// addMissing writes the global and export sections, with only the new
	// entries, where a module without them would have them.
	addMissing := func(before byte) {
		for _, id := range []byte{wasmSectionGlobal, wasmSectionExport} {
			if !added[id] && sectionRank(before) > sectionRank(id) {
				out = appendSection(out, id, ins.appendNewEntries(id, appendU32(nil, 0)))
				added[id] = true
			}
		}
	}
	for _, s := range sections {
		if s.id == wasmSectionCustom {
			if name := in.sub(s).str(); !strings.HasPrefix(name, ".debug_") {
				out = appendSection(out, s.id, s.body)
			}
			continue
		}
		addMissing(s.id)
		switch s.id {
		case wasmSectionType, wasmSectionFunction, wasmSectionGlobal, wasmSectionExport:
			out = appendSection(out, s.id, ins.appendNewEntries(s.id, s.body))
			added[s.id] = true
		case wasmSectionCode:
			body, err := ins.code(in.sub(s))
			if err != nil {
				return nil, err
			}
			out = appendSection(out, s.id, body)
		default:
			out = appendSection(out, s.id, s.body)
		}
	}
	addMissing(0xff)
	return out, nil
}

// instrumentation is what instrumentInterrupt adds to one module.
type instrumentation struct {
	flag      uint32 // global index of $skiff_interrupt
	safepoint uint32 // function index of $safepoint
	layout    *wasmLayout
}

// appendNewEntries returns a vector section body (count and entries) with
// the instrumentation's entries added at the end.
func (ins *instrumentation) appendNewEntries(id byte, body []byte) []byte {
	r := &wasmReader{buf: body}
	n := r.u32() // read without error by wasmLayout.add
	out := append(appendU32(nil, n+1), body[r.pos:]...)
	switch id {
	case wasmSectionType:
		return append(out, 0x60, 0, 0) // () -> ()
	case wasmSectionFunction:
		return appendU32(out, uint32(len(ins.layout.params))) // the new type: () -> ()
	case wasmSectionGlobal:
		return append(out, valTypeI32, 1, opI32Const, 0, opEnd)
	case wasmSectionExport:
		out = append(appendU32(out, uint32(len(interruptExport))), interruptExport...)
		return appendU32(append(out, exportKindGlobal), ins.flag)
	}
	panic("appendNewEntries: section " + fmt.Sprint(id))
}

// check is the code inserted after a loop's block type, counting on the
// local ticks.
func (ins *instrumentation) check(dst []byte, ticks uint32) []byte {
	dst = appendU32(append(dst, opLocalGet), ticks)
	dst = append(dst, opI32Const, 1, opI32Add, opLocalTee)
	dst = appendU32(dst, ticks)
	dst = append(dst, opI32Const, (interruptTicks-1)&0x7f|0x80, (interruptTicks-1)>>7, opI32And, opI32Eqz, opIf, blockTypeEmpty, opCall)
	return append(appendU32(dst, ins.safepoint), opEnd)
}

// safepointBody is the code-section entry of the safe-point function.
func (ins *instrumentation) safepointBody() []byte {
	body := []byte{0, opI32Const, 0, opMemoryGrow, 0, opDrop, opGlobalGet} // no locals
	body = appendU32(body, ins.flag)
	body = append(body, opIf, blockTypeEmpty, opUnreachable, opEnd, opEnd)
	return append(appendU32(nil, uint32(len(body))), body...)
}

// sections splits the module into its sections.
func (r *wasmReader) sections() ([]wasmSection, error) {
	code := r.buf
	if len(code) < 8 || string(code[:4]) != "\x00asm" {
		return nil, r.errorf(0, "not a WebAssembly module (no \\0asm header)")
	}
	if v := code[4:8]; v[0] != 1 || v[1] != 0 || v[2] != 0 || v[3] != 0 {
		return nil, r.errorf(4, "WebAssembly binary version %d, only version 1 is supported", v[0])
	}
	r.pos = 8
	var sections []wasmSection
	for r.pos < len(code) {
		start := r.pos
		id := r.byte()
		size := r.u32()
		body := r.take(int(size))
		if r.err != nil {
			return nil, r.err
		}
		if id > wasmSectionDataCount {
			return nil, r.errorf(start, "unknown section id %d (a proposal this host does not instrument)", id)
		}
		sections = append(sections, wasmSection{id: id, at: r.pos - int(size), body: body})
	}
	return sections, nil
}

// Section ids (https://webassembly.github.io/spec/core/binary/modules.html).
const (
	wasmSectionCustom    = 0
	wasmSectionType      = 1
	wasmSectionImport    = 2
	wasmSectionFunction  = 3
	wasmSectionMemory    = 5
	wasmSectionGlobal    = 6
	wasmSectionExport    = 7
	wasmSectionCode      = 10
	wasmSectionDataCount = 12
)

// sectionRank is a section's place in the order the binary format requires
// (the data count section, id 12, comes before code and data).
func sectionRank(id byte) int {
	switch id {
	case wasmSectionDataCount:
		return 10
	case 10, 11:
		return int(id) + 1
	}
	return int(id)
}

type wasmSection struct {
	id   byte
	at   int // offset of the body in the module
	body []byte
}

func appendSection(out []byte, id byte, body []byte) []byte {
	out = append(out, id)
	out = appendU32(out, uint32(len(body)))
	return append(out, body...)
}

// wasmLayout is what the new entries' indices follow and the functions'
// parameter counts, after which the new local of each comes.
type wasmLayout struct {
	params                                         []int    // per type
	funcTypes                                      []uint32 // per defined function
	importedFuncs, importedGlobals, definedGlobals int
	memories                                       int
}

func (l *wasmLayout) add(r *wasmReader, s wasmSection) error {
	in := r.sub(s)
	var err error
	switch s.id {
	case wasmSectionType:
		err = l.addTypes(in)
	case wasmSectionFunction:
		var n int
		n, err = in.vecCount()
		for range n {
			l.funcTypes = append(l.funcTypes, in.u32())
		}
		if err == nil {
			err = in.end()
		}
	case wasmSectionGlobal:
		l.definedGlobals, err = in.vecCount()
	case wasmSectionMemory:
		var n int
		n, err = in.vecCount()
		l.memories += n
	case wasmSectionImport:
		err = l.addImports(in)
	case wasmSectionExport:
		err = in.checkExportFree(interruptExport)
	}
	return err
}

func (l *wasmLayout) addTypes(in *wasmReader) error {
	n, err := in.vecCount()
	for range n {
		at := in.pos
		if form := in.byte(); form != 0x60 && in.err == nil {
			return in.errorf(at, "type of form 0x%02x, only function types (0x60) are supported", form)
		}
		params, _ := in.vecCount()
		in.take(params)
		results, _ := in.vecCount()
		in.take(results)
		l.params = append(l.params, params)
	}
	if err == nil {
		err = in.end()
	}
	return err
}

func (l *wasmLayout) addImports(in *wasmReader) error {
	n, err := in.vecCount()
	for range n {
		in.str()
		in.str()
		at := in.pos
		switch kind := in.byte(); kind {
		case 0: // function: type index
			in.u32()
			l.importedFuncs++
		case 1: // table: reference type and limits
			in.byte()
			in.limits()
		case 2: // memory: limits
			in.limits()
			l.memories++
		case 3: // global: value type and mutability
			in.byte()
			in.byte()
			l.importedGlobals++
		default:
			if in.err == nil {
				return in.errorf(at, "import of unknown kind %d", kind)
			}
		}
	}
	if err == nil {
		err = in.end()
	}
	return err
}

func (in *wasmReader) checkExportFree(name string) error {
	n, err := in.vecCount()
	for range n {
		at := in.pos
		if in.str() == name && in.err == nil {
			return in.errorf(at, "the module already exports %q, the name the host gives its interrupt flag", name)
		}
		in.byte()
		in.u32()
	}
	if err == nil {
		err = in.end()
	}
	return err
}

// code rewrites the code section: each body with its counter local and
// the check after every loop's block type, with its new size, then the
// safe point's body.
func (ins *instrumentation) code(r *wasmReader) ([]byte, error) {
	n, err := r.vecCount()
	if err != nil {
		return nil, err
	}
	if n != len(ins.layout.funcTypes) {
		return nil, r.errorf(0, "%d function bodies for %d functions", n, len(ins.layout.funcTypes))
	}
	out := appendU32(make([]byte, 0, len(r.buf)+len(r.buf)/8), uint32(n+1))
	var fn []byte
	for i, typ := range ins.layout.funcTypes {
		size := int(r.u32())
		body := r.take(size)
		if r.err != nil {
			return nil, r.err
		}
		if int(typ) >= len(ins.layout.params) {
			return nil, r.errorf(r.pos-size, "function %d has type %d of %d", i, typ, len(ins.layout.params))
		}
		f := &wasmReader{name: r.name, buf: body, base: r.base + r.pos - size}
		if fn, err = ins.body(f, fn[:0], ins.layout.params[typ]); err != nil {
			return nil, fmt.Errorf("%w (in the code section's function %d)", err, i)
		}
		out = appendU32(out, uint32(len(fn)))
		out = append(out, fn...)
	}
	return append(out, ins.safepointBody()...), r.end()
}

// body appends the instrumented function body to out: its locals plus the
// counter, and its code with a check after every loop's block type.
func (ins *instrumentation) body(r *wasmReader, out []byte, params int) ([]byte, error) {
	groups, _ := r.vecCount()
	ticks := uint64(params)
	for range groups {
		ticks += uint64(r.u32()) // how many locals
		r.byte()                 // of this value type
	}
	if r.err != nil {
		return nil, r.err
	}
	if ticks >= 50000 { // wazero's limit on a function's locals
		return nil, r.errorf(0, "%d locals and parameters, no room for the counter", ticks)
	}
	out = appendU32(out, uint32(groups+1))
	out = append(out, r.buf[lenU32(r.buf):r.pos]...)
	out = append(out, 1, valTypeI32)
	var check []byte
	copied := r.pos
	depth := 0 // open blocks, the function's own included
	for depth >= 0 {
		at := r.pos
		op := r.byte()
		if r.err != nil {
			return nil, r.errorf(at, "function body ends before its final end")
		}
		switch imm := opImmediates[op]; imm {
		case immNone:
			if op == opEnd {
				depth--
			}
		case immBlockType:
			r.s33()
			depth++
			if op == opLoop {
				if check == nil {
					check = ins.check(nil, uint32(ticks))
				}
				out = append(out, r.buf[copied:r.pos]...)
				out = append(out, check...)
				copied = r.pos
			}
		case immU32:
			r.u32()
		case immU32x2:
			r.u32()
			r.u32()
		case immBrTable:
			n, _ := r.vecCount()
			for range n + 1 { // the targets and the default
				r.u32()
			}
		case immValTypes:
			n, _ := r.vecCount()
			r.take(n)
		case immMemArg:
			if align := r.u32(); align >= 64 && r.err == nil {
				return nil, r.errorf(at, "memory access with a memory index (multi-memory) is not supported")
			}
			r.u32()
		case immS32:
			r.sleb(32)
		case immS64:
			r.sleb(64)
		case immBytes4:
			r.take(4)
		case immBytes8:
			r.take(8)
		case immRefType:
			if t := r.byte(); t != refTypeFunc && t != refTypeExtern && r.err == nil {
				return nil, r.errorf(at+1, "ref.null of unknown reference type 0x%02x", t)
			}
		case immMisc:
			r.miscImmediates(at)
		default:
			return nil, r.errorf(at, "%s", unsupportedOpcode(op))
		}
		if r.err != nil {
			return nil, r.err
		}
	}
	if r.pos != len(r.buf) {
		return nil, r.errorf(r.pos, "%d bytes after the function's final end", len(r.buf)-r.pos)
	}
	return append(out, r.buf[copied:]...), nil
}

// miscImmediates reads the immediates of a 0xFC-prefixed instruction.
func (r *wasmReader) miscImmediates(at int) {
	switch sub := r.u32(); {
	case sub <= 7: // saturating float-to-int conversions
	case sub == 8, sub == 10, sub == 12, sub == 14: // memory.init, memory.copy, table.init, table.copy
		r.u32()
		r.u32()
	case sub == 9, sub == 11, sub == 13, sub == 15, sub == 16, sub == 17: // data.drop, memory.fill, elem.drop, table.grow/size/fill
		r.u32()
	default:
		if r.err == nil {
			r.err = r.errorf(at, "unknown instruction 0xfc %d", sub)
		}
	}
}

func unsupportedOpcode(op byte) string {
	switch op {
	case 0xfd:
		return "SIMD instruction (0xfd prefix): build the guest without SIMD"
	case 0xfe:
		return "atomic instruction (0xfe prefix, threads proposal): not supported"
	case 0x06, 0x07, 0x08, 0x09, 0x0a, 0x18, 0x19, 0x1f:
		return fmt.Sprintf("exception-handling instruction 0x%02x: not supported", op)
	case 0x12, 0x13:
		return fmt.Sprintf("tail call 0x%02x: not supported", op)
	}
	return fmt.Sprintf("unknown opcode 0x%02x", op)
}

// Opcodes and encodings the instrumenter writes or tests for.
const (
	opUnreachable    = 0x00
	opLoop           = 0x03
	opIf             = 0x04
	opEnd            = 0x0b
	opCall           = 0x10
	opDrop           = 0x1a
	opLocalGet       = 0x20
	opLocalTee       = 0x22
	opGlobalGet      = 0x23
	opMemoryGrow     = 0x40
	opI32Const       = 0x41
	opI32Eqz         = 0x45
	opI32Add         = 0x6a
	opI32And         = 0x71
	blockTypeEmpty   = 0x40
	valTypeI32       = 0x7f
	refTypeFunc      = 0x70
	refTypeExtern    = 0x6f
	exportKindGlobal = 3
)

// immKind is the shape of an instruction's immediates.
type immKind uint8

const (
	immUnsupported immKind = iota
	immNone
	immBlockType // s33: empty, a value type or a type index
	immU32       // one index or label
	immU32x2     // call_indirect: type and table
	immBrTable   // a vector of labels and a default
	immValTypes  // typed select: a vector of value types
	immMemArg    // alignment and offset
	immS32
	immS64
	immBytes4
	immBytes8
	immRefType
	immMisc // 0xfc prefix
)

// opImmediates maps every single-byte opcode wazero accepts by default
// (SIMD aside) to its immediates; the rest stay immUnsupported.
var opImmediates = func() (t [256]immKind) {
	for _, op := range []byte{0x00, 0x01, 0x05, 0x0b, 0x0f, 0x1a, 0x1b, 0xd1} {
		t[op] = immNone
	}
	for op := 0x45; op <= 0xc4; op++ { // comparisons, arithmetic, conversions, sign extension
		t[op] = immNone
	}
	for _, op := range []byte{0x02, 0x03, 0x04} {
		t[op] = immBlockType
	}
	for _, op := range []byte{0x0c, 0x0d, 0x10, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x3f, 0x40, 0xd2} {
		t[op] = immU32
	}
	for op := 0x28; op <= 0x3e; op++ {
		t[op] = immMemArg
	}
	t[0x0e] = immBrTable
	t[0x11] = immU32x2
	t[0x1c] = immValTypes
	t[0x41] = immS32
	t[0x42] = immS64
	t[0x43] = immBytes4
	t[0x44] = immBytes8
	t[0xd0] = immRefType
	t[0xfc] = immMisc
	return t
}()

// wasmReader reads one part of a module; base is that part's offset in the
// module, so errors name the absolute byte offset. The first error sticks.
type wasmReader struct {
	name string
	buf  []byte
	pos  int
	base int
	err  error
}

func (r *wasmReader) sub(s wasmSection) *wasmReader {
	return &wasmReader{name: r.name, buf: s.body, base: s.at}
}

func (r *wasmReader) errorf(at int, format string, args ...any) error {
	return fmt.Errorf("wasm module %s: byte offset %#x: %s", r.name, r.base+at, fmt.Sprintf(format, args...))
}

func (r *wasmReader) fail(at int, format string, args ...any) {
	if r.err == nil {
		r.err = r.errorf(at, format, args...)
	}
}

func (r *wasmReader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.pos >= len(r.buf) {
		r.fail(r.pos, "unexpected end of section")
		return 0
	}
	b := r.buf[r.pos]
	r.pos++
	return b
}

func (r *wasmReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.buf)-r.pos < n {
		r.fail(r.pos, "%d bytes announced, %d left", n, len(r.buf)-r.pos)
		return nil
	}
	b := r.buf[r.pos : r.pos+n]
	r.pos += n
	return b
}

// u32 reads an unsigned LEB128 of at most 5 bytes.
func (r *wasmReader) u32() uint32 {
	at := r.pos
	var v uint32
	for i := 0; i < 5; i++ {
		b := r.byte()
		v |= uint32(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			if i == 4 && b > 0x0f {
				r.fail(at, "unsigned 32-bit LEB128 out of range")
			}
			return v
		}
	}
	r.fail(at, "unsigned 32-bit LEB128 longer than 5 bytes")
	return 0
}

// sleb skips a signed LEB128 of at most bits bits.
func (r *wasmReader) sleb(bits int) {
	at := r.pos
	for i := 0; i < (bits+6)/7; i++ {
		if r.byte()&0x80 == 0 {
			return
		}
	}
	r.fail(at, "signed %d-bit LEB128 too long", bits)
}

// s33 skips a block type: 0x40, a value type, or a type index.
func (r *wasmReader) s33() { r.sleb(33) }

// vecCount reads a vector's length, bounded by the bytes left (every
// element takes at least one), so a corrupt count is an error, not a loop.
func (r *wasmReader) vecCount() (int, error) {
	at := r.pos
	n := int(r.u32())
	if r.err == nil && n > len(r.buf)-r.pos {
		r.fail(at, "vector of %d elements in %d bytes", n, len(r.buf)-r.pos)
	}
	if r.err != nil {
		return 0, r.err
	}
	return n, nil
}

func (r *wasmReader) str() string { return string(r.take(int(r.u32()))) }

func (r *wasmReader) limits() {
	switch flags := r.byte(); flags {
	case 0, 2: // min; shared min
		r.u32()
	case 1, 3: // min and max; shared
		r.u32()
		r.u32()
	default:
		r.fail(r.pos-1, "limits flag %#x (memory64?) not supported", flags)
	}
}

// end reports an error unless the section was read to its last byte.
func (r *wasmReader) end() error {
	if r.err == nil && r.pos != len(r.buf) {
		r.fail(r.pos, "%d unread bytes at the end of the section", len(r.buf)-r.pos)
	}
	return r.err
}

func appendU32(out []byte, v uint32) []byte {
	for v >= 0x80 {
		out = append(out, byte(v)|0x80)
		v >>= 7
	}
	return append(out, byte(v))
}

// lenU32 is the length of the LEB128 at the start of b.
func lenU32(b []byte) int {
	for i, c := range b {
		if c&0x80 == 0 {
			return i + 1
		}
	}
	return len(b)
}
