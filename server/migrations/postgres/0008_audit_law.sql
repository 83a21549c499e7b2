-- The access log as the law reads it, sign-in blocking, and retention.

-- An entry's purpose is sealed (an envelope, AD audit_log.purpose|<id>): it is a person's own
-- words. The purpose column stays for entries written before, and is '' from now on. mac is
-- HMAC-SHA256 of the entry's hash under the audit key, which the database does not hold.
ALTER TABLE audit_log ADD COLUMN purpose_sealed BYTEA;
ALTER TABLE audit_log ADD COLUMN mac BYTEA;

-- Failed sign-ins are counted per account name as typed (so an unknown name is blocked exactly
-- like a known one and the block tells nothing) and per address. user_id stays for old rows.
ALTER TABLE sign_in_failures ADD COLUMN account TEXT NOT NULL DEFAULT '';
ALTER TABLE sign_in_failures ADD COLUMN address TEXT NOT NULL DEFAULT '';
CREATE INDEX sign_in_failures_account ON sign_in_failures(account, at_ms);
CREATE INDEX sign_in_failures_address ON sign_in_failures(address, at_ms);

-- When a report first left the server (PDF export, the parents' copy): retention deletes a
-- report only after it was acknowledged and exported.
CREATE TABLE report_exports (
	report_id   TEXT PRIMARY KEY,
	case_id     TEXT NOT NULL,
	exported_ms BIGINT NOT NULL
);
