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
	"slices"
	"strings"
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
	given   []string // the devices the EAL arguments name
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
	// Capture DPDK's log before EAL writes its first line; without it
	// DPDK logs to stderr, as it would anyway.
	captured := captureLog() == nil
	dlog.Lock()
	dlog.inInit, dlog.init = true, nil
	dlog.Unlock()
	if captured {
		holdLog(true)
	}
	done := make(chan C.int)
	go func() {
		runtime.LockOSThread()
		if captured {
			done <- C.shim6_eal_init_quiet(C.int(len(args)), argv)
		} else {
			done <- C.shim6_eal_init(C.int(len(args)), argv)
		}
		// Exiting while locked: the runtime destroys this thread.
	}()
	ret := <-done
	holdLog(false)
	dlog.Lock()
	dlog.inInit = false
	why := cause(dlog.init)
	dlog.Unlock()
	eal.given = givenDevices(args[1:])
	if ret < 0 {
		// EAL sets its run-time state even when it fails half way;
		// DPDK does not allow a second try.
		eal.state = 2
		hint := fmt.Sprintf("EAL args %q", args[1:])
		if syscall.Errno(-ret) == syscall.EFAULT {
			// DPDK gave no errno: most often another process holds the
			// --file-prefix's lock.
			hint += "; is another DPDK process running with the same --file-prefix?"
		}
		if !captured {
			why = ""
		}
		return &Error{Op: "rte_eal_init", Errno: int(-ret), Hint: hint, Cause: why}
	}
	eal.state = 1
	return nil
}

// givenDevices returns the devices EAL arguments name with --vdev, -a or
// --allow (the name before the first comma).
func givenDevices(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		for _, opt := range []string{"--vdev", "--allow", "-a"} {
			var v string
			switch {
			case a == opt && i+1 < len(args):
				i++
				v = args[i]
			case strings.HasPrefix(opt, "--") && strings.HasPrefix(a, opt+"="):
				v = a[len(opt)+1:]
			case !strings.HasPrefix(opt, "--") && strings.HasPrefix(a, opt) && !strings.HasPrefix(a, "--"):
				v = a[len(opt):]
			default:
				continue
			}
			name, _, _ := strings.Cut(v, ",")
			out = append(out, name)
			break
		}
	}
	return out
}

// missingDevice explains why device, as given to a port or DeviceQueues,
// has no DPDK port (rte_eth_dev_get_port_by_name returned ret): when EAL
// was given the device and its driver failed to create it, DPDK's log says
// why, and that is the error; only a device EAL was not given gets the
// advice to give it.
func missingDevice(object, device string, ret C.int) error {
	eal.mu.Lock()
	given := slices.ContainsFunc(eal.given, func(g string) bool {
		// A PCI device may be given without its domain.
		return g == device || strings.HasSuffix(device, ":"+g)
	})
	eal.mu.Unlock()
	if !given {
		return &Error{Object: object, Op: "rte_eth_dev_get_port_by_name", Errno: int(-ret),
			Hint: "no such DPDK device: give it to EAL (e.g. --vdev=net_null0, or a PCI address bound to a DPDK driver) and check that its driver loaded"}
	}
	if why := probeCause(device); why != "" {
		return &Error{Object: object, Op: "not created by its driver", Cause: why}
	}
	return &Error{Object: object, Op: "rte_eth_dev_get_port_by_name", Errno: int(-ret),
		Hint: "EAL was given the device: it was closed, or its driver failed without logging an error (DPDK's debug log may say more)"}
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
