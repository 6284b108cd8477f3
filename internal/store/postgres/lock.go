package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

// namedLockClass is the first key of the session advisory locks Lock takes
// (the second is a hash of the name); the alias locks use another class.
const namedLockClass = 0x6c6f_636b // "lock"

var _ store.Locker = (*DB)(nil)

// Lock takes the session advisory lock called name on a connection of its
// own, held until unlock (or until the session ends, when the process
// dies). Replicas use it to run start-up steps one at a time. Advisory
// locks belong to the whole database, so the key includes the schema:
// receivers on other schemas of it do not wait for each other.
func (d *DB) Lock(ctx context.Context, name string) (func(), error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return nil, d.wrap("lock "+name, err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, hashtext(current_schema() || '.' || $2))`, namedLockClass, name); err != nil {
		conn.Release()
		return nil, d.wrap("lock "+name, fmt.Errorf("wait for the lock: %w", err))
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1, hashtext(current_schema() || '.' || $2))`, namedLockClass, name); err != nil {
			// Ending the session is the other way to release it.
			_ = conn.Conn().Close(ctx)
		}
		conn.Release()
	}, nil
}
