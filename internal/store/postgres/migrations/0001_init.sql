-- 0001_init: events, projections and the enrichment queue.

CREATE TABLE events (
    seq            BIGSERIAL PRIMARY KEY,
    id             TEXT        NOT NULL,
    content_hash   TEXT,                 -- NULL when the caller gave none (no second key)
    type           TEXT        NOT NULL,
    resource_id    TEXT        NOT NULL,
    status         TEXT        NOT NULL DEFAULT '',
    participant_id TEXT        NOT NULL DEFAULT '',
    study_id       TEXT        NOT NULL DEFAULT '',
    event_time     TIMESTAMPTZ NOT NULL,
    received_at    TIMESTAMPTZ NOT NULL,
    signature_form TEXT        NOT NULL DEFAULT '',
    body           BYTEA       NOT NULL
);
CREATE UNIQUE INDEX events_id_key ON events (id);
CREATE UNIQUE INDEX events_content_hash_key ON events (content_hash);
CREATE INDEX events_type_seq ON events (type, seq);
CREATE INDEX events_resource_seq ON events (resource_id, seq);
CREATE INDEX events_study_seq ON events (study_id, seq) WHERE study_id <> '';

CREATE TABLE studies (
    id                      TEXT PRIMARY KEY,
    name                    TEXT        NOT NULL DEFAULT '',
    status                  TEXT        NOT NULL DEFAULT '',
    status_at               TIMESTAMPTZ,          -- NULL until a status is applied
    status_rank             INTEGER     NOT NULL DEFAULT 0,
    places_taken            INTEGER     NOT NULL DEFAULT 0,
    places_total            INTEGER     NOT NULL DEFAULT 0,
    number_of_submissions   INTEGER     NOT NULL DEFAULT 0,
    submission_counts       JSONB,                -- the API's counts; NULL until refreshed
    high_return_rate_events INTEGER     NOT NULL DEFAULT 0,
    last_event_at           TIMESTAMPTZ,
    refreshed_at            TIMESTAMPTZ,
    updated_at              TIMESTAMPTZ NOT NULL
);
CREATE INDEX studies_last_event_at ON studies (last_event_at DESC NULLS LAST, id);

CREATE TABLE submissions (
    id             TEXT PRIMARY KEY,
    study_id       TEXT        NOT NULL DEFAULT '',
    participant_id TEXT        NOT NULL DEFAULT '',
    status         TEXT        NOT NULL DEFAULT '',
    status_at      TIMESTAMPTZ,
    status_rank    INTEGER     NOT NULL DEFAULT 0,
    updated_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX submissions_study_status_at ON submissions (study_id, status_at DESC NULLS LAST);

CREATE TABLE jobs (
    kind         TEXT        NOT NULL,
    key          TEXT        NOT NULL,
    due_at       TIMESTAMPTZ NOT NULL,
    attempts     INTEGER     NOT NULL DEFAULT 0,
    created_at   TIMESTAMPTZ NOT NULL,
    last_error   TEXT        NOT NULL DEFAULT '',
    locked_by    TEXT        NOT NULL DEFAULT '',
    locked_until TIMESTAMPTZ,
    requeue      BOOLEAN     NOT NULL DEFAULT FALSE,
    PRIMARY KEY (kind, key)
);
CREATE INDEX jobs_due_at ON jobs (due_at);
