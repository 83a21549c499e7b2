package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/syncer"
)

// fails runs a command line that must fail and returns what main would print and its exit code.
func (c cli) fails(args ...string) (stderr string, code int) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	var asJSON bool
	err := execute(context.Background(), args, strings.NewReader(""), &out, &errOut, &asJSON)
	if err == nil {
		c.t.Fatalf("samvaer %s succeeded:\n%s", strings.Join(args, " "), out.String())
	}
	report(&errOut, err, asJSON)
	return errOut.String(), exitCode(err)
}

// An admin set up with two users and a case, on a data directory without a server.
func adminFixture(t *testing.T) (c cli, data, caseID string, childIDs []string) {
	t.Helper()
	c = cli{t}
	data = filepath.Join(t.TempDir(), "data")
	c.must("admin", "--data", data, "user", "add", "--name", "sara", "--role", "caseworker")
	c.must("admin", "--data", data, "user", "add", "--name", "kim", "--role", "consultant")
	created := c.json("admin", "--data", data, "--json", "case", "add", "--child", "Ida", "--child", "Emil", "--parent", "Mette",
		"--caseworker", "sara", "--reference", "2026-0042")
	for _, id := range created["child_ids"].([]any) {
		childIDs = append(childIDs, id.(string))
	}
	return c, data, created["id"].(string), childIDs
}

// --json is one flag of the whole command line: before or after the command, or at its end, every
// command that prints gives JSON — also the ones that printed text whatever was asked before.
func TestJSONAnywhereOnEveryPrintingCommand(t *testing.T) {
	c, data, caseID, kids := adminFixture(t)
	visit := c.json("admin", "--data", data, "--json", "visit", "add", "--case", caseID, "--consultant", "kim", "--kind", "supervised",
		"--start", "2030-11-28 10:00", "--end", "2030-11-28 12:00")["id"].(string)
	commands := [][]string{
		{"user", "list"}, {"case", "list"}, {"case", "show", caseID, "--purpose", "test"}, {"device", "list"},
		{"device", "enroll", "--user", "kim"}, {"report", "list"}, {"checklist", "show"}, {"audit", "list"},
		{"audit", "verify"}, {"audit", "export", "--child", kids[0]}, {"keys", "list"}, {"digest", caseID},
		{"visit", "reschedule", visit, "--start", "2030-11-29 10:00", "--end", "2030-11-29 12:00"},
	}
	for _, cmd := range commands {
		for _, line := range [][]string{
			append([]string{"--json", "admin", "--data", data}, cmd...),
			append(append([]string{"admin", "--data", data}, cmd[:1]...), append([]string{"--json"}, cmd[1:]...)...),
			append(append([]string{"admin"}, cmd...), "--data", data, "--json"),
		} {
			out := c.must(line...)
			if !json.Valid([]byte(out)) {
				t.Errorf("samvaer %s: not JSON:\n%s", strings.Join(line, " "), out)
			}
		}
	}
	for i, line := range [][]string{{"--json", "admin", "--data", data, "backup"}, {"admin", "backup", "--json", "--data", data}} {
		if out := c.must(append(line, filepath.Join(t.TempDir(), "b.db"))...); !json.Valid([]byte(out)) {
			t.Errorf("backup %d: not JSON:\n%s", i, out)
		}
	}
}

// A mistake is one sentence and a one-line hint, not the whole usage, with the documented exit
// code; with --json the error is JSON too.
func TestErrorsComeFirstWithAHintAndTheirExitCode(t *testing.T) {
	c, data, caseID, _ := adminFixture(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"admin", "--data", data, "frobnicate"}, 2, `Unknown command "frobnicate" for 'samvaer admin'`},
		{[]string{"admin", "--data", data, "user", "ad"}, 2, "did you mean add?"},
		{[]string{"admin", "--data", data, "user", "add", "--nmae", "x"}, 2, "Unknown flag: --nmae."},
		{[]string{"admin", "--data", data, "digest"}, 2, "'samvaer admin digest' needs CASE."},
		{[]string{"tablet", "--home", t.TempDir(), "observe", "v"}, 2, "needs TEXT"},
		{[]string{"admin", "--data", data, "digest", "2099-0001"}, 3, `No case matches "2099-0001"`},
		{[]string{"admin", "--data", data, "case", "add", "--child", "X", "--caseworker", "sara", "--reference", "2026-0042"}, 5, "already has the reference"},
		{[]string{"tablet", "--home", t.TempDir(), "visits"}, 5, "not enrolled"},
		{[]string{"admin", "--data", data, "--tz", "Mars/Olympus", "user", "list"}, 2, "Unknown time zone"},
	} {
		stderr, code := c.fails(tc.args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != tc.code || !strings.HasPrefix(lines[0], "samvaer: ") || !strings.Contains(lines[0], tc.want) || len(lines) > 2 ||
			strings.Contains(stderr, "Usage:") {
			t.Errorf("samvaer %s: exit %d (want %d)\n%s", strings.Join(tc.args, " "), code, tc.code, stderr)
		}
		if tc.code == 2 && (len(lines) != 2 || !strings.HasPrefix(lines[1], "Run 'samvaer") || !strings.HasSuffix(lines[1], "--help' for its usage.")) {
			t.Errorf("samvaer %s: no hint to the help:\n%s", strings.Join(tc.args, " "), stderr)
		}
	}
	stderr, code := c.fails("admin", "--data", data, "--json", "case", "close", caseID+"x")
	var v struct {
		Error struct {
			Code     string `json:"code"`
			Message  string `json:"message"`
			ExitCode int    `json:"exit_code"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(stderr), &v); err != nil || v.Error.Code != "not_found" || v.Error.ExitCode != code || code != 3 {
		t.Fatalf("an error with --json: %v %q", err, stderr)
	}
	if out := c.must("admin", "--help"); !strings.Contains(out, "Available Commands:") || !strings.Contains(out, "--data") {
		t.Fatalf("generated help:\n%s", out)
	}
}

// People and cases are named as people name them: a user by name or id prefix, a case by its
// reference or id prefix, a device by the name chosen at enrollment. An ambiguous name is an
// error listing the candidates by id and a label that holds no child's name.
func TestNamesReferencesAndPrefixes(t *testing.T) {
	c, data, caseID, kids := adminFixture(t)
	admin := []string{"admin", "--data", data}
	users := map[string]string{}
	var list []server.User
	if err := json.Unmarshal([]byte(c.must(append(admin, "--json", "user", "list")...)), &list); err != nil {
		t.Fatal(err)
	}
	for _, u := range list {
		users[u.Name] = u.ID
	}
	// A visit for the case named by its reference, for a consultant named by an id prefix.
	visit := c.json(append(admin, "--json", "visit", "add", "--case", "2026-0042", "--consultant", users["kim"][:13], "--kind", "supervised",
		"--start", "2030-11-28 10:00", "--end", "2030-11-28 12:00")...)["id"].(string)
	var reports []server.Report
	if err := json.Unmarshal([]byte(c.must(append(admin, "--json", "report", "list", "--case", "2026-0042")...)), &reports); err != nil ||
		len(reports) != 1 || reports[0].CaseID != caseID || reports[0].VisitID != visit {
		t.Fatalf("report list of the case by its reference: %v %+v", err, reports)
	}
	if a, b := c.must(append(admin, "digest", "2026-0042")...), c.must(append(admin, "digest", caseID[:12])...); a != b || a != c.must(append(admin, "digest", caseID)...) {
		t.Fatal("the digest of one case by reference, prefix and id differ")
	}
	c.must(append(admin, "visit", "cancel", visit[:18])...)

	// case show names the children with their ids, and the read is in the access log.
	if _, err := c.run("", append(admin, "case", "show", "2026-0042")...); err == nil || !strings.Contains(err.Error(), "purpose") {
		t.Fatalf("case show without a purpose: %v", err)
	}
	shown := c.must(append(admin, "case", "show", "2026-0042", "--purpose", "insight request")...)
	for _, want := range []string{kids[0] + "  Ida", kids[1] + "  Emil", "sara", "caseworker", "2026-0042"} {
		if !strings.Contains(shown, want) {
			t.Fatalf("case show lacks %q:\n%s", want, shown)
		}
	}
	if exp := c.must(append(admin, "audit", "export", "--child", kids[0][:len(kids[0])-3])...); !strings.Contains(exp, "insight request") {
		t.Fatalf("the case show read is not in the child's export:\n%s", exp)
	}

	// Two cases whose ids share a prefix: the prefix is ambiguous. Ids are time-ordered (UUIDv7),
	// so cases made together share their first characters.
	c.must(append(admin, "case", "add", "--child", "Sofie", "--caseworker", "sara", "--reference", "2026-0043")...)
	var cases []server.CaseSummary
	if err := json.Unmarshal([]byte(c.must(append(admin, "--json", "case", "list")...)), &cases); err != nil || len(cases) != 2 {
		t.Fatal(err)
	}
	prefix := commonPrefix(cases[0].ID, cases[1].ID)
	if len(prefix) >= 4 {
		_, err := c.run("", append(admin, "digest", prefix)...)
		msg := syncer.ErrorMessage(err)
		if syncer.ErrorCode(err) != syncer.CodeInvalid || !strings.Contains(msg, cases[0].ID+" (2026-0042)") || !strings.Contains(msg, cases[1].ID+" (2026-0043)") {
			t.Fatalf("an ambiguous case prefix: %v", err)
		}
	}
	// A child is found by its id or prefix only; what is typed there is never repeated, since it
	// may be a child's name.
	_, err := c.run("", append(admin, "audit", "export", "--child", "Sofie")...)
	if syncer.ErrorCode(err) != syncer.CodeNotFound || strings.Contains(err.Error(), "Sofie") {
		t.Fatalf("a child by name: %v", err)
	}
	// Users by name and prefix in the other commands too.
	c.must(append(admin, "case", "assign", "2026-0043", "--user", users["kim"][:13], "--role", "consultant")...)
	if out := c.must(append(admin, "user", "disable", users["kim"][:13])...); !strings.Contains(out, "kim is disabled") {
		t.Fatalf("user disable by prefix: %s", out)
	}
}

func commonPrefix(a, b string) string {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return a[:n]
}

// Text output shows times in the one configured zone (Europe/Copenhagen unless --tz or
// SAMVAER_TZ says otherwise) in Danish; JSON keeps Unix milliseconds.
func TestTimesInTheConfiguredZone(t *testing.T) {
	c, data, caseID, _ := adminFixture(t)
	admin := []string{"admin", "--data", data}
	// 09:00 UTC on a winter Saturday is 10.00 in Copenhagen.
	c.must(append(admin, "visit", "add", "--case", caseID, "--consultant", "kim", "--kind", "supervised",
		"--start", "2030-11-30T09:00:00Z", "--end", "2030-11-30T11:00:00Z")...)
	t.Setenv(zoneEnv, "")
	if out := c.must(append(admin, "report", "list")...); !strings.Contains(out, "lør. 30. nov. 2030 kl. 10.00") {
		t.Fatalf("report list in the default zone:\n%s", out)
	}
	if out := c.must(append(admin, "report", "list", "--tz", "UTC")...); !strings.Contains(out, "lør. 30. nov. 2030 kl. 09.00") {
		t.Fatalf("report list with --tz UTC:\n%s", out)
	}
	t.Setenv(zoneEnv, "America/New_York")
	if out := c.must(append(admin, "report", "list")...); !strings.Contains(out, "lør. 30. nov. 2030 kl. 04.00") {
		t.Fatalf("report list with %s:\n%s", zoneEnv, out)
	}
	// A time typed without an offset is read in the display zone.
	t.Setenv(zoneEnv, "")
	c.must(append(admin, "visit", "add", "--case", caseID, "--consultant", "kim", "--kind", "supervised",
		"--start", "2030-06-01 10:00", "--end", "2030-06-01 11:00")...)
	var reports []server.Report
	if err := json.Unmarshal([]byte(c.must(append(admin, "report", "list", "--json")...)), &reports); err != nil || len(reports) != 2 {
		t.Fatal(err)
	}
	want := map[int64]bool{time.Date(2030, 11, 30, 9, 0, 0, 0, time.UTC).UnixMilli(): true, time.Date(2030, 6, 1, 8, 0, 0, 0, time.UTC).UnixMilli(): true}
	for _, r := range reports {
		if !want[r.VisitStartMs] {
			t.Fatalf("visit start %d in JSON; want one of %v", r.VisitStartMs, want)
		}
	}
}
