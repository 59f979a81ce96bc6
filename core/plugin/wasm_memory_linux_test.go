package plugin

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
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

// A guest that grows its memory a wasm page at a time and writes each new
// page at once still gets huge pages, where the kernel grants them on
// madvise: the 2 MiB ranges are opened whole before the first write.
func TestMappedMemoryGetsHugePages(t *testing.T) {
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || !(bytes.Contains(mode, []byte("[madvise]")) || bytes.Contains(mode, []byte("[always]"))) {
		t.Skipf("transparent huge pages are off here (%q)", mode)
	}
	const page, size = 64 << 10, 8 << 20
	mem := newMappedMemory(0, size)
	defer mem.Free()
	var b []byte
	for n := page; n <= size; n += page {
		b = mem.Reallocate(uint64(n))
		b[n-page] = 1 // the guest writes as soon as it has grown
	}
	if anonHugeKiB(t, uintptr(unsafe.Pointer(unsafe.SliceData(b)))) > 0 {
		return
	}
	// A plain madvised mapping, written whole, tells whether the kernel
	// grants huge pages at all just now (fragmented memory may not).
	plain, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(plain)
	syscall.Madvise(plain, syscall.MADV_HUGEPAGE)
	for i := 0; i < size; i += 4096 {
		plain[i] = 1
	}
	if anonHugeKiB(t, uintptr(unsafe.Pointer(&plain[0]))) == 0 {
		t.Skip("the kernel granted no huge page to a plain madvised mapping either")
	}
	t.Fatal("no huge page backs the guest memory: growing opened only part of each 2 MiB range")
}

// anonHugeKiB is the AnonHugePages of the mapping at addr.
func anonHugeKiB(t *testing.T, addr uintptr) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uintptr
		if _, err := fmt.Sscanf(line, "%x-%x", &lo, &hi); err == nil { // a mapping's first line
			in = lo <= addr && addr < hi
			continue
		}
		if kb, ok := strings.CutPrefix(line, "AnonHugePages:"); ok && in {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kb), "kB")))
			return n
		}
	}
	t.Fatalf("no mapping at %#x in /proc/self/smaps", addr)
	return 0
}
