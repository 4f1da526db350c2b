-- The job offer listing without stale answers and without counting rows (CONTRACT §4).
--
-- 1. job_offer_listing_versions: one number per company that changes, in the same transaction, with every
--    write to that company's offers. The API reads it with the API key (one statement per request) and serves
--    a listing from its in-memory cache only when the cached copy was made at the current number, so a changed
--    offer is seen by the very next request on every instance: no time-to-live, no notification to miss.
-- 2. job_offer_day_counts: offers per company, status, location, job type and publication day (UTC), so the
--    total of a date-bounded listing is a sum over whole days plus a count of the few offers published on the
--    two boundary days, instead of a count of every matching offer (924 ms at a million offers before).
--
-- Both are kept by statement-level triggers on job_offers, beside those of job_offer_counts (migration 3).

-- Numbers come from one sequence, so a version is never reused, even by a company created again.
CREATE SEQUENCE job_offer_listing_version_seq AS bigint;

CREATE TABLE job_offer_listing_versions (
    company_id uuid   NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    version    bigint NOT NULL,
    CONSTRAINT job_offer_listing_versions_pkey PRIMARY KEY (company_id),
    CONSTRAINT job_offer_listing_versions_positive CHECK (version > 0)
);

-- NULL location / job_type are kept as '' as in job_offer_counts; offers never published have no row (a date
-- bound never matches them).
CREATE TABLE job_offer_day_counts (
    company_id   uuid   NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    status       text   NOT NULL,
    location     text   NOT NULL,
    job_type     text   NOT NULL,
    published_on date   NOT NULL,
    offers       bigint NOT NULL,
    CONSTRAINT job_offer_day_counts_pkey PRIMARY KEY (company_id, status, location, job_type, published_on),
    CONSTRAINT job_offer_day_counts_not_negative CHECK (offers >= 0)
);
-- Date ranges without a location filter: one index range per (company, status).
CREATE INDEX job_offer_day_counts_day_idx ON job_offer_day_counts (company_id, status, published_on)
    INCLUDE (job_type, offers);

-- The publication day of an offer, in UTC (the wire's time zone, CONTRACT §1).
CREATE FUNCTION job_offer_published_on(published_at timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT (published_at AT TIME ZONE 'UTC')::date $$;

-- Applies a statement's changes to the day counts and bumps the version of every company it touched. Rows are
-- written in key order so that concurrent writers lock them in the same order.
CREATE FUNCTION job_offer_listing_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE job_offer_day_counts AS c SET offers = c.offers - d.n
        FROM (SELECT company_id, status, COALESCE(location, '') AS location, COALESCE(job_type, '') AS job_type,
                     job_offer_published_on(published_at) AS published_on, count(*) AS n
              FROM old_rows WHERE published_at IS NOT NULL GROUP BY 1, 2, 3, 4, 5) AS d
        WHERE (c.company_id, c.status, c.location, c.job_type, c.published_on)
            = (d.company_id, d.status, d.location, d.job_type, d.published_on);
        -- A deleted company's rows are going too: only companies still there get a new version.
        UPDATE job_offer_listing_versions AS v SET version = nextval('job_offer_listing_version_seq')
        FROM (SELECT DISTINCT company_id FROM old_rows ORDER BY 1) AS changed
        WHERE v.company_id = changed.company_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO job_offer_day_counts AS c (company_id, status, location, job_type, published_on, offers)
        SELECT company_id, status, COALESCE(location, ''), COALESCE(job_type, ''),
               job_offer_published_on(published_at), count(*)
        FROM new_rows WHERE published_at IS NOT NULL GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT ON CONSTRAINT job_offer_day_counts_pkey DO UPDATE SET offers = c.offers + EXCLUDED.offers;
        INSERT INTO job_offer_listing_versions AS v (company_id, version)
        SELECT company_id, nextval('job_offer_listing_version_seq')
        FROM (SELECT DISTINCT company_id FROM new_rows ORDER BY 1) AS changed
        ON CONFLICT ON CONSTRAINT job_offer_listing_versions_pkey DO UPDATE SET version = EXCLUDED.version;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER job_offer_listing_insert AFTER INSERT ON job_offers
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION job_offer_listing_apply();
CREATE TRIGGER job_offer_listing_update AFTER UPDATE ON job_offers
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION job_offer_listing_apply();
CREATE TRIGGER job_offer_listing_delete AFTER DELETE ON job_offers
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION job_offer_listing_apply();

INSERT INTO job_offer_day_counts (company_id, status, location, job_type, published_on, offers)
SELECT company_id, status, COALESCE(location, ''), COALESCE(job_type, ''), job_offer_published_on(published_at),
       count(*)
FROM job_offers WHERE published_at IS NOT NULL GROUP BY 1, 2, 3, 4, 5;

INSERT INTO job_offer_listing_versions (company_id, version)
SELECT id, nextval('job_offer_listing_version_seq') FROM companies;
