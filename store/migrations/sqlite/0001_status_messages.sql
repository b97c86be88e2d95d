-- Every customer-facing status message of every termination order.
-- (order_id, run_id, seq) is the idempotency key: a retried write is a no-op.
CREATE TABLE order_status_messages (
    order_id     TEXT    NOT NULL,
    run_id       TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    stage        TEXT    NOT NULL,
    order_status TEXT    NOT NULL,
    message      TEXT    NOT NULL,
    occurred_at  TEXT    NOT NULL, -- RFC 3339 UTC with nanoseconds: sorts as text
    recorded_at  TEXT    NOT NULL,
    PRIMARY KEY (order_id, run_id, seq)
);

-- The order details page reads the latest message and the timeline of one order.
CREATE INDEX order_status_messages_by_order ON order_status_messages (order_id, occurred_at, seq);
