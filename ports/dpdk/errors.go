package dpdk

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"syscall"
)

// Error is a failed DPDK call. Its message names the object (a port with its
// operator's name and DPDK device, a mempool, a ring), the DPDK function and
// rte_strerror's text, e.g.
//
//	dpdk: port "isp1" (net_af_packet1): rte_eth_dev_configure: Invalid argument
type Error struct {
	// Object is what the call was about, e.g. `port "isp1" (net_null0)`;
	// empty for process-wide calls.
	Object string
	// Op is the DPDK function that failed.
	Op string
	// Errno is the positive errno or rte_errno the call reported.
	Errno int
	// Hint, when not empty, says what to check.
	Hint string
	// Cause is what DPDK logged about the failure (one or two of its log
	// lines, joined with " / "), or "". It is often the real reason: a
	// driver logs why its probe failed, rte_eal_init why it gave up.
	Cause string
}

// Error formats the error as "dpdk: object: op: reason; hint; DPDK: cause",
// or "dpdk: object: op: cause" when there is no errno (a device its driver
// did not create, with the driver's reason as the cause).
func (e *Error) Error() string {
	s := "dpdk: "
	if e.Object != "" {
		s += e.Object + ": "
	}
	s += e.Op + ": "
	if e.Errno == 0 && e.Cause != "" {
		s += e.Cause
	} else {
		s += strerror(e.Errno)
	}
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	if e.Errno != 0 && e.Cause != "" {
		s += "; DPDK: " + e.Cause
	}
	return s
}

// Reason returns what went wrong without the object and the hint: the
// operation with DPDK's own message when it logged one, else with the
// errno's text, so that a caller can put it in terms of its configuration.
func (e *Error) Reason() string {
	switch {
	case e.Errno == 0 && e.Cause != "":
		return e.Op + ": " + e.Cause
	case e.Cause != "":
		return e.Cause + " (" + e.Op + ": " + strerror(e.Errno) + ")"
	}
	return e.Op + ": " + strerror(e.Errno)
}

// Unwrap returns the errno as a syscall.Errno, so callers can test for
// syscall.ENOTSUP and the like with errors.Is. DPDK's own codes (at and
// above RTE_MIN_ERRNO) have no syscall equivalent and unwrap to nil.
func (e *Error) Unwrap() error {
	if e.Errno <= 0 || e.Errno >= C.RTE_MIN_ERRNO {
		return nil
	}
	return syscall.Errno(e.Errno)
}

// strerror returns rte_strerror's text, which also knows DPDK's own codes.
func strerror(errno int) string {
	return C.GoString(C.rte_strerror(C.int(errno)))
}

// newError builds an Error from a DPDK return value, which by DPDK's
// convention is a negative errno.
func newError(object, op string, ret C.int) error {
	errno := int(ret)
	if errno < 0 {
		errno = -errno
	}
	return &Error{Object: object, Op: op, Errno: errno}
}

func portObject(name, device string) string {
	return fmt.Sprintf("port %q (%s)", name, device)
}
