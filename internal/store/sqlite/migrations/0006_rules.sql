-- 0006_rules: the rules engine's decisions, one row per decision key, and
-- the evaluator's place in the change feed (docs/rules.md).

CREATE TABLE rule_actions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    key          TEXT    NOT NULL UNIQUE,         -- rule, action, resource, trigger window
    digest_group TEXT    NOT NULL DEFAULT '',
    rule         TEXT    NOT NULL,
    action       TEXT    NOT NULL,
    study_id     TEXT    NOT NULL DEFAULT '',
    target       TEXT    NOT NULL DEFAULT '',
    batch        TEXT    NOT NULL DEFAULT '',
    event_ids    TEXT    NOT NULL DEFAULT '[]',   -- JSON array, at most 100
    count        INTEGER NOT NULL DEFAULT 1,
    dry_run      INTEGER NOT NULL DEFAULT 0,
    detail       TEXT    NOT NULL DEFAULT '',
    outcome      TEXT    NOT NULL DEFAULT 'pending',
    reason       TEXT    NOT NULL DEFAULT '',
    request      TEXT    NOT NULL DEFAULT '',
    response     TEXT    NOT NULL DEFAULT '',
    attempts     INTEGER NOT NULL DEFAULT 0,
    interrupted  INTEGER NOT NULL DEFAULT 0,
    locked_by    TEXT    NOT NULL DEFAULT '',
    locked_until INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    due_at       INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    finished_at  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX rule_actions_pending ON rule_actions (due_at, id) WHERE outcome = 'pending';
CREATE INDEX rule_actions_group ON rule_actions (digest_group, id) WHERE digest_group <> '';
CREATE INDEX rule_actions_rule ON rule_actions (rule, id);
CREATE INDEX rule_actions_study ON rule_actions (study_id, id);

CREATE TABLE rule_cursor (
    name TEXT    PRIMARY KEY,
    seq  INTEGER NOT NULL
);
