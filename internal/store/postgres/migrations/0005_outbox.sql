-- 0005_outbox: the transactional outbox of the outputs (docs/outputs.md).
-- Save queues one outbox row per matching output in the event's
-- transaction; a delivered row is deleted, a dead letter keeps dead_at.

CREATE TABLE outputs (
    name            TEXT        PRIMARY KEY,
    registered_at   TIMESTAMPTZ NOT NULL,
    paused          BOOLEAN     NOT NULL DEFAULT FALSE,
    disabled_reason TEXT        NOT NULL DEFAULT ''   -- set on 410 Gone; '' when enabled
);

CREATE TABLE outbox (
    id           BIGSERIAL   PRIMARY KEY,
    output       TEXT        NOT NULL,
    event_seq    BIGINT      NOT NULL,               -- events.seq (no foreign key: retention may prune it)
    order_key    TEXT        NOT NULL,               -- study ID, else resource ID
    created_at   TIMESTAMPTZ NOT NULL,
    age_from     TIMESTAMPTZ NOT NULL,               -- the maximum age counts from here
    due_at       TIMESTAMPTZ NOT NULL,
    attempts     INTEGER     NOT NULL DEFAULT 0,
    last_error   TEXT        NOT NULL DEFAULT '',
    locked_by    TEXT        NOT NULL DEFAULT '',
    locked_until TIMESTAMPTZ,
    dead_at      TIMESTAMPTZ                         -- NULL while pending
);
-- A save adds a row to the table and its primary key only (outbox_dead
-- holds dead letters alone): the least an event can pay for an output.
-- Claims walk the pending rows in id (primary key) order and keep the order
-- per order_key as they go (ClaimOutbox), so no index on it is needed.
CREATE INDEX outbox_dead ON outbox (output, id) WHERE dead_at IS NOT NULL;
