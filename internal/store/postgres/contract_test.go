package postgres_test

import (
	"testing"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/postgres/pgtest"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
)

// TestContract runs the behavioural suite every backend passes, each case
// on its own schema.
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T, opts store.Options) store.Store {
		return open(t, pgtest.DSN(t), opts)
	})
}

// TestContractOutputs runs the cases that reopen one schema.
func TestContractOutputs(t *testing.T) {
	storetest.RunOutputs(t, func(t *testing.T) func(store.Options) store.Store {
		dsn := pgtest.DSN(t)
		return func(opts store.Options) store.Store { return open(t, dsn, opts) }
	})
}
