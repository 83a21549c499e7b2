-- (PostgreSQL; the same schema as ../0011_oidc_flows.sql.) Sign-ins through the identity provider under way (server/oidcflows.go): kept in the database,
-- not in one server's memory, so the provider's answer may reach any instance. state_hash is
-- SHA-256 of the state the person's browser carries; secret is the flow's nonce and PKCE verifier,
-- sealed (an envelope, AD oidc_flows.secret|<hex state hash>). A row is taken once, and rows past
-- expires_ms are removed when the next sign-in starts.
CREATE TABLE oidc_flows (
	state_hash BYTEA PRIMARY KEY,
	secret     BYTEA NOT NULL,
	expires_ms BIGINT NOT NULL
);
CREATE INDEX oidc_flows_expires ON oidc_flows(expires_ms);
