-- The highest wrong-PIN id each device has reported to the audit log (ReportUnlockFailures): a
-- report sent again, after its response was lost, logs nothing twice.
ALTER TABLE devices ADD COLUMN unlock_failures_reported BIGINT NOT NULL DEFAULT 0;
