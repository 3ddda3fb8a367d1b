package probe

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// reserve returns a zeroed slice of n T in an anonymous mapping outside the
// Go heap, released when owner becomes unreachable. The kernel gives pages
// only as entries are first written, so a table sized for its bound costs
// what it holds; and the garbage collector neither scans it nor counts it
// as live heap, which would let the heap grow to twice its size. T must
// hold no pointers (TestPoolTypesHoldNoPointers).
func reserve[T, O any](owner *O, n int) []T {
	var zero T
	size := int(unsafe.Sizeof(zero)) * n
	if size == 0 {
		return nil
	}
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		// Address space is short (a 32-bit box with a huge bound): the
		// heap still works, only with the GC's headroom on top.
		return make([]T, n)
	}
	runtime.AddCleanup(owner, func(b []byte) {
		if err := unix.Munmap(b); err != nil {
			panic(fmt.Sprintf("probe: munmap: %v", err))
		}
	}, b)
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), n)
}
