package plugin

import (
	"testing"
	"unsafe"
)

// Growing the mapped memory keeps its address and its contents, and stops
// at the limit.
func TestMappedMemoryGrowsInPlace(t *testing.T) {
	const page = 64 << 10
	mem := newMappedMemory(0, 4*page)
	defer mem.Free()
	if _, ok := mem.(*mappedMemory); !ok {
		t.Fatalf("got %T, want the mapped memory", mem)
	}
	b := mem.Reallocate(page)
	if len(b) != page {
		t.Fatalf("len %d, want %d", len(b), page)
	}
	b[page-1] = 42
	grown := mem.Reallocate(3 * page)
	if unsafe.SliceData(grown) != unsafe.SliceData(b) || grown[page-1] != 42 {
		t.Fatal("growing moved the memory or lost its contents")
	}
	grown[3*page-1] = 7 // the new pages are writable
	if mem.Reallocate(5*page) != nil {
		t.Fatal("grew past the limit")
	}
	if got := mem.Reallocate(4 * page); len(got) != 4*page || got[page-1] != 42 {
		t.Fatal("could not grow to the limit")
	}
}
