-- Delivery takes each sink's oldest pending notification first.
CREATE INDEX outbox_sink_pending ON outbox (sink, state, id);
