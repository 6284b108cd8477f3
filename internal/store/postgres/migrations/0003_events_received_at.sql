-- 0003_events_received_at: lets retention (PruneEvents) find the oldest
-- events, in the order it deletes them, without scanning the table.

CREATE INDEX events_received_at ON events (received_at, seq);
