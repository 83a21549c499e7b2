package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// The admin commands of scope, users and the audit log, as an admin types them.
func TestScopeUserAndAuditCommands(t *testing.T) {
	c := cli{t}
	data := t.TempDir()
	admin := []string{"admin", "--data", data, "--json"}
	c.must(append(admin, "user", "add", "--name", "sara", "--role", "caseworker")...)
	c.must(append(admin, "user", "add", "--name", "cora", "--role", "coordinator")...)
	caseID := c.json(append(admin, "case", "add", "--child", "Ida", "--caseworker", "sara")...)["id"].(string)

	c.must("admin", "--data", data, "case", "assign", caseID, "--user", "cora", "--role", "coordinator")
	if _, err := c.run("", "admin", "--data", data, "case", "assign", caseID, "--user", "cora", "--role", "caseworker"); err == nil {
		t.Fatal("assigning a role the user does not hold must be refused")
	}
	c.must("admin", "--data", data, "case", "unassign", "--user", "cora", caseID)
	c.must("admin", "--data", data, "case", "close", caseID)
	if _, err := c.run("", "admin", "--data", data, "case", "assign", caseID, "--user", "cora", "--role", "coordinator"); err == nil {
		t.Fatal("assigning to a closed case must be refused")
	}

	if out := c.must("admin", "--data", data, "user", "disable", "cora"); !strings.Contains(out, "disabled") {
		t.Fatalf("user disable: %s", out)
	}
	c.must("admin", "--data", data, "user", "enable", "cora")
	if _, err := c.run("too short\n", "admin", "--data", data, "user", "password", "cora"); err == nil {
		t.Fatal("a short password must be refused")
	}
	if _, err := c.run("a password long enough\n", "admin", "--data", data, "user", "password", "cora"); err != nil {
		t.Fatal(err)
	}
	c.must("admin", "--data", data, "keys", "rotate-signing")

	var entries []map[string]any
	if err := json.Unmarshal([]byte(c.must(append(admin, "audit", "list", "--case", caseID)...)), &entries); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range entries {
		kinds = append(kinds, e["kind"].(string))
	}
	if strings.Join(kinds, " ") != "case.changed case.assigned case.unassigned case.closed" {
		t.Fatalf("the case's audit entries: %v", kinds)
	}
	byUser := c.must("admin", "--data", data, "audit", "list", "--since", "2000-01-01", "--until", "2999-01-01")
	for _, want := range []string{"user.disabled", "user.enabled", "user.password_set", "keys.rotated"} {
		if !strings.Contains(byUser, want) {
			t.Fatalf("audit list lacks %s:\n%s", want, byUser)
		}
	}
	if strings.Contains(byUser, "a password long enough") || strings.Contains(byUser, "Ida") {
		t.Fatal("the audit log shows a password or a child's name")
	}
	if out := c.must("admin", "--data", data, "audit", "list", "--until", "2000-01-01"); strings.Count(out, "\n") != 1 {
		t.Fatalf("entries before 2000:\n%s", out)
	}
	if _, err := c.run("", "admin", "--data", data, "audit", "list", "--since", "yesterday"); err == nil {
		t.Fatal("a malformed time must be refused")
	}
	if out := c.must("admin", "--data", data, "audit", "verify"); !strings.Contains(out, "intact") {
		t.Fatalf("audit verify: %s", out)
	}
}
