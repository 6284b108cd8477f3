// Package storeopen opens the store backend a RECEIVER_STORE value names.
// It lives apart from package store because the backends import store.
package storeopen

import (
	"context"
	"errors"
	"strings"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/postgres"
	"github.com/prolific-receiver/receiver/internal/store/sqlite"
)

// ErrUnknownKind means dsn names neither backend.
var ErrUnknownKind = errors.New("store must be sqlite:PATH or a postgres:// URL")

// Open opens sqlite:PATH or a postgres:// (postgresql://) URL.
func Open(ctx context.Context, dsn string, opts store.Options) (store.Store, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			return nil, errors.New("sqlite: needs a file path, e.g. sqlite:data/receiver.db")
		}
		return sqlite.OpenContext(ctx, path, opts)
	case IsPostgres(dsn):
		return postgres.Open(ctx, dsn, opts)
	}
	return nil, ErrUnknownKind
}

// IsPostgres reports whether dsn names the PostgreSQL backend, the one
// replicas share.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Kind returns "sqlite" or "postgres" for a dsn Open accepts, for logs.
func Kind(dsn string) string {
	if strings.HasPrefix(dsn, "sqlite:") {
		return "sqlite"
	}
	return "postgres"
}
