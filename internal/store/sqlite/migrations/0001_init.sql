-- Times are INTEGER unix microseconds (UTC); NULL means "never".

CREATE TABLE events (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT    NOT NULL UNIQUE,
    type           TEXT    NOT NULL,
    resource_id    TEXT    NOT NULL,
    status         TEXT    NOT NULL DEFAULT '',
    participant_id TEXT    NOT NULL DEFAULT '',
    study_id       TEXT    NOT NULL DEFAULT '',
    event_time     INTEGER NOT NULL,
    received_at    INTEGER NOT NULL,
    signature_form TEXT    NOT NULL DEFAULT '',
    content_hash   TEXT    NOT NULL UNIQUE,
    body           BLOB    NOT NULL
);
CREATE INDEX events_type_seq     ON events (type, seq);
CREATE INDEX events_resource_seq ON events (resource_id, seq);
CREATE INDEX events_study_seq    ON events (study_id, seq);

CREATE TABLE studies (
    id                      TEXT    PRIMARY KEY,
    name                    TEXT    NOT NULL DEFAULT '',
    status                  TEXT    NOT NULL DEFAULT '',
    status_rank             INTEGER NOT NULL DEFAULT 0,
    status_at               INTEGER,
    places_taken            INTEGER NOT NULL DEFAULT 0,
    places_total            INTEGER NOT NULL DEFAULT 0,
    number_of_submissions   INTEGER NOT NULL DEFAULT 0,
    submission_counts       TEXT    NOT NULL DEFAULT '{}', -- JSON object, the API's counts
    high_return_rate_events INTEGER NOT NULL DEFAULT 0,
    last_event_at           INTEGER,
    refreshed_at            INTEGER,
    updated_at              INTEGER NOT NULL
);
CREATE INDEX studies_last_event_at ON studies (last_event_at);
CREATE INDEX studies_updated_at    ON studies (updated_at);

CREATE TABLE submissions (
    id             TEXT    PRIMARY KEY,
    study_id       TEXT    NOT NULL DEFAULT '',
    participant_id TEXT    NOT NULL DEFAULT '',
    status         TEXT    NOT NULL DEFAULT '',
    status_rank    INTEGER NOT NULL DEFAULT 0,
    status_at      INTEGER,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX submissions_study_status_at ON submissions (study_id, status_at);

CREATE TABLE jobs (
    kind         TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    due_at       INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    last_error   TEXT    NOT NULL DEFAULT '',
    locked_by    TEXT    NOT NULL DEFAULT '',
    locked_until INTEGER NOT NULL DEFAULT 0,
    requeue      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, key)
);
CREATE INDEX jobs_due_at ON jobs (due_at);
