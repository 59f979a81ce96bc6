//go:build !linux

package plugin

import "github.com/tetratelabs/wazero/experimental"

// guestMemory is wazero's default outside Linux: linear memory in a Go
// slice (see wasm_memory_linux.go for why Linux maps it instead).
var guestMemory experimental.MemoryAllocator
