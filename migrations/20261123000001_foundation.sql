-- Foundation: companies, their API keys, their job offers, and the API log.
-- Constraint names are explicit so the code can match on them (see src/db/mod.rs).

-- Trigram indexes make `location ILIKE '%…%'` an index search instead of a scan (CONTRACT §4).
-- pg_trgm is a trusted extension since PostgreSQL 13: a database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Every table with an `updated_at` column keeps it current through this trigger, so no code path can forget.
CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at = now();
    RETURN NEW;
END
$$;

CREATE TABLE companies (
    id                    uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name                  text        NOT NULL,
    -- The operator's handle for the company on the command line (`--company acme`).
    slug                  text        NOT NULL,
    -- NULL disables auto-reject (CONTRACT §6).
    auto_reject_threshold smallint,
    -- Language of the emails sent to candidates.
    locale                text        NOT NULL DEFAULT 'fr',
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT companies_slug_key UNIQUE (slug),
    CONSTRAINT companies_slug_format CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    CONSTRAINT companies_name_present CHECK (btrim(name) <> ''),
    CONSTRAINT companies_auto_reject_threshold_range CHECK (auto_reject_threshold BETWEEN 0 AND 100),
    CONSTRAINT companies_locale_known CHECK (locale IN ('fr', 'en'))
);
CREATE TRIGGER companies_updated_at BEFORE UPDATE ON companies
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Keys are made by the server and shown once; only their SHA-256 is kept (CONTRACT §2).
CREATE TABLE api_keys (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id   uuid        NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    -- The key's first characters (`tlq_` and 8 more): shown in listings and used to find the row,
    -- after which the hashes are compared in constant time.
    prefix       text        NOT NULL,
    key_hash     bytea       NOT NULL,
    label        text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    -- Written by the API log writer in batches, never on the request path.
    last_used_at timestamptz,
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash),
    CONSTRAINT api_keys_key_hash_length CHECK (octet_length(key_hash) = 32),
    CONSTRAINT api_keys_prefix_format CHECK (prefix ~ '^tlq_[0-9a-z]{8}$')
);
CREATE INDEX api_keys_prefix_idx ON api_keys (prefix);
CREATE INDEX api_keys_company_idx ON api_keys (company_id, created_at);

CREATE TABLE job_offers (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id   uuid        NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    title        text        NOT NULL,
    -- Markdown (CommonMark + GFM), served as-is.
    description  text        NOT NULL DEFAULT '',
    location     text,
    job_type     text,
    -- Free text: Talqo knows open, active, closed, draft, paused and company-specific values.
    -- Only `open` and `active` accept applications (CONTRACT §6).
    status       text        NOT NULL DEFAULT 'draft',
    published_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT job_offers_title_present CHECK (btrim(title) <> ''),
    CONSTRAINT job_offers_status_present CHECK (btrim(status) <> '')
);
CREATE TRIGGER job_offers_updated_at BEFORE UPDATE ON job_offers
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The listing's order (CONTRACT §4): newest first, nulls last, then id. With the company and status
-- leading, a page is a walk down this index, and date bounds are a range inside it.
CREATE INDEX job_offers_listing_idx
    ON job_offers (company_id, status, published_at DESC NULLS LAST, id);
-- The same order under an exact job_type filter.
CREATE INDEX job_offers_listing_job_type_idx
    ON job_offers (company_id, status, job_type, published_at DESC NULLS LAST, id);
-- Case-insensitive substring search on location.
CREATE INDEX job_offers_location_trgm_idx
    ON job_offers USING gin (location gin_trgm_ops);

-- One row for every request to a career-site route that passed the rate limiter (CONTRACT §8).
-- Never holds an API key or a CV's contents.
CREATE TABLE api_logs (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    company_id  uuid        REFERENCES companies (id) ON DELETE SET NULL,
    api_key_id  uuid        REFERENCES api_keys (id) ON DELETE SET NULL,
    method      text        NOT NULL,
    endpoint    text        NOT NULL,
    status_code smallint    NOT NULL,
    latency_ms  integer     NOT NULL,
    ip          inet,
    user_agent  text,
    request_id  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT api_logs_latency_not_negative CHECK (latency_ms >= 0)
);
CREATE INDEX api_logs_company_created_idx ON api_logs (company_id, created_at DESC);
