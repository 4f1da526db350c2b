-- Date-bounded listing totals that stay fast at a million offers on the first request after a write
-- (CONTRACT §4), when the listing cache (migration 6) has nothing to serve yet.
--
-- Migration 6's job_offer_day_counts has a row per company, status, location, job type and day: about half a
-- million rows for a million offers spread over three years. A date-bounded total without a location filter
-- summed the whole date range of it (hundreds of thousands of rows), and with a location filter the planner
-- could pick the same range and filter the locations afterwards. Now:
-- 1. job_offer_type_day_counts: offers per company, status, job type and day, without the location, for
--    date-bounded totals without a location filter (a few thousand rows over three years);
-- 2. an index on job_offer_day_counts by location then day, which the location-filtered total walks once per
--    matching location (src/db/job_offers.rs); it replaces the index by day, which no query uses any more.

CREATE TABLE job_offer_type_day_counts (
    company_id   uuid   NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    status       text   NOT NULL,
    job_type     text   NOT NULL,
    published_on date   NOT NULL,
    offers       bigint NOT NULL,
    CONSTRAINT job_offer_type_day_counts_pkey PRIMARY KEY (company_id, status, job_type, published_on),
    CONSTRAINT job_offer_type_day_counts_not_negative CHECK (offers >= 0)
);
-- Date ranges of all job types at once: one index range per (company, status).
CREATE INDEX job_offer_type_day_counts_day_idx ON job_offer_type_day_counts (company_id, status, published_on)
    INCLUDE (offers);

DROP INDEX job_offer_day_counts_day_idx;
CREATE INDEX job_offer_day_counts_location_day_idx
    ON job_offer_day_counts (company_id, status, location, published_on) INCLUDE (job_type, offers);

-- Migration 6's function, now keeping job_offer_type_day_counts too (same triggers, same key order).
CREATE OR REPLACE FUNCTION job_offer_listing_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE job_offer_day_counts AS c SET offers = c.offers - d.n
        FROM (SELECT company_id, status, COALESCE(location, '') AS location, COALESCE(job_type, '') AS job_type,
                     job_offer_published_on(published_at) AS published_on, count(*) AS n
              FROM old_rows WHERE published_at IS NOT NULL GROUP BY 1, 2, 3, 4, 5) AS d
        WHERE (c.company_id, c.status, c.location, c.job_type, c.published_on)
            = (d.company_id, d.status, d.location, d.job_type, d.published_on);
        UPDATE job_offer_type_day_counts AS c SET offers = c.offers - d.n
        FROM (SELECT company_id, status, COALESCE(job_type, '') AS job_type,
                     job_offer_published_on(published_at) AS published_on, count(*) AS n
              FROM old_rows WHERE published_at IS NOT NULL GROUP BY 1, 2, 3, 4) AS d
        WHERE (c.company_id, c.status, c.job_type, c.published_on)
            = (d.company_id, d.status, d.job_type, d.published_on);
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
        INSERT INTO job_offer_type_day_counts AS c (company_id, status, job_type, published_on, offers)
        SELECT company_id, status, COALESCE(job_type, ''), job_offer_published_on(published_at), count(*)
        FROM new_rows WHERE published_at IS NOT NULL GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT ON CONSTRAINT job_offer_type_day_counts_pkey DO UPDATE SET offers = c.offers + EXCLUDED.offers;
        INSERT INTO job_offer_listing_versions AS v (company_id, version)
        SELECT company_id, nextval('job_offer_listing_version_seq')
        FROM (SELECT DISTINCT company_id FROM new_rows ORDER BY 1) AS changed
        ON CONFLICT ON CONSTRAINT job_offer_listing_versions_pkey DO UPDATE SET version = EXCLUDED.version;
    END IF;
    RETURN NULL;
END
$$;

INSERT INTO job_offer_type_day_counts (company_id, status, job_type, published_on, offers)
SELECT company_id, status, COALESCE(job_type, ''), job_offer_published_on(published_at), count(*)
FROM job_offers WHERE published_at IS NOT NULL GROUP BY 1, 2, 3, 4;
