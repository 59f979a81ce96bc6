//go:build linux

package plugin

import (
	"syscall"
	"unsafe"

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
		// Open whole huge pages: the kernel backs a fault with a huge page
		// only when its 2 MiB range is already accessible. A Go guest
		// grows a few wasm pages at a time and writes each at once, so
		// opening exactly size left most of its heap on 4 KiB pages, each
		// first touch a ~12 us fault in a VM: ~0.9 faults, ~10 us, per
		// scheduling call while the heap grew. The guest still sees size
		// bytes; the rest stays out of its bounds checks.
		base := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(m.buf))))
		open := min(alignUp(base+size, hugePage)-base, uint64(len(m.buf)))
		if err := syscall.Mprotect(m.buf[m.open:open], syscall.PROT_READ|syscall.PROT_WRITE); err != nil {
			return nil
		}
		m.open = open
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

const hugePage = 2 << 20

func alignUp(n, to uint64) uint64 { return (n + to - 1) / to * to }
