package clientlib

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/samvaer/sync/syncer"
)

// A tablet that has not reached the server for longer than LockAfter refuses to show or change
// data; a sync still works, and unlocks it.
func TestTabletLocksAfterNoContact(t *testing.T) {
	ctx := context.Background()
	f, _, _ := syncFixture(t)
	_, err := f.tab.Sync(ctx)
	must(t, err)
	if f.meta(metaLastContact) == 0 {
		t.Fatal("a successful sync did not store the time of contact")
	}
	f.clock.Add(DefaultLockAfter - time.Minute)
	if _, err := f.tab.Visits(ctx); err != nil {
		t.Fatalf("locked before its time: %v", err)
	}
	f.clock.Add(2 * time.Minute)
	f.reopen() // the lock survives a restart: the time of contact is stored
	_, err = f.tab.Visits(ctx)
	if syncer.ErrorCode(err) != syncer.CodeFailedPrecondition || !strings.Contains(syncer.ErrorMessage(err), "locked") {
		t.Fatalf("reading a locked tablet: %v", err)
	}
	if _, err := f.tab.Observe(ctx, f.visitID, "written while locked"); !strings.Contains(syncer.ErrorMessage(err), "locked") {
		t.Fatalf("writing on a locked tablet: %v", err)
	}
	if _, err := f.tab.Conflicts(ctx); err == nil {
		t.Fatal("conflicts shown on a locked tablet")
	}
	_, err = f.tab.Sync(ctx)
	must(t, err)
	if _, err := f.tab.Visits(ctx); err != nil {
		t.Fatalf("a sync did not unlock the tablet: %v", err)
	}
}

func TestLockAfterIsConfigurable(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{LockAfter: time.Hour})
	must(t, f.tab.store.db.WriteTx(ctx, func(tx *sql.Tx) error {
		return setMeta(ctx, tx, metaLastContact, itoa(f.clock.Now().UnixMilli()))
	}))
	f.reopen()
	f.clock.Add(2 * time.Hour)
	if _, err := f.tab.Visits(ctx); !strings.Contains(syncer.ErrorMessage(err), "locked") {
		t.Fatalf("an hour's lock: %v", err)
	}
}

// Wipe deletes every file of the tablet and the home itself; afterwards every call says so.
func TestWipeDeletesTheHome(t *testing.T) {
	ctx := context.Background()
	f, _, _ := syncFixture(t)
	_, err := f.tab.Observe(ctx, f.visitID, "Ida griner.")
	must(t, err)
	must(t, f.tab.Wipe())
	if _, err := os.Stat(f.home); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the home survived the wipe: %v", err)
	}
	if _, err := f.tab.Sync(ctx); !errors.Is(err, ErrWiped) {
		t.Fatalf("sync after a wipe: %v", err)
	}
	if _, err := f.tab.Visits(ctx); !errors.Is(err, ErrWiped) {
		t.Fatalf("visits after a wipe: %v", err)
	}
	if _, err := f.tab.Status(ctx); !errors.Is(err, ErrWiped) {
		t.Fatalf("status after a wipe: %v", err)
	}
	if !strings.Contains(syncer.ErrorMessage(ErrWiped), "enrolled again") {
		t.Fatal("the wiped message must say the tablet must be enrolled again")
	}
	if _, err := Open(f.home, f.opts); err == nil {
		t.Fatal("a wiped home opened")
	}
}
