package postgres_test

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/postgres/pgtest"
)

// TestCertStorage checks the PostgreSQL ACME storage against the answers
// certmagic's own FileStorage gives for the same calls, so certmagic finds
// the semantics it was written for (keys are paths; "a" is a directory of
// "a/b" but not of "ab/c"; missing keys are fs.ErrNotExist).
func TestCertStorage(t *testing.T) {
	dsn := pgtest.DSN(t)
	backends := map[string]certmagic.Storage{
		"file":     &certmagic.FileStorage{Path: t.TempDir()},
		"postgres": open(t, dsn, store.Options{}).CertStorage(),
	}
	for name, s := range backends {
		t.Run(name, func(t *testing.T) { certStorageContract(t, s) })
	}
}

func certStorageContract(t *testing.T, s certmagic.Storage) {
	ctx := ctxT(t)
	put := func(key, value string) {
		t.Helper()
		if err := s.Store(ctx, key, []byte(value)); err != nil {
			t.Fatalf("Store(%q): %v", key, err)
		}
	}
	put("certificates/ca_dir/hooks.example/hooks.example.crt", "old")
	put("certificates/ca_dir/hooks.example/hooks.example.crt", "cert") // overwrite
	put("certificates/ca_dir/hooks.example/hooks.example.key", "key")
	put("certificates/ca_dir/other.example/other.example.crt", "other")
	put("certificates/ca_dirx/x.crt", "sibling with a shared name prefix")
	put("acme/ca_dir/users/default/default.json", "account")

	got, err := s.Load(ctx, "certificates/ca_dir/hooks.example/hooks.example.crt")
	if err != nil || string(got) != "cert" {
		t.Errorf("Load = %q, %v; want the overwritten value %q", got, err, "cert")
	}
	if _, err := s.Load(ctx, "certificates/ca_dir/hooks.example/nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want fs.ErrNotExist", err)
	}

	for key, want := range map[string]bool{
		"certificates/ca_dir/hooks.example/hooks.example.key": true,
		"certificates/ca_dir/hooks.example":                   true, // a directory
		"certificates":                                        true,
		"certificates/ca_di":                                  false, // a name prefix is not a directory
		"nothing/here":                                        false,
	} {
		if got := s.Exists(ctx, key); got != want {
			t.Errorf("Exists(%q) = %v, want %v", key, got, want)
		}
	}

	info, err := s.Stat(ctx, "certificates/ca_dir/hooks.example/hooks.example.key")
	if err != nil || !info.IsTerminal || info.Size != 3 || time.Since(info.Modified) > time.Minute {
		t.Errorf("Stat(file) = %+v, %v; want terminal, size 3, modified just now", info, err)
	}
	if info, err := s.Stat(ctx, "certificates/ca_dir"); err != nil || info.IsTerminal {
		t.Errorf("Stat(directory) = %+v, %v; want a non-terminal key", info, err)
	}
	if _, err := s.Stat(ctx, "certificates/ca_di"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(missing) = %v, want fs.ErrNotExist", err)
	}

	list := func(dir string, recursive bool) []string {
		t.Helper()
		keys, err := s.List(ctx, dir, recursive)
		if err != nil {
			t.Fatalf("List(%q, %v): %v", dir, recursive, err)
		}
		slices.Sort(keys)
		return keys
	}
	if got, want := list("certificates/ca_dir", false), []string{
		"certificates/ca_dir/hooks.example", "certificates/ca_dir/other.example",
	}; !slices.Equal(got, want) {
		t.Errorf("List(non-recursive) = %q, want %q", got, want)
	}
	if got, want := list("certificates/ca_dir", true), []string{
		"certificates/ca_dir/hooks.example",
		"certificates/ca_dir/hooks.example/hooks.example.crt",
		"certificates/ca_dir/hooks.example/hooks.example.key",
		"certificates/ca_dir/other.example",
		"certificates/ca_dir/other.example/other.example.crt",
	}; !slices.Equal(got, want) {
		t.Errorf("List(recursive) = %q, want %q", got, want)
	}
	if _, err := s.List(ctx, "nothing", false); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("List(missing) = %v, want fs.ErrNotExist", err)
	}

	if err := s.Delete(ctx, "certificates/ca_dir/hooks.example"); err != nil {
		t.Fatalf("Delete(directory): %v", err)
	}
	if s.Exists(ctx, "certificates/ca_dir/hooks.example/hooks.example.crt") {
		t.Error("a key survived the deletion of its directory")
	}
	if !s.Exists(ctx, "certificates/ca_dir/other.example/other.example.crt") || !s.Exists(ctx, "certificates/ca_dirx/x.crt") {
		t.Error("Delete(directory) removed keys outside it")
	}
	if err := s.Delete(ctx, "certificates/ca_dir/hooks.example"); err != nil {
		t.Errorf("Delete(missing) = %v, want nil", err)
	}
}

// TestCertStorageLockAcrossReplicas: two stores on one database stand for
// two replicas. While one holds a domain's lock the other waits (until its
// context ends), another name does not wait, and Unlock hands the lock over.
func TestCertStorageLockAcrossReplicas(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := open(t, dsn, store.Options{}).CertStorage()
	b := open(t, dsn, store.Options{}).CertStorage()
	ctx := ctxT(t)
	const name = "issue_cert_hooks.example"

	if err := a.Lock(ctx, name); err != nil {
		t.Fatalf("Lock: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err := b.Lock(short, name)
	cancel()
	if err == nil {
		t.Fatal("the second replica took a lock the first holds")
	}
	if err := b.Lock(ctx, "issue_cert_other.example"); err != nil {
		t.Fatalf("Lock of another name: %v", err)
	}
	if err := b.Unlock(ctx, "issue_cert_other.example"); err != nil {
		t.Fatalf("Unlock: %v", err)
	}

	got := make(chan error, 1)
	go func() { got <- b.Lock(ctx, name) }()
	select {
	case err := <-got:
		t.Fatalf("the second replica's Lock returned (%v) while the first held the lock", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := a.Unlock(ctx, name); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("Lock after the holder's Unlock: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second replica did not get the lock after the first unlocked")
	}
	if err := b.Unlock(ctx, name); err != nil {
		t.Errorf("Unlock: %v", err)
	}
	if err := b.Unlock(ctx, name); err == nil {
		t.Error("Unlock of a lock not held succeeded, want an error")
	}
}

// TestCertStorageSharedAcrossReplicas: what one replica stores, another
// loads (the account and the certificate are shared, not per process).
func TestCertStorageSharedAcrossReplicas(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := open(t, dsn, store.Options{}).CertStorage()
	b := open(t, dsn, store.Options{}).CertStorage()
	ctx := ctxT(t)
	if err := a.Store(ctx, "acme/ca/users/default/default.key", []byte("account key")); err != nil {
		t.Fatal(err)
	}
	got, err := b.Load(ctx, "acme/ca/users/default/default.key")
	if err != nil || string(got) != "account key" {
		t.Errorf("other replica Load = %q, %v; want %q", got, err, "account key")
	}
}
