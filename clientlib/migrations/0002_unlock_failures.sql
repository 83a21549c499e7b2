-- Wrong PINs entered on this tablet (time only, no content), kept until they are reported to the
-- server's audit log. The server logs each id of a device once, so an id is never used again after
-- its row is deleted: AUTOINCREMENT. The count of attempts is kept by the KeyProvider, not here.
CREATE TABLE unlock_failures (
	id    INTEGER PRIMARY KEY AUTOINCREMENT,
	at_ms INTEGER NOT NULL
);
