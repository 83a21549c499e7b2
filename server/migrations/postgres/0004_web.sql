-- Browser sessions of caseworkers, coordinators and admins. Only a hash of the session token is
-- stored, so a copy of the database opens no session. csrf is the token every form must carry.
CREATE TABLE web_sessions (
	token_hash   BYTEA PRIMARY KEY,
	user_id      TEXT NOT NULL REFERENCES users(id),
	csrf         TEXT NOT NULL,
	created_ms   BIGINT NOT NULL,
	last_seen_ms BIGINT NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions(user_id);
