// Package abi is the wire format between skiff and out-of-process plugins
// (go-plugin processes and WASM guests): a compact little-endian binary
// encoding, hand-written so that decoding needs no reflection, and the
// plugin-side Dispatcher that both the process and the guest SDKs run.
// sdk/RATIONALE.md explains each choice.
package abi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/skiff-sh/skiff/sdk/scheduler"
)

// Writer appends little-endian values to a reusable buffer.
type Writer struct{ Buf []byte }

// Reset empties the buffer, keeping its capacity.
func (w *Writer) Reset() { w.Buf = w.Buf[:0] }

// U8 appends one byte.
func (w *Writer) U8(v uint8) { w.Buf = append(w.Buf, v) }

// Bool appends 1 or 0.
func (w *Writer) Bool(v bool) {
	if v {
		w.U8(1)
	} else {
		w.U8(0)
	}
}

// U32 appends a uint32.
func (w *Writer) U32(v uint32) { w.Buf = binary.LittleEndian.AppendUint32(w.Buf, v) }

// I32 appends an int32.
func (w *Writer) I32(v int32) { w.U32(uint32(v)) }

// U64 appends a uint64.
func (w *Writer) U64(v uint64) { w.Buf = binary.LittleEndian.AppendUint64(w.Buf, v) }

// I64 appends an int64.
func (w *Writer) I64(v int64) { w.U64(uint64(v)) }

// Len appends a length or count; it panics past 4 GiB, which no message reaches.
func (w *Writer) Len(n int) {
	if n < 0 || n > math.MaxUint32 {
		panic(fmt.Sprintf("abi: length %d out of range", n))
	}
	w.U32(uint32(n))
}

// Bytes appends a length-prefixed byte string.
func (w *Writer) Bytes(b []byte) { w.Len(len(b)); w.Buf = append(w.Buf, b...) }

// Str appends a length-prefixed string.
func (w *Writer) Str(s string) { w.Len(len(s)); w.Buf = append(w.Buf, s...) }

// Strs appends a counted list of strings.
func (w *Writer) Strs(ss []string) {
	w.Len(len(ss))
	for _, s := range ss {
		w.Str(s)
	}
}

// Labels appends a counted list of key/value pairs.
func (w *Writer) Labels(l scheduler.Labels) {
	w.Len(len(l))
	for _, kv := range l {
		w.Str(kv.Key)
		w.Str(kv.Value)
	}
}

// I32s appends a counted list of int32.
func (w *Writer) I32s(v []int32) {
	w.Len(len(v))
	for _, x := range v {
		w.I32(x)
	}
}

// ErrShort is reported when a message ends before a value it announces.
var ErrShort = errors.New("abi: message truncated")

// Reader decodes values written by Writer. The first error sticks: later
// reads return zero values and Err reports it, so decoders check once.
type Reader struct {
	buf []byte
	off int
	err error
	// short is the first read past the end, turned into err by Err: the
	// readers stay small enough to inline (in a Go WASM guest a call
	// costs more than the read, and a node record is dozens of reads).
	short struct{ want, at, have int }
	// arena, when set, is buf as one string: Str returns substrings of it
	// instead of allocating a string per field.
	arena string
}

// NewReader reads b.
func NewReader(b []byte) *Reader { return &Reader{buf: b} }

// Err returns the first decoding error.
func (r *Reader) Err() error {
	if r.err == nil && r.short.want != 0 {
		r.err = fmt.Errorf("%w: need %d bytes at offset %d, have %d", ErrShort, r.short.want, r.short.at, r.short.have)
	}
	return r.err
}

// Rest returns the bytes not read yet.
func (r *Reader) Rest() []byte { return r.buf[r.off:] }

// take returns the next n bytes, or nil when fewer remain; then it notes
// the first such read and moves to the end, so every later read is short.
func (r *Reader) take(n int) []byte {
	rest := r.buf[r.off:]
	if uint(n) > uint(len(rest)) {
		if r.short.want == 0 {
			r.short.want, r.short.at, r.short.have = n, r.off, len(rest)
		}
		r.off = len(r.buf)
		return nil
	}
	r.off += n
	return rest[:n]
}

// fail records err unless an error came first, and moves to the end.
func (r *Reader) fail(err error) {
	if r.Err() == nil {
		r.err = err
	}
	r.off = len(r.buf)
}

// U8 reads one byte.
func (r *Reader) U8() uint8 {
	if b := r.take(1); len(b) == 1 {
		return b[0]
	}
	return 0
}

// Bool reads a byte as a bool.
func (r *Reader) Bool() bool { return r.U8() != 0 }

// U32 reads a uint32.
func (r *Reader) U32() uint32 {
	if b := r.take(4); len(b) == 4 {
		return loadU32(b)
	}
	return 0
}

// I32 reads an int32.
func (r *Reader) I32() int32 { return int32(r.U32()) }

// U64 reads a uint64.
func (r *Reader) U64() uint64 {
	if b := r.take(8); len(b) == 8 {
		return loadU64(b)
	}
	return 0
}

// I64 reads an int64.
func (r *Reader) I64() int64 { return int64(r.U64()) }

// Len reads a count and checks that at least min bytes per item remain, so
// a corrupt count cannot make a decoder allocate gigabytes.
func (r *Reader) Len(min int) int {
	n := int(r.U32())
	if min > 0 && n > (len(r.buf)-r.off)/min {
		return r.tooMany(n, min)
	}
	return n
}

//go:noinline
func (r *Reader) tooMany(n, min int) int {
	r.fail(fmt.Errorf("%w: %d items of at least %d bytes at offset %d, have %d bytes", ErrShort, n, min, r.off, len(r.buf)-r.off))
	return 0
}

// Bytes reads a length-prefixed byte string, copied out of the message.
func (r *Reader) Bytes() []byte {
	b := r.take(r.Len(0))
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// Str reads a length-prefixed string.
func (r *Reader) Str() string {
	b := r.take(int(r.U32()))
	if r.arena != "" && len(b) > 0 {
		return r.arena[r.off-len(b) : r.off]
	}
	return string(b)
}

// Section reads a length-prefixed block as a Reader of its own whose
// strings share one allocation: used for node records, which live as long
// as the mirror keeps them.
// It is returned by value, so that the decoder of a call keeps it on its
// stack.
func (r *Reader) Section() Reader {
	b := r.take(r.Len(0))
	if err := r.Err(); err != nil {
		return Reader{err: err}
	}
	return Reader{buf: b, arena: string(b)}
}

// PutSection appends a block written by fill, prefixed by its length.
func (w *Writer) PutSection(fill func()) {
	at := len(w.Buf)
	w.U32(0)
	fill()
	binary.LittleEndian.PutUint32(w.Buf[at:], uint32(len(w.Buf)-at-4))
}

// Strs reads a counted list of strings.
func (r *Reader) Strs() []string {
	n := r.Len(4)
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = r.Str()
	}
	return out
}

// Labels reads a counted list of key/value pairs; an empty list gives nil.
// Labels from a sender that did not sort them are sorted here.
func (r *Reader) Labels() scheduler.Labels {
	n := r.Len(8)
	if n == 0 {
		return nil
	}
	l := make(scheduler.Labels, n)
	for i := range l {
		l[i] = scheduler.Label{Key: r.Str(), Value: r.Str()}
	}
	if !l.Sorted() {
		l = scheduler.MakeLabels(l.Map())
	}
	return l
}

// I32s reads a counted list of int32 into dst, reusing its capacity.
func (r *Reader) I32s(dst []int32) []int32 {
	n := r.Len(4)
	b := r.take(4 * n)
	dst = dst[:0]
	for i := 0; i < len(b); i += 4 {
		dst = append(dst, int32(binary.LittleEndian.Uint32(b[i:])))
	}
	return dst
}
