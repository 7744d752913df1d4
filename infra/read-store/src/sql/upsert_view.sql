INSERT INTO note_views (id, owner_id, title, body, snippet, subject, tags, pinned, archived,
    trashed, purged, due_at, done, version, created_at, updated_at, changed_tx, changed_seq,
    documents)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
ON CONFLICT (id) DO UPDATE SET
    title = excluded.title, body = excluded.body, snippet = excluded.snippet,
    subject = excluded.subject, tags = excluded.tags, pinned = excluded.pinned,
    archived = excluded.archived, trashed = excluded.trashed,
    purged = excluded.purged, due_at = excluded.due_at, done = excluded.done,
    version = excluded.version, updated_at = excluded.updated_at,
    changed_tx = excluded.changed_tx, changed_seq = excluded.changed_seq,
    documents = excluded.documents
WHERE note_views.version < excluded.version
RETURNING id
