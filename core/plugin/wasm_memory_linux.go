//go:build linux

package plugin

import (
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// guestMemory is the allocator of WASM instances' linear memory: the
// instance's whole memory limit reserved as address space (no access, no
// commit charge) and opened page by page as the guest grows. wazero's
// default keeps linear memory in a Go slice that it re-allocates and
// copies on every growth: a Go guest growing to its steady 40 MB copied
// its heap over and over and zeroed fresh Go memory, a third of its first
// minutes' CPU time, and the Go collector had to account for it.
var guestMemory experimental.MemoryAllocator = experimental.MemoryAllocatorFunc(newMappedMemory)

type mappedMemory struct {
	buf  []byte // the reservation, len = the instance's maximum
	open uint64 // bytes readable and writable from the start
}

func newMappedMemory(capacity, max uint64) experimental.LinearMemory {
	if max > 0 {
		buf, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_NONE, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
		if err == nil {
			// Huge pages where the kernel allows them: a guest's heap
			// grows by megabytes, and in a VM a fault per 4 KiB page cost
			// more than the slice copies this replaces.
			_ = syscall.Madvise(buf, syscall.MADV_HUGEPAGE)
			return &mappedMemory{buf: buf}
		}
	}
	// No address space to reserve: grow a slice as wazero does.
	return &sliceMemory{buf: make([]byte, 0, capacity)}
}

// Reallocate opens the memory up to size bytes; the address never changes.
func (m *mappedMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.buf)) {
		return nil // past the limit: memory.grow fails in the guest
	}
	if size > m.open {
		if err := syscall.Mprotect(m.buf[m.open:size], syscall.PROT_READ|syscall.PROT_WRITE); err != nil {
			return nil
		}
		m.open = size
	}
	return m.buf[:size]
}

func (m *mappedMemory) Free() {
	if m.buf != nil {
		syscall.Munmap(m.buf)
		m.buf, m.open = nil, 0
	}
}

// sliceMemory is wazero's own strategy, for when mmap fails.
type sliceMemory struct{ buf []byte }

func (m *sliceMemory) Reallocate(size uint64) []byte {
	if size > uint64(cap(m.buf)) {
		grown := make([]byte, size, size+size/4)
		copy(grown, m.buf)
		m.buf = grown
	}
	m.buf = m.buf[:size]
	return m.buf
}

func (m *sliceMemory) Free() { m.buf = nil }
