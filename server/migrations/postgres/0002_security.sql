-- Security: the audit log, revocation and wipe confirmations, passwords and sign-in failures,
-- closed cases. Times are integer Unix milliseconds.

-- The audit log is append-only and hash-chained: hash = SHA-256(canonical encoding of every column
-- of the entry, prev_hash included). Ids are never reused: audit_sequence holds the highest id
-- ever assigned, kept by the store in the appending transaction as SQLite keeps AUTOINCREMENT's
-- counter (a PostgreSQL sequence would not do: a rolled-back append would burn an id, and the
-- gap would look like a deleted entry). A deleted last entry leaves a gap that audit_sequence
-- shows; audit_head holds the newest entry's id and hash as a second witness.
CREATE TABLE audit_log (
	id         BIGINT PRIMARY KEY,
	at_ms      BIGINT NOT NULL,
	kind       TEXT NOT NULL,
	actor_user TEXT NOT NULL DEFAULT '',
	device_id  TEXT NOT NULL DEFAULT '',
	case_id    TEXT NOT NULL DEFAULT '',
	purpose    TEXT NOT NULL DEFAULT '',
	detail     TEXT NOT NULL DEFAULT '{}',   -- JSON object of non-sensitive keys and values
	prev_hash  BYTEA NOT NULL,
	hash       BYTEA NOT NULL
);
CREATE INDEX audit_log_at ON audit_log(at_ms);

CREATE TABLE audit_sequence (
	one BIGINT PRIMARY KEY CHECK (one = 1),
	seq BIGINT NOT NULL
);
INSERT INTO audit_sequence (one, seq) VALUES (1, 0);

CREATE TABLE audit_head (
	one  BIGINT PRIMARY KEY CHECK (one = 1),
	id   BIGINT NOT NULL,
	hash BYTEA NOT NULL
);

-- Revocation: when and why a device was revoked, and when it confirmed its wipe.
ALTER TABLE devices ADD COLUMN revoked_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN wiped_ms BIGINT NOT NULL DEFAULT 0;

-- Passwords (Argon2id, PHC string format) for signing in on the web.
ALTER TABLE users ADD COLUMN password_hash TEXT NOT NULL DEFAULT '';

-- Failed sign-ins, for the lockout after repeated failures.
CREATE TABLE sign_in_failures (
	user_id TEXT NOT NULL,
	at_ms   BIGINT NOT NULL
);
CREATE INDEX sign_in_failures_user ON sign_in_failures(user_id, at_ms);

-- Closed cases: no one can be assigned to them again.
CREATE TABLE closed_cases (
	case_id   TEXT PRIMARY KEY,
	closed_ms BIGINT NOT NULL
);
