package dpdk

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Worker threads: why not rte_eal_remote_launch.
//
// The C way is rte_eal_remote_launch(fn, arg, lcore), which runs fn on a
// thread EAL created for that lcore. With Go, fn would be an exported Go
// function called back from C: the goroutine is then bound to a foreign
// thread the Go runtime did not create and cannot manage, and the scheduler
// and garbage collector treat such a callback less well (every return into
// Go from C on that thread goes through the cgo callback path, and the
// goroutine can never leave it). Instead a worker goroutine calls
// runtime.LockOSThread, so the Go runtime owns and schedules the thread,
// then SetThreadAffinity to pin it and RegisterThread to give it an lcore
// id; the lcore id is what DPDK needs for the per-lcore mempool caches that
// make Alloc and Free cheap. EAL should be given only one lcore (-l N) for
// the main thread, which EALInit retires; the workers' CPUs come from our
// config.

// RegisterThread makes the calling OS thread a DPDK thread with its own
// lcore id (rte_thread_register), so mempool operations on it use a
// per-lcore cache. Precondition: the goroutine has called
// runtime.LockOSThread and stays locked until UnregisterThread. It may come
// before or after SetThreadAffinity: registration takes the NUMA socket
// from the thread's affinity, and rte_thread_set_affinity updates it for a
// registered thread.
func RegisterThread() (lcore int, err error) {
	ret := C.shim6_thread_register()
	if ret < 0 {
		return -1, &Error{Op: "rte_thread_register", Errno: int(-ret),
			Hint: "every lcore id (RTE_MAX_LCORE) in use, or EAL not initialised"}
	}
	return int(ret), nil
}

// UnregisterThread releases the calling thread's lcore id
// (rte_thread_unregister). Call it, still locked, before the goroutine
// unlocks its thread.
func UnregisterThread() {
	C.rte_thread_unregister()
}

// LcoreID returns the calling thread's lcore id, or -1 when it has none
// (neither an EAL thread nor registered).
func LcoreID() int {
	return int(C.shim6_lcore_id())
}

// SetThreadAffinity pins the calling OS thread to cpus and tells DPDK, which
// records the thread's NUMA socket from it. Precondition: the goroutine has
// called runtime.LockOSThread; otherwise the pin lands on whichever runtime
// thread happens to run it. Let the goroutine exit still locked, so the
// runtime destroys the pinned thread instead of reusing it for other
// goroutines.
func SetThreadAffinity(cpus ...int) error {
	if len(cpus) == 0 {
		return fmt.Errorf("dpdk: SetThreadAffinity: no CPUs given")
	}
	c := make([]C.int, len(cpus))
	for i, cpu := range cpus {
		c[i] = C.int(cpu)
	}
	if ret := C.shim6_set_affinity((*C.int)(unsafe.Pointer(&c[0])), C.int(len(c))); ret < 0 {
		return &Error{Op: "rte_thread_set_affinity", Errno: int(-ret),
			Hint: fmt.Sprintf("CPUs %v (offline, or outside the process's allowed set?)", cpus)}
	}
	return nil
}
