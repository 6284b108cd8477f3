package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/jackc/pgx/v5"
)

// CertStorage keeps the receiver's ACME state (account, certificates, keys,
// challenge data) in the acme_storage table and locks with advisory locks,
// so replicas on one database share one ACME account and one certificate
// per domain: the replica that takes a domain's lock orders, the others
// wait and then load what it stored. It implements certmagic.Storage.
type CertStorage struct {
	db *DB

	mu    sync.Mutex
	locks map[string]func() // held lock name -> unlock
}

var _ certmagic.Storage = (*CertStorage)(nil)

// CertStorage returns the ACME storage on d's database.
func (d *DB) CertStorage() *CertStorage {
	return &CertStorage{db: d, locks: map[string]func(){}}
}

// certLockPrefix keeps the ACME locks apart from the receiver's other
// named locks (Lock), which share their advisory lock class.
const certLockPrefix = "acme:"

// Lock blocks until this process holds the lock called name among every
// process on the database, or ctx ends. The lock is a session advisory lock
// on a connection of its own (DB.Lock), so a replica that dies releases it
// with its session: no lock outlives its holder, and none needs a lease.
func (s *CertStorage) Lock(ctx context.Context, name string) error {
	unlock, err := s.db.Lock(ctx, certLockPrefix+name)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, held := s.locks[name]; held {
		// Two sessions of this process cannot both hold it; this would be a bug.
		unlock()
		return fmt.Errorf("postgres: acme lock %q: already held by this process", name)
	}
	s.locks[name] = unlock
	return nil
}

// Unlock releases the lock called name that Lock took.
func (s *CertStorage) Unlock(_ context.Context, name string) error {
	s.mu.Lock()
	unlock, held := s.locks[name]
	delete(s.locks, name)
	s.mu.Unlock()
	if !held {
		return fmt.Errorf("postgres: acme lock %q: not held", name)
	}
	unlock()
	return nil
}

// Store puts value at key, replacing what was there.
func (s *CertStorage) Store(ctx context.Context, key string, value []byte) error {
	if err := s.db.check(); err != nil {
		return err
	}
	if value == nil {
		value = []byte{}
	}
	_, err := s.db.pool.Exec(ctx, `INSERT INTO acme_storage (key, value, modified) VALUES ($1, $2, now())
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, modified = excluded.modified`, key, value)
	if err != nil {
		return s.db.wrap("acme store", err)
	}
	return nil
}

// Load returns the value at key, or an error wrapping fs.ErrNotExist.
func (s *CertStorage) Load(ctx context.Context, key string) ([]byte, error) {
	if err := s.db.check(); err != nil {
		return nil, err
	}
	var value []byte
	err := s.db.pool.QueryRow(ctx, `SELECT value FROM acme_storage WHERE key = $1`, key).Scan(&value)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: acme key %q: %w", key, fs.ErrNotExist)
	}
	if err != nil {
		return nil, s.db.wrap("acme load", err)
	}
	return value, nil
}

// Delete removes key and, when key is a directory, every key under it. A
// key that does not exist is not an error.
func (s *CertStorage) Delete(ctx context.Context, key string) error {
	if err := s.db.check(); err != nil {
		return err
	}
	_, err := s.db.pool.Exec(ctx, `DELETE FROM acme_storage WHERE key = $1 OR left(key, length($2)) = $2`,
		key, dirPrefix(key))
	if err != nil {
		return s.db.wrap("acme delete", err)
	}
	return nil
}

// Exists reports whether key is a stored value or a directory of some.
func (s *CertStorage) Exists(ctx context.Context, key string) bool {
	_, err := s.Stat(ctx, key)
	return err == nil
}

// List returns the keys under dir: with recursive, every value and
// directory below it; otherwise its direct children only. A directory with
// nothing under it does not exist (fs.ErrNotExist).
func (s *CertStorage) List(ctx context.Context, dir string, recursive bool) ([]string, error) {
	if err := s.db.check(); err != nil {
		return nil, err
	}
	prefix := dirPrefix(dir)
	rows, err := s.db.pool.Query(ctx, `SELECT key FROM acme_storage WHERE left(key, length($1)) = $1 ORDER BY key`, prefix)
	if err != nil {
		return nil, s.db.wrap("acme list", err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, s.db.wrap("acme list", err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("postgres: acme directory %q: %w", dir, fs.ErrNotExist)
	}
	seen := map[string]bool{}
	var out []string
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, k := range keys {
		parts := strings.Split(strings.TrimPrefix(k, prefix), "/")
		if !recursive {
			add(prefix + parts[0])
			continue
		}
		for i := range parts {
			add(prefix + path.Join(parts[:i+1]...))
		}
	}
	sort.Strings(out)
	return out, nil
}

// Stat describes key: a stored value (terminal) or a directory of some.
func (s *CertStorage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	if err := s.db.check(); err != nil {
		return certmagic.KeyInfo{}, err
	}
	var (
		modified time.Time
		size     int64
		terminal bool
	)
	err := s.db.pool.QueryRow(ctx, `SELECT modified, length(value), key = $1 FROM acme_storage
		WHERE key = $1 OR left(key, length($2)) = $2 ORDER BY key = $1 DESC LIMIT 1`, key, dirPrefix(key)).
		Scan(&modified, &size, &terminal)
	if errors.Is(err, pgx.ErrNoRows) {
		return certmagic.KeyInfo{}, fmt.Errorf("postgres: acme key %q: %w", key, fs.ErrNotExist)
	}
	if err != nil {
		return certmagic.KeyInfo{}, s.db.wrap("acme stat", err)
	}
	if !terminal {
		return certmagic.KeyInfo{Key: key}, nil
	}
	return certmagic.KeyInfo{Key: key, Modified: modified, Size: size, IsTerminal: true}, nil
}

// String names the storage in certmagic's logs.
func (s *CertStorage) String() string { return "postgres acme_storage" }

// dirPrefix is what every key under the directory dir starts with ("" for
// the root).
func dirPrefix(dir string) string {
	dir = strings.Trim(dir, "/")
	if dir == "" {
		return ""
	}
	return dir + "/"
}
