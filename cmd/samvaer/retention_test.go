package main

import (
	"strings"
	"testing"
)

// admin retention run --dry-run counts what a run deletes, deletes nothing; the run deletes it,
// logs it, and the audit log still verifies.
func TestRetentionRunCommand(t *testing.T) {
	c := cli{t}
	data := t.TempDir()
	admin := []string{"admin", "--data", data, "--json"}
	c.must(append(admin, "user", "add", "--name", "sara", "--role", "caseworker")...)
	caseID := c.json(append(admin, "case", "add", "--child", "Ida", "--caseworker", "sara")...)["id"].(string)
	c.must("admin", "--data", data, "case", "close", caseID)

	for range 2 {
		if dry := c.json(append(admin, "retention", "run", "--dry-run", "--retention-cases", "1ms")...); dry["cases"] != 1.0 || dry["dry_run"] != true {
			t.Fatalf("dry run: %v", dry)
		}
	}
	if out := c.must("admin", "--data", data, "retention", "run", "--retention-cases", "1ms"); !strings.Contains(out, "Deleted 0 reports") || !strings.Contains(out, "1 closed cases") {
		t.Fatalf("run: %s", out)
	}
	if again := c.json(append(admin, "retention", "run", "--retention-cases", "1ms")...); again["cases"] != 0.0 {
		t.Fatalf("a second run: %v", again)
	}
	if out := c.must("admin", "--data", data, "audit", "list"); !strings.Contains(out, "retention.run") {
		t.Fatalf("the run is not in the audit log:\n%s", out)
	}
	c.must("admin", "--data", data, "audit", "verify")
	if _, err := c.run("", "admin", "--data", data, "retention", "run", "--retention-audit", "720h"); err == nil {
		t.Fatal("a month of audit log must be refused")
	}
}
