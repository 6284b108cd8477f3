-- 0003_events_received_at: lets retention (PruneEvents) find the oldest
-- events, in the order it deletes them, without scanning the table (the
-- index holds seq, the rowid, after received_at).

CREATE INDEX events_received_at ON events (received_at);
