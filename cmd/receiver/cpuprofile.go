//go:build cpuprofile

// The CPU profile hook for measurements (bench/rules -profile), built only
// with `-tags cpuprofile`: with RECEIVER_CPU_PROFILE=PATH the process
// profiles its CPU from its start, and on SIGUSR2 writes the profile to
// PATH (through a temporary file renamed into place, so PATH is whole once
// it exists) and stops profiling. Release builds have no such hook.

package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"
)

func init() {
	path := os.Getenv("RECEIVER_CPU_PROFILE")
	if path == "" {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".cpuprofile-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cpu profile:", err)
		os.Exit(1)
	}
	if err := pprof.StartCPUProfile(tmp); err != nil {
		fmt.Fprintln(os.Stderr, "cpu profile:", err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR2)
	go func() {
		<-sig
		pprof.StopCPUProfile()
		err := tmp.Close()
		if err == nil {
			err = os.Rename(tmp.Name(), path)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "cpu profile:", err)
		}
	}()
}
