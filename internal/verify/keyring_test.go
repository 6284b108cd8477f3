package verify

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestKeyringNew(t *testing.T) {
	now := vecTime
	for _, tc := range []struct {
		name     string
		current  string
		previous []string
		want     []string
	}{
		{"current only", "a", nil, []string{"a"}},
		{"with previous", "a", []string{"b", "c"}, []string{"a", "b", "c"}},
		{"empties and duplicates dropped", "a", []string{"", "a", "b", "b"}, []string{"a", "b"}},
		{"no current", "", []string{"b"}, []string{"b"}},
		{"nothing", "", nil, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := NewKeyring(tc.current, tc.previous)
			if diff := cmp.Diff(tc.want, k.Secrets(now)); diff != "" {
				t.Errorf("Secrets() mismatch (-want +got):\n%s", diff)
			}
			if got := k.Len(now); got != len(tc.want) {
				t.Errorf("Len() = %d, want %d", got, len(tc.want))
			}
			if got := k.Current(); got != tc.current {
				t.Errorf("Current() = %q, want %q", got, tc.current)
			}
		})
	}
}

func TestKeyringRotation(t *testing.T) {
	t0 := vecTime
	k := NewKeyring("s1", []string{"static"})
	steps := []struct {
		name  string
		set   string        // "" means no Set in this step
		grace time.Duration // graceUntil = at + grace
		at    time.Duration // now = t0 + at
		want  []string
	}{
		{name: "start", at: 0, want: []string{"s1", "static"}},
		{name: "rotate to s2", set: "s2", grace: 26 * time.Hour, at: time.Hour, want: []string{"s2", "s1", "static"}},
		{name: "still in grace", at: 26 * time.Hour, want: []string{"s2", "s1", "static"}},
		{name: "rotate to s3", set: "s3", grace: 26 * time.Hour, at: 27*time.Hour - time.Minute, want: []string{"s3", "s2", "s1", "static"}},
		{name: "s1 grace over", at: 27 * time.Hour, want: []string{"s3", "s2", "static"}},
		{name: "set same secret again", set: "s3", grace: time.Hour, at: 28 * time.Hour, want: []string{"s3", "s2", "static"}},
		{name: "s2 grace over", at: 53 * time.Hour, want: []string{"s3", "static"}},
		{name: "rotate without grace", set: "s4", grace: 0, at: 54 * time.Hour, want: []string{"s4", "static"}},
		{name: "back to a static secret", set: "static", grace: time.Hour, at: 55 * time.Hour, want: []string{"static", "s4"}},
		{name: "back to a graced secret", set: "s4", grace: time.Hour, at: 55*time.Hour + time.Minute, want: []string{"s4", "static"}},
		{name: "far future", at: 1000 * time.Hour, want: []string{"s4", "static"}},
	}
	for _, st := range steps {
		now := t0.Add(st.at)
		if st.set != "" {
			k.Set(st.set, now.Add(st.grace), now)
		}
		if diff := cmp.Diff(st.want, k.Secrets(now)); diff != "" {
			t.Errorf("%s: Secrets() mismatch (-want +got):\n%s", st.name, diff)
		}
		if got, want := k.Current(), st.want[0]; got != want {
			t.Errorf("%s: Current() = %q, want %q", st.name, got, want)
		}
	}
}

// TestKeyringVerify shows the Keyring and Verify working together across a
// rotation: the old secret verifies during its grace period and not after.
func TestKeyringVerify(t *testing.T) {
	body := []byte(vecPyBody)
	k := NewKeyring("old", nil)
	rotatedAt := vecTime
	k.Set("new", rotatedAt.Add(26*time.Hour), rotatedAt)
	for _, tc := range []struct {
		signer    string
		at        time.Time
		wantIndex int
		wantErr   error
	}{
		{"new", rotatedAt, 0, nil},
		{"old", rotatedAt.Add(time.Hour), 1, nil},
		{"old", rotatedAt.Add(26 * time.Hour), 0, ErrNoValidSignature},
	} {
		ts := fmt.Sprint(tc.at.Unix())
		got, err := Verify(Sign(tc.signer, ts, body), ts, body, k.Secrets(tc.at), tc.at, DefaultTolerance)
		if !errors.Is(err, tc.wantErr) || got.SecretIndex != tc.wantIndex {
			t.Errorf("Verify(signed by %s at %v) = index %d, %v; want index %d, %v",
				tc.signer, tc.at, got.SecretIndex, err, tc.wantIndex, tc.wantErr)
		}
	}
}

// TestKeyringConcurrent exercises readers and writers together; run it with
// -race. Every snapshot a reader sees must start with a secret that was set.
func TestKeyringConcurrent(t *testing.T) {
	k := NewKeyring("k0", []string{"static"})
	now := vecTime
	const writes, readers = 200, 4
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; i <= writes; i++ {
			k.Set(fmt.Sprintf("k%d", i), now.Add(time.Duration(i%5)*time.Second), now)
		}
	}()
	errs := make(chan error, readers)
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2*writes; i++ {
				s := k.Secrets(now.Add(2 * time.Second))
				if len(s) == 0 || s[0] == "" || s[len(s)-1] != "static" || k.Len(now) < 2 || k.Current() == "" {
					errs <- fmt.Errorf("inconsistent snapshot %q", s)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got, want := k.Current(), fmt.Sprintf("k%d", writes); got != want {
		t.Errorf("Current() after writes = %q, want %q", got, want)
	}
}
