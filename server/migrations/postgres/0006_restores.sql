-- Restores lose nothing (docs/operations.md, "Backups and restores").
--
-- content_hash tells a retry from a reused sequence number: a keyed hash (HMAC-SHA256 under the
-- secret content_hash_key below) of each pushed change as pushed, written in the same
-- transaction as its log row. A tablet restored from an older copy of its home pushes new
-- changes under numbers the server already holds; their hash differs, and the push is refused
-- with a HistoryMismatch the tablet acts on. NULL for server-made rows and rows logged before
-- this migration (which are answered as retries, as before).
ALTER TABLE changes ADD COLUMN content_hash BYTEA;

-- mark is random per write transaction: (seq, mark) names one commit of one incarnation of the
-- log. A server restored from an older backup gives the same seqs new marks, so a tablet whose
-- pull position is (seq, mark) finds out. 0 for rows logged before this migration.
ALTER TABLE changes ADD COLUMN mark BIGINT NOT NULL DEFAULT 0;

-- Secrets the server makes for itself, sealed under the KEK (value is an envelope bound to
-- 'server_secrets.value|<name>'); re-wrapped by 'keys rewrap' like every sealed column.
CREATE TABLE server_secrets (
	name  TEXT PRIMARY KEY,
	value BYTEA NOT NULL
);
