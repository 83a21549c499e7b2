package pgdb

import "testing"

func TestRebindNumbersPlaceholdersOutsideQuotesAndComments(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT a FROM t WHERE b = ? AND c IN (?, ?)", "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)"},
		{"SELECT '?' FROM t WHERE b = ?", "SELECT '?' FROM t WHERE b = $1"},
		{`SELECT "odd?name" FROM t WHERE b = ?`, `SELECT "odd?name" FROM t WHERE b = $1`},
		{"SELECT 1 -- what?\nWHERE b = ?", "SELECT 1 -- what?\nWHERE b = $1"},
		{"SELECT 'it''s ?' WHERE b = ?", "SELECT 'it''s ?' WHERE b = $1"},
		{"UPDATE t SET a = ? -- trailing?", "UPDATE t SET a = $1 -- trailing?"},
	} {
		if got := Rebind(tc.in); got != tc.want {
			t.Errorf("Rebind(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactLeavesThePasswordOut(t *testing.T) {
	if got := Redact("postgres://samvaer:hemmelig@db.example:5432/samvaer"); got != "postgres://samvaer:xxxxx@db.example:5432/samvaer" {
		t.Fatalf("Redact: %q", got)
	}
}
