package server

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samvaer/sync/internal/seal"
	"github.com/samvaer/sync/syncer"
)

// A purpose is a person's own words: it is sealed in the database, readable through the store,
// and still verifies after the KEK is rotated and every envelope re-wrapped.
func TestAuditPurposeIsSealedAndSurvivesARewrap(t *testing.T) {
	f := newFixture(t)
	const marker = "MARKER-purpose weekly review of Ida"
	sara := f.caseworker()
	_ = must(f.store.GetCase(f.ctx, sara, f.caseID, marker))

	for _, name := range []string{DBFile, DBFile + "-wal"} {
		b, err := os.ReadFile(filepath.Join(f.dir, name))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("MARKER-purpose")) {
			t.Fatalf("the purpose is readable in %s", name)
		}
	}
	read := func() string {
		t.Helper()
		entries := must(f.store.AuditEntries(f.ctx, AuditFilter{Kinds: []string{AuditCaseRead}}))
		if len(entries) != 1 {
			t.Fatalf("%d reads", len(entries))
		}
		return entries[0].Purpose
	}
	if got := read(); got != marker {
		t.Fatalf("purpose read back as %q", got)
	}
	_ = must(f.store.RotateKEK(f.ctx))
	if n := must(f.store.RewrapKEK(f.ctx)); n == 0 {
		t.Fatal("nothing re-wrapped")
	}
	use := must(f.store.KEKUse(f.ctx))
	if len(use) != 1 {
		t.Fatalf("envelopes under %d KEKs after the re-wrap: %v", len(use), use)
	}
	if got := read(); got != marker {
		t.Fatalf("purpose after the re-wrap: %q", got)
	}
	if v := must(f.store.VerifyAudit(f.ctx)); len(v.Problems) != 0 {
		t.Fatalf("the log fails after a re-wrap: %v", v.Problems)
	}
}

// Someone with write access to the database but not the audit key edits an entry and recomputes
// the hash chain, the head and everything after it: the MACs give them away.
func TestAuditRewrittenWithoutTheKeyIsDetected(t *testing.T) {
	f := auditFixture(t)
	db := rawDB(t, f.dir)
	var first int64
	must(0, db.QueryRow(`SELECT MIN(id) FROM audit_log WHERE kind = 'test.event'`).Scan(&first))
	mustExec(t, db, `UPDATE audit_log SET detail = '{"n":"forged"}' WHERE id = ?`, first)
	// Recompute every hash from the edited entry on, as the unkeyed chain allowed.
	rows, err := db.Query(`SELECT id, at_ms, kind, actor_user, device_id, case_id, purpose, purpose_sealed, detail FROM audit_log WHERE id >= ? ORDER BY id`, first)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		id, at                                       int64
		kind, actor, device, caseID, purpose, detail string
		sealed                                       []byte
	}
	var todo []row
	for rows.Next() {
		var r row
		must(0, rows.Scan(&r.id, &r.at, &r.kind, &r.actor, &r.device, &r.caseID, &r.purpose, &r.sealed, &r.detail))
		todo = append(todo, r)
	}
	rows.Close()
	var prev []byte
	must(0, db.QueryRow(`SELECT hash FROM audit_log WHERE id = ?`, first-1).Scan(&prev))
	for _, r := range todo {
		var content []byte
		if r.sealed != nil {
			content = must(seal.SealedContent(r.sealed))
		}
		h := auditHash(r.id, r.at, r.kind, r.actor, r.device, r.caseID, r.purpose, r.detail, prev, content)
		mustExec(t, db, `UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?`, prev, h, r.id)
		prev = h
	}
	mustExec(t, db, `UPDATE audit_head SET hash = ?`, prev)

	v := must(f.store.VerifyAudit(f.ctx))
	all := strings.Join(v.Problems, "; ")
	if !strings.Contains(all, "does not carry the audit key's signature") {
		t.Fatalf("a re-chained log verifies: %+v", v)
	}
	for _, p := range v.Problems {
		if strings.Contains(p, "was changed after") || strings.Contains(p, "does not follow") {
			t.Fatalf("the chain itself should look intact (only the key can tell): %s", p)
		}
	}
}

// The audit key lives outside the database: a store whose key is gone refuses to start rather
// than sign on with a new key, and a store given another key finds every entry unsigned.
func TestTheAuditKeyIsRequiredAndChecked(t *testing.T) {
	f := auditFixture(t)
	f.store.Close()
	keyFile := filepath.Join(f.dir, AuditKeyFile)
	saved := must(os.ReadFile(keyFile))
	if fi := must(os.Stat(keyFile)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("audit key mode %v", fi.Mode().Perm())
	}
	must(0, os.Remove(keyFile))
	if _, err := openTestStore(t, f.dir, f.clock.Now); syncer.ErrorCode(err) != syncer.CodeFailedPrecondition {
		t.Fatalf("opened without the audit key: %v", err)
	}
	if _, err := os.Stat(keyFile); !os.IsNotExist(err) {
		t.Fatal("a new audit key was left behind")
	}

	other := make([]byte, auditKeySize)
	other[0] = 1
	t.Setenv(AuditKeyEnv, base64.StdEncoding.EncodeToString(other))
	s := MustOpenStore(t, f.dir, f.clock)
	v := must(s.VerifyAudit(f.ctx))
	if int64(len(v.Problems)) < min(v.Entries, 100) {
		t.Fatalf("another key verified the log: %+v", v)
	}
	s.Close()

	t.Setenv(AuditKeyEnv, "")
	must(0, os.WriteFile(keyFile, saved, 0o600))
	s = MustOpenStore(t, f.dir, f.clock)
	if v := must(s.VerifyAudit(f.ctx)); len(v.Problems) != 0 {
		t.Fatalf("the restored key: %v", v.Problems)
	}
}

// Failed sign-ins block by name and by address for a day, whether or not the name has an
// account, with the same words either way; an admin lifts a block.
func TestSignInBlocksByNameAndAddressWithoutRevealingAccounts(t *testing.T) {
	cheapPasswords(t)
	f := newFixture(t)
	const good = "korrekt hest batteri"
	mustDo(t, f.store.SetPassword(f.ctx, Actor{}, "Sara Caseworker", good))
	refusal := func(name, password, address string) (syncer.Code, string) {
		_, err := f.store.SignInFrom(f.ctx, name, password, address)
		return syncer.ErrorCode(err), syncer.ErrorMessage(err)
	}
	// Failures an hour apart still count: the window is a day.
	for i := range SignInMaxFailures {
		f.clock.Add(time.Hour)
		for _, name := range []string{"Sara Caseworker", "nobody at all"} {
			if code, _ := refusal(name, "wrong "+strings.Repeat("!", i), "10.0.0."+fmt.Sprint(i)); code != syncer.CodeUnauthenticated {
				t.Fatalf("failure %d for %s: %v", i, name, code)
			}
		}
	}
	codeKnown, known := refusal("Sara Caseworker", good, "10.0.1.1")
	codeUnknown, unknown := refusal("Nobody At All", "anything", "10.0.1.2")
	if codeKnown != syncer.CodePermissionDenied || known != unknown || !strings.Contains(known, "locked until") {
		t.Fatalf("blocked name %v %q, unknown name %v %q: they must read the same", codeKnown, known, codeUnknown, unknown)
	}
	f.clock.Add(SignInLockout - 30*time.Minute)
	if code, _ := refusal("Sara Caseworker", good, "10.0.1.1"); code != syncer.CodePermissionDenied {
		t.Fatalf("the block ended early: %v", code)
	}
	n := must(f.store.UnblockSignIn(f.ctx, Actor{}, "Sara Caseworker", ""))
	if n != SignInMaxFailures {
		t.Fatalf("unblock cleared %d failures", n)
	}
	if _, err := f.store.SignInFrom(f.ctx, "Sara Caseworker", good, "10.0.1.1"); err != nil {
		t.Fatalf("after the admin lifted the block: %v", err)
	}

	// One address trying many names is blocked, also for a right password; other addresses not.
	for i := range SignInMaxAddressFailures {
		if code, _ := refusal(fmt.Sprintf("guess %d", i), "guess", "192.0.2.7"); code != syncer.CodeUnauthenticated {
			t.Fatalf("guess %d: %v", i, code)
		}
	}
	if code, msg := refusal("Sara Caseworker", good, "192.0.2.7"); code != syncer.CodePermissionDenied || !strings.HasPrefix(msg, "Too many failed sign-ins") {
		t.Fatalf("the guessing address: %v %q", code, msg)
	}
	if _, err := f.store.SignInFrom(f.ctx, "Sara Caseworker", good, "192.0.2.8"); err != nil {
		t.Fatalf("another address: %v", err)
	}
	_ = must(f.store.UnblockSignIn(f.ctx, Actor{}, "", "192.0.2.7"))
	if _, err := f.store.SignInFrom(f.ctx, "Sara Caseworker", good, "192.0.2.7"); err != nil {
		t.Fatalf("after the address was unblocked: %v", err)
	}
	var unblocks int
	for _, e := range must(f.store.AuditEntries(f.ctx, AuditFilter{Kinds: []string{AuditSignInUnblocked}})) {
		if e.Detail["via"] == "command line" {
			unblocks++
		}
	}
	if unblocks != 2 {
		t.Fatalf("%d unblocks audited", unblocks)
	}
}
