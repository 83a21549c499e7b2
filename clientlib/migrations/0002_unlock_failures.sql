-- Wrong PINs entered on this tablet (time only, no content), kept so they can be reported to the
-- server's audit log. The count of wrong PINs in a row is the meta key pin_failures.
CREATE TABLE unlock_failures (
	id    INTEGER PRIMARY KEY,
	at_ms INTEGER NOT NULL
);
