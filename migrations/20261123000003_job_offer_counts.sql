-- Exact totals for the job offer listing without counting rows (CONTRACT §4 `pagination.total`).
--
-- A page of a company's offers is a short walk down job_offers_listing_idx, but its total is a count of every
-- matching row: at a million offers that count, not the page, took hundreds of milliseconds. This table keeps
-- the number of offers per (company, status, location, job_type), maintained by statement-level triggers, so
-- the total of a listing filtered by status, location and job type is a sum over a few distinct values.
-- Listings with date bounds still count rows (src/db/job_offers.rs).
--
-- NULL location / job_type are kept as '': a filter never matches either (an empty filter value counts as
-- absent), and an unfiltered total adds both.

CREATE TABLE job_offer_counts (
    company_id uuid   NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    status     text   NOT NULL,
    location   text   NOT NULL,
    job_type   text   NOT NULL,
    offers     bigint NOT NULL,
    CONSTRAINT job_offer_counts_pkey PRIMARY KEY (company_id, status, location, job_type),
    CONSTRAINT job_offer_counts_not_negative CHECK (offers >= 0)
);

-- Adds `sign` × the rows of `changed` (a transition table) to the counts, in key order so that concurrent
-- writers lock counter rows in the same order.
CREATE FUNCTION job_offer_counts_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO job_offer_counts AS c (company_id, status, location, job_type, offers)
        SELECT company_id, status, COALESCE(location, ''), COALESCE(job_type, ''), 0
        FROM old_rows GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT ON CONSTRAINT job_offer_counts_pkey DO NOTHING;
        UPDATE job_offer_counts AS c SET offers = c.offers - d.n
        FROM (SELECT company_id, status, COALESCE(location, '') AS location, COALESCE(job_type, '') AS job_type,
                     count(*) AS n
              FROM old_rows GROUP BY 1, 2, 3, 4) AS d
        WHERE (c.company_id, c.status, c.location, c.job_type) = (d.company_id, d.status, d.location, d.job_type);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO job_offer_counts AS c (company_id, status, location, job_type, offers)
        SELECT company_id, status, COALESCE(location, ''), COALESCE(job_type, ''), count(*)
        FROM new_rows GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT ON CONSTRAINT job_offer_counts_pkey DO UPDATE SET offers = c.offers + EXCLUDED.offers;
    END IF;
    RETURN NULL;
END
$$;

-- PostgreSQL allows transition tables on triggers of one event each.
CREATE TRIGGER job_offer_counts_insert AFTER INSERT ON job_offers
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION job_offer_counts_apply();
CREATE TRIGGER job_offer_counts_update AFTER UPDATE ON job_offers
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION job_offer_counts_apply();
CREATE TRIGGER job_offer_counts_delete AFTER DELETE ON job_offers
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION job_offer_counts_apply();

INSERT INTO job_offer_counts (company_id, status, location, job_type, offers)
SELECT company_id, status, COALESCE(location, ''), COALESCE(job_type, ''), count(*)
FROM job_offers GROUP BY 1, 2, 3, 4;
