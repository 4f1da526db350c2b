-- Intake in two steps, so that a crash at any moment loses no acknowledged candidate and leaves nothing
-- half done (CONTRACT §11 "Crashes"):
--   accept:  a front door's files are stored under server-made keys and a `submissions` row is committed;
--   process: dedup, extraction, scoring and the one transaction of CONTRACT §6, by the request that accepted
--            the submission or, if it died, by any instance's background worker.

-- What a front door received and made durable. 'processing' until the pipeline made it an application
-- ('completed', naming it) or could not ('failed', saying why). The queue columns (run_after, locked_until,
-- lease_token, attempts, last_error, failed_at) follow the convention of src/db/job_queue.rs.
CREATE TABLE submissions (
    id                   uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id           uuid        NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    -- No foreign key: a submission outlives an offer deleted meanwhile, and fails with a reason.
    job_offer_id         uuid        NOT NULL,
    -- talqo_api (CONTRACT §6), teamio_import (§12) or apply_form (§13).
    door                 text        NOT NULL,
    email                text        NOT NULL,
    first_name           text        NOT NULL,
    last_name            text        NOT NULL,
    phone                text,
    linkedin_url         text,
    cover_letter         text        NOT NULL DEFAULT '',
    source               text        NOT NULL,
    -- The GDPR consent of an import (CONTRACT §12); NULL for doors that record none.
    consent_granted      boolean,
    consent_valid_to     timestamptz,
    status               text        NOT NULL DEFAULT 'processing',
    application_id       uuid        REFERENCES job_applications (id) ON DELETE CASCADE,
    -- Whether the application already existed when this submission was processed (CONTRACT §6 dedup).
    existing_application boolean,
    error_message        text,
    run_after            timestamptz NOT NULL DEFAULT now(),
    locked_until         timestamptz,
    lease_token          uuid,
    attempts             integer     NOT NULL DEFAULT 0,
    last_error           text,
    -- Never set: outages are retried until they pass, and permanent causes end as status 'failed'.
    failed_at            timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT submissions_door_known CHECK (door IN ('talqo_api', 'teamio_import', 'apply_form')),
    CONSTRAINT submissions_status_known CHECK (status IN ('processing', 'completed', 'failed')),
    CONSTRAINT submissions_completed_iff_application
        CHECK ((status = 'completed') = (application_id IS NOT NULL AND existing_application IS NOT NULL)),
    CONSTRAINT submissions_failed_iff_reason CHECK ((status = 'failed') = (error_message IS NOT NULL)),
    CONSTRAINT submissions_names_present
        CHECK (btrim(first_name) <> '' AND btrim(last_name) <> '' AND btrim(email) <> ''),
    CONSTRAINT submissions_consent_valid_to_granted CHECK (consent_valid_to IS NULL OR consent_granted)
);
CREATE TRIGGER submissions_updated_at BEFORE UPDATE ON submissions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE INDEX submissions_due_idx ON submissions (run_after) WHERE status = 'processing';
CREATE INDEX submissions_application_idx ON submissions (application_id);

-- The files of a submission not processed yet, each in object storage under its own key. Processing moves
-- each file to its owner (the candidate's CV, an application attachment, a consent document) and deletes
-- these rows, in its transaction.
CREATE TABLE submission_files (
    submission_id         uuid     NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    position              smallint NOT NULL,
    role                  text     NOT NULL,
    filename              text,
    declared_content_type text,
    detected_content_type text     NOT NULL,
    size_bytes            bigint   NOT NULL,
    object_key            text     NOT NULL,
    CONSTRAINT submission_files_pkey PRIMARY KEY (submission_id, position),
    CONSTRAINT submission_files_object_key_key UNIQUE (object_key),
    CONSTRAINT submission_files_role_known
        CHECK (role IN ('cv', 'motivation_letter', 'other', 'consent_document')),
    CONSTRAINT submission_files_size_positive CHECK (size_bytes > 0)
);

-- Objects being uploaded for a submission not committed yet. The accept transaction deletes the rows of
-- its files; a row still here after ORPHAN_SWEEP_INTERVAL belongs to a request that died, and its object
-- is handed to storage_deletions.
CREATE TABLE storage_uploads (
    object_key text        PRIMARY KEY,
    started_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX storage_uploads_started_idx ON storage_uploads (started_at);

-- What an imported application kept (CONTRACT §12): every attachment with its names and types.
CREATE TABLE application_attachments (
    id                    uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    application_id        uuid        NOT NULL REFERENCES job_applications (id) ON DELETE CASCADE,
    submission_id         uuid        NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    position              smallint    NOT NULL,
    role                  text        NOT NULL,
    filename              text,
    declared_content_type text,
    detected_content_type text        NOT NULL,
    size_bytes            bigint      NOT NULL,
    object_key            text        NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT application_attachments_submission_position_key UNIQUE (submission_id, position),
    CONSTRAINT application_attachments_object_key_key UNIQUE (object_key),
    CONSTRAINT application_attachments_role_known CHECK (role IN ('cv', 'motivation_letter', 'other')),
    CONSTRAINT application_attachments_size_positive CHECK (size_bytes > 0)
);
CREATE INDEX application_attachments_application_idx ON application_attachments (application_id);

-- The GDPR consent recorded with each imported application (CONTRACT §12): granted exactly when a validity
-- date was given; the consent document shown to the candidate, when one was sent.
CREATE TABLE application_consents (
    id                    uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    application_id        uuid        NOT NULL REFERENCES job_applications (id) ON DELETE CASCADE,
    submission_id         uuid        NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    granted               boolean     NOT NULL,
    valid_to              timestamptz,
    document_object_key   text,
    document_filename     text,
    document_content_type text,
    document_size_bytes   bigint,
    recorded_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT application_consents_submission_key UNIQUE (submission_id),
    CONSTRAINT application_consents_document_key UNIQUE (document_object_key),
    CONSTRAINT application_consents_granted_iff_valid_to CHECK (granted = (valid_to IS NOT NULL)),
    CONSTRAINT application_consents_document_all_or_none CHECK (
        (document_object_key IS NULL) = (document_content_type IS NULL)
        AND (document_object_key IS NULL) = (document_size_bytes IS NULL))
);
CREATE INDEX application_consents_application_idx ON application_consents (application_id);

-- An import may bring no CV (CONTRACT §12): a candidate's CV columns are all set or all empty.
ALTER TABLE candidates
    ALTER COLUMN cv_object_key DROP NOT NULL,
    ALTER COLUMN cv_content_type DROP NOT NULL,
    ALTER COLUMN cv_size_bytes DROP NOT NULL,
    ADD CONSTRAINT candidates_cv_all_or_none CHECK (
        (cv_object_key IS NULL) = (cv_content_type IS NULL)
        AND (cv_object_key IS NULL) = (cv_size_bytes IS NULL));

-- Claims rows lived past a dead request for minutes; the identity is now locked by a PostgreSQL advisory
-- lock held by the processing transaction, which dies with its connection.
DROP TABLE application_claims;
