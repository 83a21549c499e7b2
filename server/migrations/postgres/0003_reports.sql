-- Reports, cases and their delivery (issue 5). Times are integer Unix milliseconds.

-- Every time a person reads a case or a report through the server, the audit log gets an entry
-- of kind case.read: who, when, what (by type and id, never by what it holds), which case and the
-- purpose they gave. A child's parents may ask for the entries about the child.
CREATE INDEX audit_log_case ON audit_log(case_id, kind, id);

-- Versions of the checklist template new visits start with (version 0 is the built-in default).
-- A visit keeps the version it started with. items is JSON: [{phase, key, label}]; labels are
-- working instructions a coordinator wrote, about no one.
CREATE TABLE checklist_templates (
	version    BIGINT PRIMARY KEY,
	items      TEXT NOT NULL,
	created_ms BIGINT NOT NULL,
	created_by TEXT NOT NULL
);
