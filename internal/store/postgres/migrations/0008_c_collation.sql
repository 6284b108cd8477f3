-- 0008_c_collation: the key columns compare as bytes (COLLATE "C"). They
-- hold identifiers (ObjectIds, X-Event-IDs, content hashes, event types),
-- never words, so the database's linguistic collation only made every
-- B-tree comparison go through strcoll; byte order is also the order the
-- SQLite store and the Go code sort them in. The type is unchanged, so no
-- table is rewritten, but the indexes on these columns are rebuilt (this
-- migration holds its tables' locks while it does, on a large table for a
-- while).

ALTER TABLE events
    ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN content_hash TYPE TEXT COLLATE "C",
    ALTER COLUMN type TYPE TEXT COLLATE "C",
    ALTER COLUMN resource_id TYPE TEXT COLLATE "C",
    ALTER COLUMN study_id TYPE TEXT COLLATE "C";
ALTER TABLE event_aliases
    ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN event_id TYPE TEXT COLLATE "C";
ALTER TABLE submissions
    ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN study_id TYPE TEXT COLLATE "C";
ALTER TABLE studies
    ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE jobs
    ALTER COLUMN kind TYPE TEXT COLLATE "C",
    ALTER COLUMN key TYPE TEXT COLLATE "C";
