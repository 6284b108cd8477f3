-- 0004_reconcile: where each stored event came from ('webhook', 'api' for an
-- event backfilled from Prolific's delivery log, 'reconcile' for a synthetic
-- correction; rows stored before this migration are webhooks), and the
-- reconciler's marks: a subscription's delivery-log cursor, a study's last
-- reconciliation (docs/reconcile.md).

ALTER TABLE events ADD COLUMN source TEXT NOT NULL DEFAULT 'webhook';

CREATE TABLE reconcile_marks (
    kind TEXT    NOT NULL,
    key  TEXT    NOT NULL,
    at   INTEGER NOT NULL,
    PRIMARY KEY (kind, key)
);
