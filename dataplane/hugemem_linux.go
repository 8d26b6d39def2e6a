package dataplane

import (
	"syscall"
	"unsafe"
)

// hugePage is the x86-64 transparent huge page size.
const hugePage = 2 << 20

// adviseHuge asks the kernel to back the 2 MiB-aligned interior of a large
// table with transparent huge pages (madvise MADV_HUGEPAGE; most kernels
// give huge pages only where asked). Context lookups land on random pages
// of hundreds of megabytes: with 4 KiB pages nearly every one is also a TLB
// miss and a page walk. Advice only: if the kernel says no, nothing
// changes but speed.
func adviseHuge(p unsafe.Pointer, size uintptr) {
	start := (uintptr(p) + hugePage - 1) &^ (hugePage - 1)
	end := (uintptr(p) + size) &^ (hugePage - 1)
	if end <= start {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Add(p, start-uintptr(p))), end-start)
	_ = syscall.Madvise(b, 14 /* MADV_HUGEPAGE */)
}
