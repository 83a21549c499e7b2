-- Wrong-PIN ids are reported to the server, which logs each id of a device once: an id must never
-- be used again after its row is deleted, so the table takes AUTOINCREMENT.
CREATE TABLE unlock_failures_new (
	id    INTEGER PRIMARY KEY AUTOINCREMENT,
	at_ms INTEGER NOT NULL
);
INSERT INTO unlock_failures_new (id, at_ms) SELECT id, at_ms FROM unlock_failures;
DROP TABLE unlock_failures;
ALTER TABLE unlock_failures_new RENAME TO unlock_failures;
