-- Samvær tablet schema. Append-only: add a new file for every change. Times are Unix ms.

-- Settings and sync state: device_id, user_id, user_name, server_url, cursor (last applied server
-- commit), next_seq (next device_seq), hlc (last clock value), clock_offset_ms, last_sync_ms.
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;

-- The server-confirmed state of each record: a CommittedChange holding all its fields.
-- visit_id is the record's visit (the id itself for a visit), '' for records of no visit.
CREATE TABLE records (
	id       TEXT PRIMARY KEY,
	type     TEXT NOT NULL,
	case_id  TEXT NOT NULL,
	visit_id TEXT NOT NULL DEFAULT '',
	state    BLOB NOT NULL
);
CREATE INDEX records_case ON records(case_id, id);
CREATE INDEX records_visit ON records(visit_id) WHERE visit_id <> '';
CREATE INDEX records_type ON records(type);

-- Changes not yet confirmed by a pull, in device_seq order. field_names is ",name,name," so an
-- edit finds the newest entry for the same field without decoding changes. server_seq is 0
-- until the server acknowledges the change, then the commit that covers it; the entry goes when
-- the pull cursor reaches that commit. bases holds the merge base of each text field set.
CREATE TABLE outbox (
	seq         INTEGER PRIMARY KEY,
	record_id   TEXT NOT NULL,
	field_names TEXT NOT NULL,
	change      BLOB NOT NULL,
	bases       BLOB,
	server_seq  INTEGER NOT NULL DEFAULT 0,
	created_ms  INTEGER NOT NULL
);
CREATE INDEX outbox_record ON outbox(record_id, seq);
CREATE INDEX outbox_acked ON outbox(server_seq) WHERE server_seq > 0;

-- Changes the server refused, with its reason, kept for a person to see.
CREATE TABLE dead_letters (
	seq       INTEGER PRIMARY KEY,
	record_id TEXT NOT NULL,
	change    BLOB NOT NULL,
	reason    TEXT NOT NULL,
	at_ms     INTEGER NOT NULL
);
