-- Every background queue follows one column convention and is leased through one mechanism
-- (src/db/job_queue.rs): run_after, locked_until, lease_token, attempts, last_error, failed_at.
--
-- lease_token is the holder's fencing token: a worker whose lease ran out and was taken over finds its
-- token changed and can neither complete nor retry the row. failed_at marks a job the queue gave up on
-- (CONTRACT §11 "Email": MAIL_MAX_ATTEMPTS); such a row stays visible and is never claimed again.

-- The email outbox keeps `send_after` as its run_after (CONTRACT §6: "not before REJECTION_EMAIL_DELAY").
ALTER TABLE email_outbox
    ADD COLUMN lease_token uuid,
    ADD COLUMN failed_at   timestamptz,
    ADD CONSTRAINT email_outbox_token_needs_lock CHECK (lease_token IS NULL OR locked_until IS NOT NULL),
    ADD CONSTRAINT email_outbox_attempts_counted CHECK (attempts >= 0),
    -- An email either left or was given up on, never both.
    ADD CONSTRAINT email_outbox_sent_or_failed CHECK (sent_at IS NULL OR failed_at IS NULL);
-- Operators list what was given up on (`talqo-server outbox failed`).
CREATE INDEX email_outbox_failed_idx ON email_outbox (failed_at) WHERE failed_at IS NOT NULL;

-- Re-scoring lives on the application row; its queue columns carry the scoring_ prefix of the columns
-- it already had (next_scoring_at is its run_after, scoring_attempts, last_scoring_error).
ALTER TABLE job_applications
    ADD COLUMN scoring_locked_until timestamptz,
    ADD COLUMN scoring_lease_token  uuid,
    ADD COLUMN scoring_failed_at    timestamptz,
    ADD CONSTRAINT job_applications_scoring_token_needs_lock
        CHECK (scoring_lease_token IS NULL OR scoring_locked_until IS NOT NULL),
    ADD CONSTRAINT job_applications_scoring_failed_is_pending
        CHECK (scoring_failed_at IS NULL OR scoring_status = 'pending');

ALTER TABLE storage_deletions RENAME COLUMN not_before TO run_after;
ALTER TABLE storage_deletions
    ADD COLUMN locked_until timestamptz,
    ADD COLUMN lease_token  uuid,
    ADD COLUMN failed_at    timestamptz,
    ADD CONSTRAINT storage_deletions_token_needs_lock CHECK (lease_token IS NULL OR locked_until IS NOT NULL),
    ADD CONSTRAINT storage_deletions_attempts_counted CHECK (attempts >= 0);
CREATE INDEX storage_deletions_due_idx ON storage_deletions (run_after) WHERE failed_at IS NULL;
