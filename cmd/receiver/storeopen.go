package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/postgres"
	"github.com/prolific-receiver/receiver/internal/store/sqlite"
)

// openStore opens the backend RECEIVER_STORE names: sqlite:PATH or a postgres:// URL.
func openStore(ctx context.Context, dsn string, opts store.Options) (store.Store, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			return nil, fmt.Errorf("RECEIVER_STORE: sqlite: needs a file path, e.g. sqlite:data/receiver.db")
		}
		return sqlite.Open(path, opts)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return postgres.Open(ctx, dsn, opts)
	}
	return nil, fmt.Errorf("RECEIVER_STORE must be sqlite:PATH or a postgres:// URL")
}
