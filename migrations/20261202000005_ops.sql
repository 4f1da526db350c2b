-- API_LOG_RETENTION: the background worker deletes api_logs rows older than the retention, oldest first,
-- in batches. Without an index on created_at alone each batch would scan the whole table (the existing
-- index leads with company_id).
CREATE INDEX api_logs_created_at_idx ON api_logs (created_at);
