// Package backend holds what the storage backends (sqlite, postgres) share
// to implement store.Store and that no caller of a store needs: the group
// committer (Batcher), the per-batch projection fold (Projection), and the
// outbox's commit and claim rules (OutboxRows, ClaimWalk, TruncateError,
// SortOutbox, CheckOutputs). Only backends import it; consumers use
// package store.
package backend
