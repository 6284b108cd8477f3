package verify

import (
	"errors"
	"fmt"
	"sync"
	"testing"
)

// TestVerifyConcurrentPooledMACs verifies from many goroutines with several
// secrets, more secrets than there are pools, and bodies of different forms,
// so that a pooled HMAC state shared between goroutines or returned to the
// wrong secret's pool would produce a wrong answer (or a -race report).
func TestVerifyConcurrentPooledMACs(t *testing.T) {
	secrets := make([]string, maxMACPools+4)
	for i := range secrets {
		secrets[i] = fmt.Sprintf("pool-test-secret-%02d", i)
	}
	bodies := [][]byte{[]byte(vecPyBody), []byte(vecCompact), []byte(`{"note":"café"}`), []byte("not json")}
	const goroutines, rounds = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				idx := (g*rounds + r) % len(secrets)
				body := bodies[r%len(bodies)]
				sig := Sign(secrets[idx], vecTimestamp, body)
				got, err := Verify(sig, vecTimestamp, body, secrets, vecTime, DefaultTolerance)
				if err != nil || got.SecretIndex != idx || got.Form != FormRaw {
					errs <- fmt.Errorf("Verify(secret %d) = index %d form %s, %v; want index %d form %s",
						idx, got.SecretIndex, got.Form, err, idx, FormRaw)
					return
				}
				bad := Sign("not-in-the-list", vecTimestamp, body)
				if _, err := Verify(bad, vecTimestamp, body, secrets, vecTime, DefaultTolerance); !errors.Is(err, ErrNoValidSignature) {
					errs <- fmt.Errorf("Verify(unknown secret) error = %v, want %v", err, ErrNoValidSignature)
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
}
