-- Wrong PINs are logged once per (device, failure id), by the ids themselves rather than by the
-- highest id a device reported (devices.unlock_failures_reported, no longer read): a tablet
-- restored from an older copy of its home numbered new failures under ids the server had logged
-- already, and they were dropped as duplicates. Tablets now give each failure a random id, and a
-- failure is logged when its id is not here (ReportUnlockFailures). Seeded with every failure
-- already in the audit log, so a report sent again after this migration logs nothing twice.
CREATE TABLE unlock_failures_logged (
	device_id  TEXT NOT NULL,
	failure_id INTEGER NOT NULL,
	PRIMARY KEY (device_id, failure_id)
) WITHOUT ROWID;

INSERT INTO unlock_failures_logged (device_id, failure_id)
	SELECT device_id, CAST(json_extract(detail, '$.tablet_failure_id') AS INTEGER)
	FROM audit_log
	WHERE kind = 'tablet.pin_failed' AND json_extract(detail, '$.tablet_failure_id') IS NOT NULL
	ON CONFLICT DO NOTHING;
