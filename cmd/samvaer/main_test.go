package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samvaer/sync/syncer"
)

// cli runs the samvaer command as a person would, in-process.
type cli struct {
	t *testing.T
}

func (c cli) run(stdin string, args ...string) (string, error) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), err
}

func (c cli) must(args ...string) string {
	c.t.Helper()
	out, err := c.run("", args...)
	if err != nil {
		c.t.Fatalf("samvaer %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func (c cli) json(args ...string) map[string]any {
	c.t.Helper()
	var v map[string]any
	out := c.must(args...)
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		c.t.Fatalf("samvaer %s: not JSON: %s", strings.Join(args, " "), out)
	}
	return v
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitForServer waits until the server answers its health check.
func waitForServer(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Post("http://"+addr+"/grpc.health.v1.Health/Check", "application/json", strings.NewReader("{}"))
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the server did not start within 30 s")
}

// The README's walk-through in Go, command by command, with more checks between the steps than the
// README shows (TestREADMEWalkThroughRunsAsWritten runs the README's own lines): serve, admin,
// enroll, offline capture, sync, equal digests on both ends, key rotation, PIN change, wipe, loss.
func TestWalkThrough(t *testing.T) {
	c := cli{t}
	dir := t.TempDir()
	data, home := filepath.Join(dir, "data"), filepath.Join(dir, "tablet")
	addr := freeAddr(t)
	t.Setenv("SAMVAER_PIN", "4711")
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- (&ServeCommand{Stderr: &bytes.Buffer{}}).Run(ctx, []string{"--data", data, "--listen", addr})
	}()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	waitForServer(t, addr)

	admin := []string{"admin", "--data", data, "--json"}
	c.must(append(admin, "user", "add", "--name", "sara", "--role", "caseworker")...)
	c.must(append(admin, "user", "add", "--name", "kim", "--role", "consultant")...)
	caseID := c.json(append(admin, "case", "add", "--child", "Ida", "--child", "Emil", "--parent", "Mette", "--caseworker", "sara", "--reference", "2026-0042")...)["id"].(string)
	day := time.Now().AddDate(0, 0, 1).Format(time.DateOnly) // tomorrow, as in the README
	visitID := c.json(append(admin, "visit", "add", "--case", caseID, "--consultant", "kim", "--kind", "supervised",
		"--start", day+" 10:00", "--end", day+" 12:00", "--place", "Rum 2")...)["id"].(string)
	code := c.json(append(admin, "device", "enroll", "--user", "kim")...)["code"].(string)

	tablet := []string{"tablet", "--home", home}
	c.must(append(tablet, "enroll", "--server", "http://"+addr, "--code", code, "--name", "iPad 3")...)
	if _, err := c.run("", append(tablet, "enroll", "--server", "http://"+addr, "--code", code, "--name", "iPad 3")...); err == nil {
		t.Fatal("enrolling twice must be refused")
	}
	c.must(append(tablet, "sync")...)
	if out := c.must(append(tablet, "visits")...); !strings.Contains(out, visitID) || !strings.Contains(out, "room_ready") || !strings.Contains(out, "(2026-0042)") {
		t.Fatalf("visits does not show the visit and its checklist:\n%s", out)
	}
	c.must(append(tablet, "check", visitID[:8], "room_ready")...)
	c.must(append(tablet, "observe", visitID, "Ida", "runs", "to", "her", "mother.")...)
	if _, err := c.run("Mother arrives on time.\n", append(tablet, "report", "set", visitID, "opening", "-")...); err != nil {
		t.Fatal(err)
	}
	if _, err := c.run("", append(tablet, "report", "set", visitID, "gossip", "x")...); err == nil {
		t.Fatal("an unknown section must be refused")
	}
	if _, err := c.run("", append(tablet, "check", visitID, "no_such_item")...); err == nil {
		t.Fatal("an unknown checklist item must be refused")
	}
	st := c.json(append(tablet, "--json", "status")...)
	if st["pending"].(float64) != 3 {
		t.Fatalf("status %v; want 3 pending", st)
	}
	// The tablet's flags in any position too.
	for _, line := range [][]string{{"--json", "tablet", "status", "--home", home}, {"tablet", "status", "--json", "--home", home}} {
		if st := c.json(line...); st["pending"].(float64) != 3 {
			t.Fatalf("samvaer %s: %v", strings.Join(line, " "), st)
		}
	}
	c.must(append(tablet, "sync")...)
	st = c.json(append(tablet, "--json", "status")...)
	if st["pending"].(float64) != 0 {
		t.Fatalf("status after sync %v", st)
	}
	out := c.must(append(tablet, "visits")...)
	for _, want := range []string{"[x] room_ready", "Ida runs to her mother.", "opening: Mother arrives on time."} {
		if !strings.Contains(out, want) {
			t.Fatalf("visits lacks %q:\n%s", want, out)
		}
	}
	tabletDigest := strings.TrimSpace(c.must(append(tablet, "digest", caseID)...))
	serverDigest := strings.TrimSpace(c.must("admin", "--data", data, "digest", caseID))
	if tabletDigest != serverDigest || len(tabletDigest) != 64 {
		t.Fatalf("digests differ: tablet %s, server %s", tabletDigest, serverDigest)
	}
	// The digest is for a holder: kim's devices hold what a consultant's do; a caseworker's hold
	// nothing of the case.
	if d := strings.TrimSpace(c.must("admin", "--data", data, "digest", caseID, "--user", "kim")); d != tabletDigest {
		t.Fatalf("the digest for kim %s, kim's tablet %s", d, tabletDigest)
	}
	for _, args := range [][]string{{"--role", "caseworker"}, {"--user", "sara"}} {
		if d := strings.TrimSpace(c.must(append([]string{"admin", "--data", data, "digest", caseID}, args...)...)); d == tabletDigest || len(d) != 64 {
			t.Fatalf("the digest %v is %s", args, d)
		}
	}
	if _, err := c.run("", "admin", "--data", data, "digest", caseID, "--role", "admin"); err == nil {
		t.Fatal("a digest for a role that holds no case part must be refused")
	}
	devices := c.must("admin", "--data", data, "device", "list")
	if !strings.Contains(devices, "iPad 3") || !strings.Contains(devices, "active") {
		t.Fatalf("device list:\n%s", devices)
	}
	backup := filepath.Join(dir, "backup.db")
	c.must("admin", "--data", data, "backup", backup)
	if fi, err := os.Stat(backup); err != nil || fi.Size() == 0 {
		t.Fatalf("backup: %v", err)
	}

	// Key rotation on the server's data directory while it runs: old values keep opening, the
	// old key cannot be retired until everything is re-wrapped, and then it can.
	var keys []map[string]any
	if err := json.Unmarshal([]byte(c.must("admin", "--data", data, "--json", "keys", "list")), &keys); err != nil || len(keys) != 1 {
		t.Fatalf("keys list: %v %v", keys, err)
	}
	oldKID := keys[0]["id"].(string)
	c.must("admin", "--data", data, "keys", "rotate")
	if d := strings.TrimSpace(c.must("admin", "--data", data, "digest", caseID)); d != serverDigest {
		t.Fatal("the digest changed after a key rotation")
	}
	if _, err := c.run("", "admin", "--data", data, "keys", "retire", oldKID); err == nil {
		t.Fatal("retired a key still in use")
	}
	c.must("admin", "--data", data, "keys", "rewrap")
	c.must("admin", "--data", data, "keys", "retire", oldKID)
	c.must(append(tablet, "observe", visitID, "after", "rotation")...)
	c.must(append(tablet, "sync")...)
	if a, b := strings.TrimSpace(c.must(append(tablet, "digest", caseID)...)), strings.TrimSpace(c.must("admin", "--data", data, "digest", caseID)); a != b {
		t.Fatal("digests differ after rotation, re-wrap and retire")
	}
	serverDigest = strings.TrimSpace(c.must("admin", "--data", data, "digest", caseID))

	// A new PIN opens the same data; the old one no longer does (and counts as a wrong PIN).
	t.Setenv("SAMVAER_NEW_PIN", "12")
	if _, err := c.run("", append(tablet, "pin")...); err == nil || !strings.Contains(err.Error(), "at least 4") {
		t.Fatalf("a 2-character PIN: %v", err)
	}
	t.Setenv("SAMVAER_NEW_PIN", "8642")
	c.must(append(tablet, "pin")...)
	if _, err := c.run("", append(tablet, "status")...); err == nil || !strings.Contains(err.Error(), "Wrong PIN") {
		t.Fatalf("the old PIN after a change: %v", err)
	}
	t.Setenv("SAMVAER_PIN", "8642")
	if d := strings.TrimSpace(c.must(append(tablet, "digest", caseID)...)); d != serverDigest {
		t.Fatal("the data changed with the PIN")
	}

	// Wipe asks first; --yes skips the question; nothing of the tablet is left.
	if _, err := c.run("no\n", append(tablet, "wipe")...); err == nil {
		t.Fatal("wipe went on without a yes")
	}

	// The tablet is lost with a change it never sent. An admin revokes it while the server runs;
	// at its next contact the tablet is refused, deletes everything, and confirms.
	c.must(append(tablet, "observe", visitID, "Never", "sent.")...)
	var listed []map[string]any
	if err := json.Unmarshal([]byte(c.must(append(admin, "device", "list")...)), &listed); err != nil || len(listed) != 1 {
		t.Fatalf("device list: %v", err)
	}
	deviceID := listed[0]["id"].(string)
	c.must("admin", "--data", data, "device", "revoke", deviceID, "--lost")
	_, err := c.run("", append(tablet, "sync")...)
	if err == nil || !strings.Contains(syncer.ErrorMessage(err), "enrolled again") {
		t.Fatalf("a lost tablet's sync: %v", err)
	}
	if _, err := os.Stat(home); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the lost tablet's home is still there: %v", err)
	}
	audit := c.must("admin", "--data", data, "audit", "list", "--device", deviceID)
	for _, want := range []string{"device.enrolled", "device.revoked", "device.wiped", `"unsent_changes_refused":"1"`} {
		if !strings.Contains(audit, want) {
			t.Fatalf("audit list lacks %s:\n%s", want, audit)
		}
	}
	if out := c.must("admin", "--data", data, "audit", "verify"); !strings.Contains(out, "intact") {
		t.Fatalf("audit verify: %s", out)
	}
}

func TestUsageErrorsAreSentences(t *testing.T) {
	c := cli{t}
	data := t.TempDir()
	for _, args := range [][]string{
		{"admin", "--data", data, "user", "add", "--name", "x", "--role", "janitor"},
		{"admin", "--data", data, "visit", "add", "--case", "nope", "--start", "tomorrow"},
		{"admin", "--data", data, "case", "add", "--caseworker", "nobody"},
		{"tablet", "--home", t.TempDir(), "visits"},
		{"frobnicate"},
	} {
		_, err := c.run("", args...)
		if err == nil || !strings.HasSuffix(strings.TrimSpace(err.Error()), ".") {
			t.Errorf("samvaer %s: %v; want a sentence", strings.Join(args, " "), err)
		}
	}
}
