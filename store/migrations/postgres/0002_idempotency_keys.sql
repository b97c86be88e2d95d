-- The HTTP API's Idempotency-Keys: which request each key came with, so that
-- the same key with a different request is refused, and the answer it got,
-- so that a retry gets the same answer.
CREATE TABLE idempotency_keys (
    caller       TEXT        NOT NULL,
    idem_key     TEXT        NOT NULL,
    request_hash TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    response     TEXT, -- the definite answer, once there is one
    PRIMARY KEY (caller, idem_key)
);

-- Expired keys are deleted by age.
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
