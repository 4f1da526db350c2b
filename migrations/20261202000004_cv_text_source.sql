-- Where an application's CV text came from (issue 10): the document's own text layer, or OCR of its page images.
-- NULL when no text was extracted, and for applications stored before this column existed.
ALTER TABLE job_applications
    ADD COLUMN cv_text_source text,
    ADD CONSTRAINT job_applications_cv_text_source_known
        CHECK (cv_text_source IN ('text_layer', 'ocr')),
    ADD CONSTRAINT job_applications_cv_text_source_iff_text
        CHECK (cv_text_source IS NULL OR cv_text IS NOT NULL);
