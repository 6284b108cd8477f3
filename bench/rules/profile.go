package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

// engineLabel is the pprof label the rules engine's goroutines carry
// (rules.ProfileLabel).
const engineLabel = "component=rules"

// profileEnv is what a ten-rules round's receiver needs to profile itself
// (cmd/receiver/cpuprofile.go, built with -tags cpuprofile).
func profileEnv(dir string) []string {
	return []string{"RECEIVER_CPU_PROFILE=" + filepath.Join(dir, "cpu.pprof")}
}

// engineShare has the receiver (pid, profiling since its start) write its
// profile and returns the share of its CPU samples the rules engine's
// goroutines took, and the garbage collector's background workers: the
// engine measured while it shares the machine with the webhook path at
// full load, within one process and one profile, so a busy host's
// swings hit both sides alike.
func engineShare(ctx context.Context, bin, dir string, pid int) (engine, gc float64, err error) {
	path := filepath.Join(dir, "cpu.pprof")
	if err := syscall.Kill(pid, syscall.SIGUSR2); err != nil {
		return 0, 0, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			break
		} else if !errors.Is(err, os.ErrNotExist) || time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("no CPU profile at %s (is %s built with -tags cpuprofile?): %v", path, bin, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if engine, err = pprofShare(ctx, path, "-tagfocus="+engineLabel); err != nil {
		return 0, 0, err
	}
	gc, err = pprofShare(ctx, path, "-focus=gcBgMarkWorker")
	return engine, gc, err
}

var accounting = regexp.MustCompile(`accounting for [^,]*, ([0-9.]+)% of`)

// pprofShare is the share of path's samples that filter keeps, per cent.
func pprofShare(ctx context.Context, path, filter string) (float64, error) {
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", filter, path).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("go tool pprof %s: %v: %s", filter, err, out)
	}
	m := accounting.FindSubmatch(out)
	if m == nil {
		return 0, nil // nothing matched the filter
	}
	return strconv.ParseFloat(string(m[1]), 64)
}
