-- Samvær sync server schema, PostgreSQL (the same schema as ../0001_init.sql, in this dialect). Migrations are append-only: never edit a released file, add a new one.
-- Times are integer Unix milliseconds.

CREATE TABLE users (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	roles      TEXT NOT NULL,            -- comma-separated: consultant,caseworker,coordinator,admin
	disabled   BIGINT NOT NULL DEFAULT 0,
	created_ms BIGINT NOT NULL
);

CREATE TABLE devices (
	id           TEXT PRIMARY KEY,
	user_id      TEXT NOT NULL REFERENCES users(id),
	name         TEXT NOT NULL,
	public_key   BYTEA NOT NULL,
	status       TEXT NOT NULL DEFAULT 'active',
	last_seq     BIGINT NOT NULL DEFAULT 0,   -- highest device_seq applied
	enrolled_ms  BIGINT NOT NULL,
	last_seen_ms BIGINT NOT NULL DEFAULT 0
);

-- One-time enrollment codes, stored only as a hash.
CREATE TABLE enrollment_codes (
	code_hash  BYTEA PRIMARY KEY,
	user_id    TEXT NOT NULL REFERENCES users(id),
	created_ms BIGINT NOT NULL,
	expires_ms BIGINT NOT NULL,
	used_ms    BIGINT NOT NULL DEFAULT 0
);

-- Replay guard for device-signed token requests.
CREATE TABLE token_nonces (
	device_id  TEXT NOT NULL,
	nonce      TEXT NOT NULL,
	expires_ms BIGINT NOT NULL,
	PRIMARY KEY (device_id, nonce)
);

CREATE TABLE signing_keys (
	kid         TEXT PRIMARY KEY,
	private_key BYTEA NOT NULL,
	created_ms  BIGINT NOT NULL,
	is_primary  BIGINT NOT NULL DEFAULT 0
);

-- Who works on a case: its caseworker(s) and the consultants of its visits. Decides scope.
CREATE TABLE case_members (
	case_id TEXT NOT NULL,
	user_id TEXT NOT NULL REFERENCES users(id),
	role    TEXT NOT NULL,
	PRIMARY KEY (case_id, user_id, role)
);
CREATE INDEX case_members_user ON case_members(user_id, case_id);

-- The current state of every record: a CommittedChange holding all its fields.
CREATE TABLE records (
	id       TEXT PRIMARY KEY,
	type     TEXT NOT NULL,
	case_id  TEXT NOT NULL,
	visit_id TEXT NOT NULL DEFAULT '',
	state    BYTEA NOT NULL
);
CREATE INDEX records_case ON records(case_id, id);
-- A visit's checklist and report, found by visit. Observations are left out: the server never
-- looks them up by visit, and indexing every observation slowed pushes.
CREATE INDEX records_visit ON records(visit_id) WHERE visit_id <> '' AND type <> 'observation';

-- The change log, in commit order. Every pushed change has one row (its idempotency key is
-- (device_id, device_seq)); effect is NULL when the change committed nothing to its record
-- (rejected, or lost to a later register value). submitted holds the change as pushed whenever
-- the effect may differ from it, so history keeps what a person wrote.
CREATE TABLE changes (
	seq          BIGINT PRIMARY KEY,
	case_id      TEXT NOT NULL,
	record_id    TEXT NOT NULL,
	device_id    TEXT NOT NULL,
	device_seq   BIGINT NOT NULL,
	result       BIGINT NOT NULL,
	reason       TEXT NOT NULL DEFAULT '',
	effect       BYTEA,
	submitted    BYTEA,
	committed_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX changes_device ON changes(device_id, device_seq) WHERE device_seq > 0;
