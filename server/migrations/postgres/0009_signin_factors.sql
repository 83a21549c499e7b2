-- A second factor for local accounts (TOTP with recovery codes), and OpenID Connect sign-in
-- (PostgreSQL; the same schema as ../0009_signin_factors.sql).

-- The person's subject at the municipality's identity provider (the configured claim, e.g. sub
-- or email), set by an admin; a sign-in through the provider is matched to a user by it.
ALTER TABLE users ADD COLUMN oidc_subject TEXT;
CREATE UNIQUE INDEX users_oidc_subject ON users(oidc_subject);

-- One authenticator app per user. secret is sealed (an envelope, AD
-- user_factors.totp_secret|<user_id>). confirmed_ms is 0 while enrolment waits for the first
-- code. last_step is the newest TOTP time step a code was accepted for: a code is used once.
CREATE TABLE user_factors (
	user_id      TEXT PRIMARY KEY REFERENCES users(id),
	secret       BYTEA NOT NULL,
	created_ms   BIGINT NOT NULL,
	confirmed_ms BIGINT NOT NULL DEFAULT 0,
	last_step    BIGINT NOT NULL DEFAULT 0
);

-- One-time recovery codes, stored only as a hash (they are random, 50 bits each).
CREATE TABLE recovery_codes (
	code_hash BYTEA PRIMARY KEY,
	user_id   TEXT NOT NULL REFERENCES users(id),
	used_ms   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX recovery_codes_user ON recovery_codes(user_id);

-- A browser session's stage: '' signed in; 'factor' the password was right and the second
-- factor is asked for; 'enrol' the person must set up a second factor before anything else.
ALTER TABLE web_sessions ADD COLUMN stage TEXT NOT NULL DEFAULT '';

-- Each counted sign-in attempt's own id, so a right password for an account with a second
-- factor can take back exactly its own count (the factor's step decides the sign-in).
ALTER TABLE sign_in_failures ADD COLUMN attempt TEXT NOT NULL DEFAULT '';
