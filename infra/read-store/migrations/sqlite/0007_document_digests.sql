-- The SHA-256 of a document's bytes, recorded when its upload is attached.
ALTER TABLE document_views ADD COLUMN sha256 TEXT;
