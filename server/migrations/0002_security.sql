-- Security: the audit log, revocation and wipe confirmations, passwords and sign-in failures,
-- closed cases. Times are integer Unix milliseconds.

-- The audit log is append-only and hash-chained: hash = SHA-256(canonical encoding of every column
-- of the entry, prev_hash included). AUTOINCREMENT keeps ids from ever being reused, so a deleted
-- last entry leaves a gap that sqlite_sequence shows; audit_head holds the newest entry's id and
-- hash as a second witness.
CREATE TABLE audit_log (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	at_ms      INTEGER NOT NULL,
	kind       TEXT NOT NULL,
	actor_user TEXT NOT NULL DEFAULT '',
	device_id  TEXT NOT NULL DEFAULT '',
	case_id    TEXT NOT NULL DEFAULT '',
	purpose    TEXT NOT NULL DEFAULT '',
	detail     TEXT NOT NULL DEFAULT '{}',   -- JSON object of non-sensitive keys and values
	prev_hash  BLOB NOT NULL,
	hash       BLOB NOT NULL
);
CREATE INDEX audit_log_at ON audit_log(at_ms);

CREATE TABLE audit_head (
	one  INTEGER PRIMARY KEY CHECK (one = 1),
	id   INTEGER NOT NULL,
	hash BLOB NOT NULL
);

-- Revocation: when and why a device was revoked, and when it confirmed its wipe.
ALTER TABLE devices ADD COLUMN revoked_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN wiped_ms INTEGER NOT NULL DEFAULT 0;

-- Passwords (Argon2id, PHC string format) for signing in on the web.
ALTER TABLE users ADD COLUMN password_hash TEXT NOT NULL DEFAULT '';

-- Failed sign-ins, for the lockout after repeated failures.
CREATE TABLE sign_in_failures (
	user_id TEXT NOT NULL,
	at_ms   INTEGER NOT NULL
);
CREATE INDEX sign_in_failures_user ON sign_in_failures(user_id, at_ms);

-- Closed cases: no one can be assigned to them again.
CREATE TABLE closed_cases (
	case_id   TEXT PRIMARY KEY,
	closed_ms INTEGER NOT NULL
) WITHOUT ROWID;
