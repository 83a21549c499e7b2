-- Changes the server acknowledged and a pull confirmed, kept for a while (Options.KeepAcknowledged,
-- default 7 days) so that a server restored from an older backup gets them back: the tablet sends
-- again every kept change numbered after the highest one the restored server holds. change is
-- sealed with the data key bound to its seq, like the outbox's ('change|<seq>'). They go when
-- their time is over, when their case leaves the tablet, and when their report's text is purged.
-- bases are the entry's merge bases as in the outbox ('bases|<seq>'), so a change sent again
-- shows on the tablet as it did when it was written.
CREATE TABLE acknowledged (
	seq          INTEGER PRIMARY KEY,
	record_id    TEXT NOT NULL,
	change       BLOB NOT NULL,
	bases        BLOB,
	server_seq   INTEGER NOT NULL,
	confirmed_ms INTEGER NOT NULL
);
CREATE INDEX acknowledged_record ON acknowledged(record_id);
CREATE INDEX acknowledged_confirmed ON acknowledged(confirmed_ms);
