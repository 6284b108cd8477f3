-- 0007_acme_storage: what the receiver's ACME client keeps (RECEIVER_ACME_DOMAINS):
-- the ACME account, each domain's certificate, key and metadata, and the
-- challenge data a replica other than the ordering one may have to answer.
-- Keys are slash-separated paths (certmagic's storage); replicas on one
-- database share them, so they share one account and one certificate per
-- domain. Locks are advisory (CertStorage.Lock), not rows.

CREATE TABLE acme_storage (
    key      TEXT        PRIMARY KEY,
    value    BYTEA       NOT NULL,
    modified TIMESTAMPTZ NOT NULL
);
