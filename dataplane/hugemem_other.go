//go:build !linux

package dataplane

import "unsafe"

func adviseHuge(p unsafe.Pointer, size uintptr) {}
