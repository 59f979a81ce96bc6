package abi

import (
	"encoding/binary"
	"slices"
	"unsafe"
)

// nativeLittleEndian is true where memory order matches the wire (wasm,
// amd64, arm64): there the bulk arrays of a call (candidate slots, scores)
// are used in place instead of being copied element by element, which in a
// Go WASM guest costs ~100 ns per element.
var nativeLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// align writes a pad count and that many zero bytes so that the next value
// starts at a multiple of size from the start of the message. Receivers
// place messages at aligned addresses, so the array can be viewed in place.
func (w *Writer) align(size int) {
	pad := (size - (len(w.Buf)+1)%size) % size
	w.U8(uint8(pad))
	w.Buf = append(w.Buf, make([]byte, pad)...)
}

func (r *Reader) skipAlign() { r.take(int(r.U8())) }

// PutCandidates appends the candidate slots of a call as an aligned array.
func (w *Writer) PutCandidates(slots []int32) {
	w.Len(len(slots))
	w.align(4)
	w.Buf = slices.Grow(w.Buf, 4*len(slots))
	for _, s := range slots {
		w.Buf = binary.LittleEndian.AppendUint32(w.Buf, uint32(s))
	}
}

// Candidates reads what PutCandidates wrote, as a view of the message when
// it is aligned (valid while the message is), else decoded into *scratch,
// which keeps the grown buffer for the next call.
func (r *Reader) Candidates(scratch *[]int32) []int32 {
	n := r.Len(4)
	r.skipAlign()
	b := r.take(4 * n)
	if len(b) == 0 {
		return nil
	}
	if nativeLittleEndian && uintptr(unsafe.Pointer(&b[0]))%4 == 0 {
		return unsafe.Slice((*int32)(unsafe.Pointer(&b[0])), n)
	}
	dst := (*scratch)[:0]
	for i := 0; i < len(b); i += 4 {
		dst = append(dst, int32(binary.LittleEndian.Uint32(b[i:])))
	}
	*scratch = dst
	return dst
}

// ReserveScores appends room for n scores and returns the slice to fill and
// a commit function to call once it is filled. Where possible the slice is
// the message itself and commit does nothing; otherwise it is *scratch
// (grown as needed). Nothing may be written to w between the two.
func (w *Writer) ReserveScores(n int, scratch *[]int64) (scores []int64, commit func()) {
	w.Len(n)
	w.align(8)
	w.Buf = slices.Grow(w.Buf, 8*n)
	start := len(w.Buf)
	w.Buf = w.Buf[:start+8*n]
	if n == 0 {
		return nil, func() {}
	}
	if p := unsafe.Pointer(&w.Buf[start]); nativeLittleEndian && uintptr(p)%8 == 0 {
		scores = unsafe.Slice((*int64)(p), n)
		clear(scores)
		return scores, func() {}
	}
	scores = slices.Grow((*scratch)[:0], n)[:n]
	*scratch = scores
	clear(scores)
	return scores, func() {
		for i, s := range scores {
			binary.LittleEndian.PutUint64(w.Buf[start+8*i:], uint64(s))
		}
	}
}

// Scores decodes a score result into dst, which must have the length the
// call had candidates.
func (r *Reader) Scores(dst []int64) {
	n := r.Len(8)
	r.skipAlign()
	if r.Err() == nil && n != len(dst) {
		r.fail(errCount("scores", n, len(dst)))
		return
	}
	b := r.take(8 * n)
	for i := range dst {
		if b != nil {
			dst[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
	}
}
