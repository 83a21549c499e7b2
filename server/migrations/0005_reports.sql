-- Reports, cases and their delivery (issue 5). Times are integer Unix milliseconds.

-- Every time a person reads a case or a report through the server: who, when, what, which case
-- and the purpose they gave. A child's parents may ask for the entries about the child (dates and
-- purposes). what names a record by type and id, never by what it holds.
CREATE TABLE access_log (
	id        INTEGER PRIMARY KEY,
	at_ms     INTEGER NOT NULL,
	user_id   TEXT NOT NULL,
	device_id TEXT NOT NULL,
	case_id   TEXT NOT NULL,
	what      TEXT NOT NULL,
	purpose   TEXT NOT NULL
);
CREATE INDEX access_log_case ON access_log(case_id, at_ms);

-- Versions of the checklist template new visits start with (version 0 is the built-in default).
-- A visit keeps the version it started with. items is JSON: [{phase, key, label}]; labels are
-- working instructions a coordinator wrote, about no one.
CREATE TABLE checklist_templates (
	version    INTEGER PRIMARY KEY,
	items      TEXT NOT NULL,
	created_ms INTEGER NOT NULL,
	created_by TEXT NOT NULL
);
