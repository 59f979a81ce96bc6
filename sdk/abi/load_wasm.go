package abi

import "unsafe"

// Go's wasm port has no intrinsic for binary.LittleEndian loads (four byte
// loads and shifts, which put the fixed-width readers over the inlining
// budget); wasm is little-endian and loads need no alignment.

func loadU32(b []byte) uint32 { return *(*uint32)(unsafe.Pointer(unsafe.SliceData(b))) }
func loadU64(b []byte) uint64 { return *(*uint64)(unsafe.Pointer(unsafe.SliceData(b))) }
