//go:build !unix

package handlers

import "testing"

// processCPU is -1: the process's CPU time is read only on Unix.
func processCPU(*testing.B) int64 { return -1 }
