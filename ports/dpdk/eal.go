package dpdk

/*
#cgo pkg-config: libdpdk
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"unsafe"
)

// SocketAny asks for memory on any NUMA socket (DPDK's SOCKET_ID_ANY).
const SocketAny = -1

var eal struct {
	mu      sync.Mutex
	state   int // 0 before EALInit, 1 initialised, 2 cleaned up
	cleanup error
}

// EALInit runs rte_eal_init once per process with args (args[0] is the
// program name, as in C's argv). DPDK cannot be initialised twice, not even
// after EALCleanup, so a second call returns an error.
//
// rte_eal_init makes its calling thread the main lcore and pins it to that
// lcore's CPUs. Run on an ordinary goroutine, that pin would stay on one of
// the Go runtime's threads, and every goroutine later scheduled there would
// inherit it. So the call runs on a goroutine that locks a fresh OS thread
// and exits without unlocking, which makes the runtime destroy the thread:
// the pinned main-lcore thread goes away and no goroutine ever runs on it.
// (While the goroutine is locked the runtime also starts new threads from
// its template thread, so none inherits the pin.) Workers get their own
// lcore ids with RegisterThread.
func EALInit(args []string) error {
	eal.mu.Lock()
	defer eal.mu.Unlock()
	if eal.state != 0 {
		return errors.New("dpdk: EALInit: EAL was already initialised in this process")
	}
	if len(args) == 0 {
		return errors.New("dpdk: EALInit: args must start with the program name")
	}
	// EAL may keep pointers into argv (getopt permutes it in place), so
	// the strings are never freed: a few hundred bytes, once per process.
	argv := (**C.char)(C.calloc(C.size_t(len(args)+1), C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	av := unsafe.Slice(argv, len(args)+1)
	for i, a := range args {
		av[i] = C.CString(a)
	}
	done := make(chan C.int)
	go func() {
		runtime.LockOSThread()
		done <- C.shim6_eal_init(C.int(len(args)), argv)
		// Exiting while locked: the runtime destroys this thread.
	}()
	if ret := <-done; ret < 0 {
		// EAL sets its run-time state even when it fails half way;
		// DPDK does not allow a second try.
		eal.state = 2
		hint := fmt.Sprintf("EAL args %q", args[1:])
		if syscall.Errno(-ret) == syscall.EFAULT {
			// DPDK gave no reason: most often another process holds the
			// --file-prefix's lock.
			hint += "; is another DPDK process running with the same --file-prefix?"
		}
		return &Error{Op: "rte_eal_init", Errno: int(-ret), Hint: hint}
	}
	eal.state = 1
	return nil
}

// EALCleanup releases EAL's resources (rte_eal_cleanup). Close every port
// and free every pool and ring first; no DPDK call may follow it.
func EALCleanup() error {
	eal.mu.Lock()
	defer eal.mu.Unlock()
	switch eal.state {
	case 0:
		return errors.New("dpdk: EALCleanup: EAL was not initialised")
	case 2:
		return eal.cleanup
	}
	eal.state = 2
	if ret := C.shim6_eal_cleanup(); ret < 0 {
		eal.cleanup = newError("", "rte_eal_cleanup", ret)
	}
	return eal.cleanup
}

// LcoreCount returns the number of lcores EAL was given (rte_lcore_count);
// threads added with RegisterThread are not counted.
func LcoreCount() int {
	return int(C.rte_lcore_count())
}
