package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// From `visit add` to an acknowledged report: the consultant's command-line tablet writes and
// submits the report, the caseworker reads and acknowledges it through the RPC API on her own
// enrolled device, and every read is in the access log the child's parents may ask for.
func TestReportFromVisitToAcknowledgement(t *testing.T) {
	t.Setenv("SAMVAER_PIN", "4711") // both tablets' PIN, as a script would set it
	c := cli{t}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	kimHome, saraHome := filepath.Join(dir, "kim"), filepath.Join(dir, "sara")
	addr := freeAddr(t)
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
	sara := c.json(append(admin, "user", "add", "--name", "sara", "--role", "caseworker")...)["id"].(string)
	c.must(append(admin, "user", "add", "--name", "kim", "--role", "consultant")...)
	created := c.json(append(admin, "case", "add", "--child", "Ida", "--parent", "Mette", "--caseworker", "sara",
		"--placement", "Plejefamilien")...)
	caseID := created["id"].(string)
	childID := created["child_ids"].([]any)[0].(string)
	c.must(append(admin, "case", "conditions", "--case", caseID, "--text", "No talk about the placement.")...)
	visitID := c.json(append(admin, "visit", "add", "--case", caseID, "--consultant", "kim", "--kind", "supervised",
		"--start", "2026-11-28T10:00:00+01:00", "--end", "2026-11-28T12:00:00+01:00", "--room", "Rum 2")...)["id"].(string)
	if _, err := c.run("", append(admin, "visit", "add", "--case", caseID, "--consultant", "kim", "--kind", "supervised",
		"--start", "2026-11-28T11:00:00+01:00", "--end", "2026-11-28T13:00:00+01:00", "--room", "Rum 2")...); err == nil ||
		!strings.Contains(err.Error(), "Rum 2") {
		t.Fatalf("a double booking of Rum 2: %v", err)
	}

	kim := []string{"tablet", "--home", kimHome}
	code := c.json(append(admin, "device", "enroll", "--user", "kim")...)["code"].(string)
	c.must(append(kim, "enroll", "--server", "http://"+addr, "--code", code, "--name", "Kim iPad")...)
	c.must(append(kim, "sync")...)
	if out := c.must(append(kim, "case", caseID)...); !strings.Contains(out, "No talk about the placement.") || !strings.Contains(out, childID) {
		t.Fatalf("the case on the tablet:\n%s", out)
	}
	c.must(append(kim, "start", visitID)...)
	c.must(append(kim, "present", visitID, "Mette: mother; Ida: child")...)
	c.must(append(kim, "end", visitID)...)
	c.must(append(kim, "report", "set", visitID, "opening", "Mother arrives on time.")...)
	c.must(append(kim, "submit", visitID)...)
	if _, err := c.run("", append(kim, "report", "set", visitID, "ending", "later")...); err == nil || !strings.Contains(err.Error(), "addendum") {
		t.Fatalf("an edit after submitting: %v", err)
	}
	c.must(append(kim, "sync")...)
	if rejected := c.must(append(kim, "--json", "rejected")...); strings.TrimSpace(rejected) != "null" {
		t.Fatalf("rejected changes: %s", rejected)
	}

	var reports []map[string]any
	list := func() map[string]any {
		t.Helper()
		out := c.must("admin", "--data", data, "report", "list", "--case", caseID, "--json")
		if err := json.Unmarshal([]byte(out), &reports); err != nil || len(reports) != 1 {
			t.Fatalf("report list: %v %v", reports, err)
		}
		return reports[0]
	}
	r := list()
	reportID := r["id"].(string)
	if r["state"] != "submitted" || r["visit_id"] != visitID || r["recipients"].([]any)[0] != sara || r["conditions_id"] == "" {
		t.Fatalf("after submitting: %v", r)
	}

	// The caseworker's device: inbox, read, acknowledge — all through the RPC API.
	saraT := []string{"tablet", "--home", saraHome, "--json"}
	code = c.json(append(admin, "device", "enroll", "--user", "sara")...)["code"].(string)
	c.must(append(saraT, "enroll", "--server", "http://"+addr, "--code", code, "--name", "Sara iPad")...)
	if _, err := c.run("", append(saraT, "inbox")...); err == nil || !strings.Contains(err.Error(), "purpose") {
		t.Fatalf("an inbox without a purpose: %v", err)
	}
	inbox := c.must(append(saraT, "inbox", "--purpose", "weekly review", "--filter", "new")...)
	if !strings.Contains(inbox, reportID) {
		t.Fatalf("inbox:\n%s", inbox)
	}
	read := c.must(append(saraT, "read", reportID, "--purpose", "prepare the follow-up meeting")...)
	if !strings.Contains(read, "Mother arrives on time.") {
		t.Fatalf("read:\n%s", read)
	}
	if _, err := c.run("", append(kim, "acknowledge", reportID)...); err == nil {
		t.Fatal("a consultant acknowledged a report")
	}
	c.must(append(saraT, "acknowledge", reportID)...)
	if r := list(); r["state"] != "acknowledged" || r["acknowledged_by"] != sara {
		t.Fatalf("after acknowledging: %v", r)
	}

	// A correction after the fact is an addendum; the report itself stays as it was.
	c.must(append(kim, "addendum", visitID, "The visit ended at 11:50, not 12:00.")...)
	c.must(append(kim, "sync")...)
	read = c.must(append(saraT, "read", reportID, "--purpose", "check the correction")...)
	if !strings.Contains(read, "11:50") || !strings.Contains(read, "Mother arrives on time.") {
		t.Fatalf("read after the addendum:\n%s", read)
	}

	var export struct {
		Entries []struct {
			AtMs    int64  `json:"at_ms"`
			Purpose string `json:"purpose"`
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(c.must(append(admin, "audit", "export", "--child", childID)...)), &export); err != nil {
		t.Fatal(err)
	}
	var purposes []string
	for _, e := range export.Entries {
		if e.AtMs == 0 {
			t.Fatalf("an entry without a time: %+v", export)
		}
		purposes = append(purposes, e.Purpose)
	}
	if got := strings.Join(purposes, "|"); got != "weekly review|prepare the follow-up meeting|check the correction" {
		t.Fatalf("access log purposes: %s", got)
	}
	if text := c.must("admin", "--data", data, "audit", "export", "--child", childID); !strings.Contains(text, "prepare the follow-up meeting") || strings.Contains(text, "Ida") {
		t.Fatalf("text export:\n%s", text)
	}
}
