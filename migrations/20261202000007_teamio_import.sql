-- The Teamio import API (CONTRACT §12): offers' numeric ids, import clients and their access tokens.

-- Every offer has a numeric `recruitment_id` (1 .. 2^53 − 1, the integers a JSON client represents exactly),
-- unique among offers. Adding the column with a sequence default numbers the existing rows while the table is
-- rewritten, without firing the row triggers (so `updated_at` and the listing counts stay as they were).
CREATE SEQUENCE job_offers_recruitment_id_seq AS bigint MINVALUE 1 MAXVALUE 9007199254740991;
ALTER TABLE job_offers
    ADD COLUMN recruitment_id bigint NOT NULL DEFAULT nextval('job_offers_recruitment_id_seq');
ALTER SEQUENCE job_offers_recruitment_id_seq OWNED BY job_offers.recruitment_id;
ALTER TABLE job_offers
    ADD CONSTRAINT job_offers_recruitment_id_key UNIQUE (recruitment_id),
    ADD CONSTRAINT job_offers_recruitment_id_range CHECK (recruitment_id BETWEEN 1 AND 9007199254740991);

-- Operators may set a recruitment_id themselves (to keep another system's ids), so the sequence may reach a
-- number already taken: the default skips those. A race between two writers ends at the unique constraint.
CREATE FUNCTION next_job_offer_recruitment_id() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    candidate bigint;
BEGIN
    LOOP
        candidate := nextval('job_offers_recruitment_id_seq');
        EXIT WHEN NOT EXISTS (SELECT 1 FROM job_offers WHERE recruitment_id = candidate);
    END LOOP;
    RETURN candidate;
END
$$;
ALTER TABLE job_offers ALTER COLUMN recruitment_id SET DEFAULT next_job_offer_recruitment_id();

-- Credentials of the import API: a public client_id and a secret shown once, of which only the SHA-256 is kept.
-- A sandbox client's tokens work only on `POST /api/v1/candidate-reactions/test`.
CREATE TABLE import_clients (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id   uuid        NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    -- The token request's `username`.
    client_id    text        NOT NULL,
    secret_hash  bytea       NOT NULL,
    environment  text        NOT NULL,
    label        text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- Revoking twice keeps the first time; a revoked client's tokens stop working at once (they are looked up
    -- joined to this column on every request, nothing is cached).
    revoked_at   timestamptz,
    -- When the client last obtained a token or used one (at most a minute late).
    last_used_at timestamptz,
    CONSTRAINT import_clients_client_id_key UNIQUE (client_id),
    CONSTRAINT import_clients_client_id_format CHECK (client_id ~ '^tic_[0-9a-z]{24}$'),
    CONSTRAINT import_clients_secret_hash_length CHECK (octet_length(secret_hash) = 32),
    CONSTRAINT import_clients_environment_known CHECK (environment IN ('production', 'sandbox'))
);
CREATE INDEX import_clients_company_idx ON import_clients (company_id, created_at);

-- Access tokens, stored as their SHA-256 with their expiry, so that any instance can check any token. A new
-- token does not end older ones. Expired rows are deleted when their client asks for a new token.
CREATE TABLE import_tokens (
    token_hash bytea       PRIMARY KEY,
    client_id  uuid        NOT NULL REFERENCES import_clients (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT import_tokens_token_hash_length CHECK (octet_length(token_hash) = 32),
    CONSTRAINT import_tokens_expiry_after_creation CHECK (expires_at > created_at)
);
CREATE INDEX import_tokens_client_expiry_idx ON import_tokens (client_id, expires_at);
