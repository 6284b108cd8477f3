-- 0008_event_keys: the events' study and resource index entries move out of
-- the events table into two tables of their own, which the writer fills in
-- sorted passes over many events instead of one entry per event per batch
-- (docs/store.md "Deferred event keys"). Under load each batch of about 70
-- events dirtied a leaf page of events_study_seq for most of the studies it
-- touched and one of events_resource_seq for most of its submissions: a
-- fifth and a quarter of all the log written. Events after
-- event_keys_done.seq have no keys yet; reads find them by scanning that
-- tail of the events table.
CREATE TABLE event_study_keys (
    study_id TEXT    NOT NULL,
    seq      INTEGER NOT NULL,
    PRIMARY KEY (study_id, seq)
) WITHOUT ROWID;

CREATE TABLE event_resource_keys (
    resource_id TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    PRIMARY KEY (resource_id, seq)
) WITHOUT ROWID;

-- Every event with seq <= this one has its keys above.
CREATE TABLE event_keys_done (seq INTEGER NOT NULL);
INSERT INTO event_keys_done (seq) SELECT coalesce(max(seq), 0) FROM events;

INSERT INTO event_study_keys (study_id, seq)
    SELECT study_id, seq FROM events WHERE study_id <> '' ORDER BY study_id, seq;
INSERT INTO event_resource_keys (resource_id, seq)
    SELECT resource_id, seq FROM events ORDER BY resource_id, seq;

DROP INDEX events_study_seq;
DROP INDEX events_resource_seq;
