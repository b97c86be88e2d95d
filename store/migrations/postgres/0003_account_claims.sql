-- Each order life's claim on its AWS account: an account has at most one
-- live termination, and once closed for good it is never claimed again.
-- (order_id, run_key) is one life of one order: its claim is made once.
CREATE TABLE account_claims (
    account_id      TEXT        NOT NULL,
    order_id        TEXT        NOT NULL,
    run_key         TEXT        NOT NULL,
    subscription_id TEXT        NOT NULL,
    stage           TEXT        NOT NULL, -- the order's latest stage
    claimed_at      TIMESTAMPTZ NOT NULL,
    ended_at        TIMESTAMPTZ,          -- when it freed the account or closed it for good
    PRIMARY KEY (order_id, run_key)
);

-- The rule itself: at most one claim per account holds it, live or closed for
-- good. A cancelled, reopened or failed order's claim stays as history.
-- Claim's holder query repeats this predicate word for word, so the planner
-- proves it uses the index.
CREATE UNIQUE INDEX account_claims_one_holder ON account_claims (account_id)
    WHERE stage NOT IN ('Cancelled', 'Reopened', 'Failed');

-- An account's record lists its claims newest first.
CREATE INDEX account_claims_by_account ON account_claims (account_id, claimed_at);
