package server

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/syncer"
)

// fileHolds reports whether the database file or its WAL holds b.
func fileHolds(t *testing.T, dir string, b []byte) bool {
	t.Helper()
	for _, name := range []string{DBFile, DBFile + "-wal"} {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(raw, b) {
			return true
		}
	}
	return false
}

// The retention job deletes a report with its addenda and parents' comments only once it was
// both acknowledged and exported and the retention time passed; then it is gone from the file
// and the WAL, the deletion is logged with counts, and a dry run before counted exactly that.
// A closed case goes whole after its time, and old audit entries go with a signed checkpoint:
// `audit verify` still passes, and still catches a deletion the job did not make.
func TestRetentionDeletesWhatTheLawNoLongerKeeps(t *testing.T) {
	f := newFixture(t)
	kim := f.enrollSigner("Kim Consultant")
	text := map[string]string{"opening": "Mor kommer til tiden."}
	if res := f.push(kim, f.section(0, "opening", text["opening"], 0), f.submission(kim, text)); res[1].Result != v1.Result_RESULT_APPLIED {
		t.Fatalf("submission: %s", res[1].Reason)
	}
	sara := f.caseworker()
	mustDo(t, f.store.Acknowledge(f.ctx, sara, f.reportID))
	_ = must(f.store.AddAddendum(f.ctx, sara, f.reportID, "", "Besøget sluttede 11.50."))
	_ = must(f.store.AddParentComment(f.ctx, sara, f.reportID, "Mor er enig.", 0))
	var stateBlob []byte
	must(0, f.store.read.QueryRow(`SELECT state FROM records WHERE id = ?`, f.reportID).Scan(&stateBlob))
	run := func(dry bool) RetentionResult {
		t.Helper()
		return must(f.store.RunRetention(f.ctx, Actor{}, RetentionPolicy{}, dry))
	}

	// Acknowledged but never exported: kept, however long.
	f.clock.Add(DefaultReportRetention + time.Hour)
	if res := run(false); res.Reports != 0 {
		t.Fatalf("an unexported report was deleted: %+v", res)
	}
	_ = must(f.store.ExportReport(f.ctx, sara, f.reportID, "til sagssystemet", ExportPDF))
	f.clock.Add(DefaultReportRetention - time.Hour)
	if res := run(false); res.Reports != 0 {
		t.Fatalf("a report was deleted before its time: %+v", res)
	}
	f.clock.Add(2 * time.Hour)
	dry := run(true)
	if dry.Reports != 1 || dry.Addenda != 1 || dry.Comments != 1 || !dry.DryRun {
		t.Fatalf("dry run: %+v", dry)
	}
	if _, err := f.store.GetReport(f.ctx, sara, f.reportID, "efter tørkørsel"); err != nil {
		t.Fatalf("the dry run deleted: %v", err)
	}
	res := run(false)
	if dry.DryRun = false; res != dry {
		t.Fatalf("the run deleted %+v, the dry run said %+v", res, dry)
	}
	if _, err := f.store.GetReport(f.ctx, sara, f.reportID, "efter sletning"); syncer.ErrorCode(err) != syncer.CodeNotFound {
		t.Fatalf("the deleted report: %v", err)
	}
	var left int
	must(0, f.store.read.QueryRow(`SELECT COUNT(*) FROM changes WHERE record_id = ?`, f.reportID).Scan(&left))
	if left != 0 || fileHolds(t, f.dir, stateBlob) {
		t.Fatalf("the report survives: %d changes, sealed state in the file: %v", left, fileHolds(t, f.dir, stateBlob))
	}
	runs := must(f.store.AuditEntries(f.ctx, AuditFilter{Kinds: []string{AuditRetention}}))
	if len(runs) != 1 || runs[0].Detail["reports"] != "1" || runs[0].Detail["addenda"] != "1" || runs[0].Detail["parent_comments"] != "1" {
		t.Fatalf("retention runs logged: %+v", runs)
	}
	gone := must(f.store.AuditEntries(f.ctx, AuditFilter{CaseID: f.caseID, Kinds: []string{AuditCaseDeleted}}))
	if len(gone) != 1 || gone[0].Detail["via"] != "retention" || gone[0].Detail["records"] != "3" {
		t.Fatalf("the deletion in the case's access log: %+v", gone)
	}

	// A closed case goes whole after its time; the old audit entries go with a checkpoint.
	mustDo(t, f.store.CloseCase(f.ctx, Actor{}, f.caseID))
	f.clock.Add(DefaultCaseRetention + time.Hour)
	res = run(false)
	var records int
	must(0, f.store.read.QueryRow(`SELECT COUNT(*) FROM records WHERE case_id = ?`, f.caseID).Scan(&records))
	if res.Cases != 1 || records != 0 {
		t.Fatalf("closed case: %+v, %d records left", res, records)
	}
	before := must(f.store.VerifyAudit(f.ctx)).Entries
	f.clock.Add(DefaultAuditRetention + time.Second)
	mustDo(t, f.store.Audit(f.ctx, AuditEvent{Kind: "test.recent"}))
	res = run(false)
	v := must(f.store.VerifyAudit(f.ctx))
	if res.AuditEntries != before || len(v.Problems) != 0 {
		t.Fatalf("after deleting %d of %d audit entries: %+v", res.AuditEntries, before, v)
	}
	if recent := must(f.store.AuditEntries(f.ctx, AuditFilter{Kinds: []string{"test.recent"}})); len(recent) != 1 {
		t.Fatal("a recent entry was deleted")
	}

	// A deletion the job did not make is still found, checkpoint or not.
	db := rawDB(t, f.dir)
	mustExec(t, db, `DELETE FROM audit_log WHERE id = (SELECT MIN(id) FROM audit_log)`)
	if v := must(f.store.VerifyAudit(f.ctx)); !strings.Contains(strings.Join(v.Problems, ";"), "no signed retention checkpoint") {
		t.Fatalf("a deleted first entry after a checkpoint: %+v", v)
	}
}

// A log retention shorter than six months is refused.
func TestRetentionKeepsTheLogSixMonths(t *testing.T) {
	f := newFixture(t)
	if _, err := f.store.RunRetention(f.ctx, Actor{}, RetentionPolicy{Audit: 30 * 24 * time.Hour}, true); syncer.ErrorCode(err) != syncer.CodeInvalid {
		t.Fatalf("a month of log: %v", err)
	}
}

// The running server runs the retention job itself, at start and on its schedule.
func TestTheServerRunsRetentionOnItsSchedule(t *testing.T) {
	f := newFixture(t)
	mustDo(t, f.store.CloseCase(f.ctx, Actor{}, f.caseID))
	f.store.Close()
	cfg := DefaultConfig()
	cfg.DataDir, cfg.Listen = f.dir, "127.0.0.1:0"
	later := f.clock.Now().Add(DefaultCaseRetention + time.Hour)
	cfg.Now = func() time.Time { return later }
	cfg.RetentionEvery = time.Hour
	srv := must(New(f.ctx, cfg))
	ln := must(net.Listen("tcp", cfg.Listen))
	ctx, stop := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	var left int
	for range 500 {
		must(0, srv.Store.read.QueryRow(`SELECT COUNT(*) FROM records WHERE case_id = ?`, f.caseID).Scan(&left))
		if left == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d records of the closed case are left after its retention time", left)
	}
}
