-- What each status change left beside its message, so that an order's status
-- reads from the store alone, without its workflow: the request that made
-- the change, AWS Organizations' answer it rests on (JSON), and the order's
-- facts as the change left them (JSON: account, subscription, close time,
-- reopen deadline, AWS's answers). NULL in messages stored before.
ALTER TABLE order_status_messages ADD COLUMN request_id TEXT;
ALTER TABLE order_status_messages ADD COLUMN aws_check TEXT;
ALTER TABLE order_status_messages ADD COLUMN facts TEXT;
