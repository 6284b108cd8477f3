package bootstrap

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/prolifictest"
)

// TestConcurrentRunsConverge starts several bootstraps at once on a workspace
// with no subscriptions. The first create-subscription of every replica is
// held until all replicas have sent theirs, so duplicates certainly exist;
// the runs must still end with exactly one enabled subscription per type.
func TestConcurrentRunsConverge(t *testing.T) {
	const replicas = 4
	for _, shape := range []string{prolifictest.ShapeObject, prolifictest.ShapeResults} {
		t.Run(shape, func(t *testing.T) {
			e := newEnv(t, prolifictest.Options{Secrets: map[string]string{workspace: "s"}, CreateResponseShape: shape})
			var mu sync.Mutex
			creates := 0
			allIn := make(chan struct{})
			e.gate = func(r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/api/v1/hooks/subscriptions/" {
					return
				}
				mu.Lock()
				creates++
				n := creates
				if n == replicas {
					close(allIn)
				}
				mu.Unlock()
				if n <= replicas {
					select {
					case <-allIn:
					case <-time.After(5 * time.Second):
						t.Error("replicas did not all reach create-subscription")
					}
				}
			}
			var wg sync.WaitGroup
			errs := make([]error, replicas)
			for i := range replicas {
				wg.Go(func() {
					_, errs[i] = Run(t.Context(), e.client(token), cfg(), e.logger())
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("replica %d: %v", i, err)
				}
			}
			if n := e.fake.Requests(prolifictest.RouteCreateSubscription); n < replicas {
				t.Errorf("create requests = %d, want at least %d (the race did not happen)", n, replicas)
			}
			for _, et := range prolific.DefaultEventTypes {
				if subs := e.subsFor(et); len(subs) != 1 || !subs[0].Enabled {
					t.Errorf("%s: fake holds %+v, want exactly one enabled subscription", et, subs)
				}
			}
			states, err := CheckSubscriptions(t.Context(), e.client(token), cfg())
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range states {
				if !st.Enabled {
					t.Errorf("%s not enabled after the race", st.EventType)
				}
			}
		})
	}
}
