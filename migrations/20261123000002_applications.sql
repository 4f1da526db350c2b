-- Applications: candidates, their applications, the pipeline's steps, the email outbox,
-- and the bookkeeping that keeps intake race-free and object storage tidy.

-- An application's candidate and offer belong to the same company: the composite foreign keys on
-- job_applications below rely on these.
ALTER TABLE job_offers ADD CONSTRAINT job_offers_company_id_key UNIQUE (company_id, id);

-- One candidate per identity and company (CONTRACT §6): the identity columns hold the email and
-- names lowercased with accents stripped, computed by the server (src/domain/candidate.rs).
CREATE TABLE candidates (
    id                  uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id          uuid        NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    -- As sent (trimmed; email lowercased).
    email               text        NOT NULL,
    first_name          text        NOT NULL,
    last_name           text        NOT NULL,
    identity_email      text        NOT NULL,
    identity_first_name text        NOT NULL,
    identity_last_name  text        NOT NULL,
    phone               text,
    linkedin_url        text,
    -- The current CV in object storage; its key is made by the server.
    cv_object_key       text        NOT NULL,
    cv_content_type     text        NOT NULL,
    cv_size_bytes       bigint      NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT candidates_identity_key
        UNIQUE (company_id, identity_email, identity_first_name, identity_last_name),
    CONSTRAINT candidates_identity_normalised CHECK (
        identity_email = lower(identity_email)
        AND identity_first_name = lower(identity_first_name)
        AND identity_last_name = lower(identity_last_name)),
    CONSTRAINT candidates_names_present CHECK (
        btrim(first_name) <> '' AND btrim(last_name) <> '' AND btrim(email) <> ''),
    CONSTRAINT candidates_cv_size_positive CHECK (cv_size_bytes > 0),
    CONSTRAINT candidates_company_id_key UNIQUE (company_id, id)
);
CREATE TRIGGER candidates_updated_at BEFORE UPDATE ON candidates
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE job_applications (
    id                    uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id            uuid        NOT NULL,
    candidate_id          uuid        NOT NULL,
    job_offer_id          uuid        NOT NULL,
    -- candidate_status: new, in_progress, accepted, rejected, or a company's own value.
    status                text        NOT NULL DEFAULT 'new',
    -- Hostname of Origin / Referer, or 'career_site'.
    source                text        NOT NULL,
    cover_letter          text        NOT NULL DEFAULT '',
    -- Text extracted from the CV at intake; NULL when it could not be extracted.
    cv_text               text,
    -- scored: rating and texts are set. pending: the scorer failed, the worker tries again at
    -- next_scoring_at. unscorable: there is no text to score.
    scoring_status        text        NOT NULL,
    rating                smallint,
    ai_resume_summary     text,
    first_impression_text text,
    scoring_attempts      integer     NOT NULL DEFAULT 0,
    next_scoring_at       timestamptz,
    last_scoring_error    text,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    -- CONTRACT §6: one application per candidate and offer, whatever the concurrency.
    CONSTRAINT job_applications_candidate_offer_key UNIQUE (candidate_id, job_offer_id),
    CONSTRAINT job_applications_candidate_fkey FOREIGN KEY (company_id, candidate_id)
        REFERENCES candidates (company_id, id) ON DELETE CASCADE,
    CONSTRAINT job_applications_job_offer_fkey FOREIGN KEY (company_id, job_offer_id)
        REFERENCES job_offers (company_id, id) ON DELETE CASCADE,
    CONSTRAINT job_applications_status_present CHECK (btrim(status) <> ''),
    CONSTRAINT job_applications_scoring_status_known
        CHECK (scoring_status IN ('scored', 'pending', 'unscorable')),
    CONSTRAINT job_applications_rating_range CHECK (rating BETWEEN 0 AND 100),
    CONSTRAINT job_applications_rating_iff_scored
        CHECK ((scoring_status = 'scored') = (rating IS NOT NULL)),
    CONSTRAINT job_applications_pending_is_scheduled
        CHECK (scoring_status <> 'pending' OR next_scoring_at IS NOT NULL)
);
CREATE TRIGGER job_applications_updated_at BEFORE UPDATE ON job_applications
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE INDEX job_applications_offer_idx ON job_applications (job_offer_id);
CREATE INDEX job_applications_rescoring_idx ON job_applications (next_scoring_at)
    WHERE scoring_status = 'pending';

-- The recruitment pipeline's steps; the first is written with the application.
CREATE TABLE candidate_steps (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    application_id uuid        NOT NULL REFERENCES job_applications (id) ON DELETE CASCADE,
    status         text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT candidate_steps_status_present CHECK (btrim(status) <> '')
);
CREATE INDEX candidate_steps_application_idx ON candidate_steps (application_id, created_at);

-- Emails to candidates, written in the same transaction as what caused them and delivered by the
-- background worker. At most one email of each kind per application.
CREATE TABLE email_outbox (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    application_id uuid        NOT NULL REFERENCES job_applications (id) ON DELETE CASCADE,
    kind           text        NOT NULL,
    recipient      text        NOT NULL,
    subject        text        NOT NULL,
    text_body      text        NOT NULL,
    html_body      text        NOT NULL,
    -- Not before this instant (the rejection email waits REJECTION_EMAIL_DELAY).
    send_after     timestamptz NOT NULL DEFAULT now(),
    -- A worker that took the row holds it until then; past it, another worker may take it over.
    locked_until   timestamptz,
    attempts       integer     NOT NULL DEFAULT 0,
    last_error     text,
    sent_at        timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT email_outbox_kind_known CHECK (kind IN ('confirmation', 'rejection')),
    CONSTRAINT email_outbox_application_kind_key UNIQUE (application_id, kind)
);
CREATE INDEX email_outbox_due_idx ON email_outbox (send_after) WHERE sent_at IS NULL;

-- Intake claims make "dedup before cost" hold under concurrency: the request that inserts the claim
-- for (company, identity, offer) runs the pipeline; the others wait for its application and answer 200.
-- A claim whose holder died expires at claimed_until and may be taken over.
CREATE TABLE application_claims (
    company_id          uuid        NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    identity_email      text        NOT NULL,
    identity_first_name text        NOT NULL,
    identity_last_name  text        NOT NULL,
    job_offer_id        uuid        NOT NULL REFERENCES job_offers (id) ON DELETE CASCADE,
    token               uuid        NOT NULL,
    claimed_until       timestamptz NOT NULL,
    CONSTRAINT application_claims_pkey PRIMARY KEY
        (company_id, identity_email, identity_first_name, identity_last_name, job_offer_id)
);

-- Objects to delete from storage: a replaced CV (after the new one is committed) or an upload whose
-- transaction failed. Deleted right away when possible; the worker retries what is left.
CREATE TABLE storage_deletions (
    object_key  text        PRIMARY KEY,
    not_before  timestamptz NOT NULL DEFAULT now(),
    attempts    integer     NOT NULL DEFAULT 0,
    last_error  text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
