//go:build !wasm

package abi

import "encoding/binary"

func loadU32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
func loadU64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }
