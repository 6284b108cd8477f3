package ctxwait

import (
	"context"
	"testing"
	"time"
)

func TestSleep(t *testing.T) {
	start := time.Now()
	if !Sleep(context.Background(), 20*time.Millisecond) {
		t.Fatal("Sleep without a deadline = false, want true")
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("Sleep(20ms) returned after %v", d)
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(10 * time.Millisecond); cancel() }()
	start = time.Now()
	if Sleep(ctx, time.Minute) {
		t.Fatal("Sleep cut short by cancel = true, want false")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Sleep took %v to notice the cancel", d)
	}
	if Sleep(ctx, 0) {
		t.Error("Sleep(0) on a done context = true, want false")
	}
	if !Sleep(context.Background(), 0) {
		t.Error("Sleep(0) = false, want true")
	}
}
