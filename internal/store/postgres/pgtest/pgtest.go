// Package pgtest gives tests a private PostgreSQL schema. Tests run against
// the server named by RECEIVER_TEST_POSTGRES_DSN and are skipped when it is
// unset, unless RECEIVER_REQUIRE_POSTGRES is set (as CI does): then they
// fail, so PostgreSQL tests cannot pass by silently skipping. Each call gets
// a fresh schema, so tests run in parallel.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the environment variable holding the test server's DSN, e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const EnvDSN = "RECEIVER_TEST_POSTGRES_DSN"

// EnvRequire names the environment variable that, when non-empty, turns a
// missing RECEIVER_TEST_POSTGRES_DSN from a skip into a test failure.
const EnvRequire = "RECEIVER_REQUIRE_POSTGRES"

// DSN skips tb when RECEIVER_TEST_POSTGRES_DSN is unset (fails it instead
// when RECEIVER_REQUIRE_POSTGRES is set); otherwise it creates a schema
// t_<random>, returns the DSN with search_path set to it, and drops the
// schema when tb ends.
func DSN(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(EnvDSN)
	if base == "" {
		if os.Getenv(EnvRequire) != "" {
			tb.Fatal(EnvDSN + " not set but " + EnvRequire + " is: PostgreSQL store tests must run, not skip")
		}
		tb.Skip(EnvDSN + " not set: PostgreSQL store tests skipped")
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		tb.Fatalf("%s must be a postgres:// URL", EnvDSN)
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		tb.Fatalf("random schema name: %v", err)
	}
	schema := "t_" + hex.EncodeToString(rnd[:])

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connect to %s: %v", EnvDSN, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("create schema %s: %v", schema, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("drop schema %s: connect: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})

	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// WithHost returns dsn with its host and port replaced by hostport, keeping
// the database, user and search_path; tests use it to route a store through
// a proxy or at an unreachable address.
func WithHost(tb testing.TB, dsn, hostport string) string {
	tb.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("parse dsn: %v", err)
	}
	u.Host = hostport
	return u.String()
}

// Schema returns the search_path of dsn (the schema DSN created).
func Schema(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(u.Query().Get("search_path"))
}
