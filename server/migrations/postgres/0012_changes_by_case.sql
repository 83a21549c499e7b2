-- A pull reads the log after its cursor in the cases the device holds (server/pull.go, logPage).
-- Without this index it walked every case's changes since the cursor: at 1,000 tablets in 100
-- cases that read was about half of the server's CPU (docs/benchmarks.md, "Load test"). Partial,
-- as the pull reads only changes with an effect; (case_id, seq) holds the seqs a page needs, so
-- a page of several cases sorts numbers, not the effects.
CREATE INDEX changes_case_seq ON changes(case_id, seq) WHERE effect IS NOT NULL;
