-- 0005_outbox: the transactional outbox of the outputs (docs/outputs.md).
-- Save queues one outbox row per matching output in the event's
-- transaction; a delivered row is deleted, a dead letter keeps dead_at.

CREATE TABLE outputs (
    name            TEXT    PRIMARY KEY,
    registered_at   INTEGER NOT NULL,
    paused          INTEGER NOT NULL DEFAULT 0,
    disabled_reason TEXT    NOT NULL DEFAULT ''   -- set on 410 Gone; '' when enabled
);

CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    output       TEXT    NOT NULL,
    event_seq    INTEGER NOT NULL,                -- events.seq (no foreign key: retention may prune it)
    order_key    TEXT    NOT NULL,                -- study ID, else resource ID
    created_at   INTEGER NOT NULL,
    age_from     INTEGER NOT NULL,                -- the maximum age counts from here
    due_at       INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT    NOT NULL DEFAULT '',
    locked_by    TEXT    NOT NULL DEFAULT '',
    locked_until INTEGER NOT NULL DEFAULT 0,
    dead_at      INTEGER NOT NULL DEFAULT 0       -- 0 while pending
);
-- A save appends one row at the end of the table and touches no index
-- (outbox_dead holds dead letters alone): the least an event can pay for an
-- output. Claims walk the pending rows in id (rowid) order and keep the
-- order per order_key as they go (ClaimOutbox), so no index on it is needed.
CREATE INDEX outbox_dead ON outbox (output, id) WHERE dead_at <> 0;
