-- Hosted job pages (CONTRACT §13): what a company shows on its own pages besides its name.
--
-- The logo is kept in the database, not linked: a page loads nothing from another origin (§13), and a logo of a
-- few KiB beside its company row needs no storage bucket of its own. Only PNG, JPEG and WebP are taken (read
-- from the bytes by the CLI): an SVG can carry script. Its size is capped so a page load stays under 50 KB.

ALTER TABLE companies
    -- `#rrggbb`, lowercase: links, buttons and the header rule on the company's pages.
    ADD COLUMN accent_color      text,
    ADD COLUMN logo              bytea,
    ADD COLUMN logo_content_type text,
    -- Origins allowed to frame the pages (`frame-ancestors`), e.g. `https://careers.acme.com`.
    ADD COLUMN embed_origins     text[] NOT NULL DEFAULT '{}',
    ADD CONSTRAINT companies_accent_color_format CHECK (accent_color ~ '^#[0-9a-f]{6}$'),
    ADD CONSTRAINT companies_logo_content_type_known
        CHECK (logo_content_type IN ('image/png', 'image/jpeg', 'image/webp')),
    ADD CONSTRAINT companies_logo_with_type CHECK ((logo IS NULL) = (logo_content_type IS NULL)),
    ADD CONSTRAINT companies_logo_size CHECK (octet_length(logo) BETWEEN 1 AND 24576),
    -- Each origin is scheme://host[:port] with nothing after it: it goes verbatim into a CSP header.
    ADD CONSTRAINT companies_embed_origins_format
        CHECK (array_to_string(embed_origins, ' ') ~ '^(https?://[a-z0-9.-]+(:[0-9]{1,5})?( |$))*$');
