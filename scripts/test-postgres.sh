#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 with trust authentication for the
# PostgreSQL pass of `make test` (SAMVAER_TEST_POSTGRES), and that pg_dump and pg_restore are
# there (the restore tests use them). On a machine that has it running (the project's machines
# and CI do), it does nothing. Otherwise, as root, it installs PostgreSQL from Debian's packages,
# lets loopback connections in without a password (a test machine only) and starts it. It never
# leaves the tests to skip: if PostgreSQL cannot be made to answer, it fails.
set -euo pipefail

ready() { command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; }
# usable: the tests' user gets in without a password (the server may answer and still refuse it).
usable() { ready && psql "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable" -Atqc 'SELECT 1' >/dev/null 2>&1; }

if ! command -v pg_dump >/dev/null || ! command -v pg_restore >/dev/null || ! ready; then
	if ! command -v pg_ctlcluster >/dev/null || ! command -v pg_dump >/dev/null; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql postgresql-client
	fi
fi
if usable; then
	exit 0
fi
version=$(ls /etc/postgresql | sort -V | tail -1)
hba=/etc/postgresql/$version/main/pg_hba.conf
if ! grep -q "samvaer tests" "$hba"; then
	sed -i '1i # samvaer tests: loopback connections without a password (a test machine only)\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
fi
pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || pg_ctlcluster --skip-systemctl-redirect "$version" main reload
for _ in $(seq 100); do
	if usable; then
		exit 0
	fi
	sleep 0.2
done
echo "PostgreSQL does not let the tests in on 127.0.0.1:5432 (user postgres, no password); the PostgreSQL pass of make test needs it" >&2
exit 1
