-- 0002_event_aliases: X-Event-IDs of deliveries whose signed content matched
-- a stored event (answered as duplicates), each pointing at that event.

CREATE TABLE event_aliases (
    id          TEXT        PRIMARY KEY,                     -- the delivery's X-Event-ID
    event_id    TEXT        NOT NULL REFERENCES events (id), -- the stored event's X-Event-ID
    received_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX event_aliases_event_id ON event_aliases (event_id);
