package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/samvaer/sync/clientlib"
)

// Wrong PINs typed into several `samvaer tablet` processes on the same home at the same moment
// get no more checks together than the limit of 5: each process counts its attempt under a lock
// the others wait on, before the slow Argon2id check (the default cost, as on a real tablet).
// Exactly five hear "Wrong PIN" and are recorded for the audit log, the rest are refused
// unchecked, and the key is destroyed.
func TestParallelTabletProcessesGetNoMoreGuessesThanTheLimit(t *testing.T) {
	const guessers = 8
	ctx := context.Background()
	s := startServer(t)
	_, err := s.Store().AddUser(ctx, "kim", []string{"consultant"})
	mustDo(t, err)
	code, _, err := s.Store().NewEnrollmentCode(ctx, "kim")
	mustDo(t, err)
	home := filepath.Join(t.TempDir(), "kim")
	tab, err := clientlib.Enroll(ctx, home, s.URL(), code, "iPad 3", clientlib.Options{PIN: "4711"})
	mustDo(t, err)
	mustDo(t, tab.Close())

	bin := buildSamvaer(t)
	outs := make([]string, guessers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range guessers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(bin, "tablet", "--home", home, "status")
			cmd.Env = append(os.Environ(), fmt.Sprintf("SAMVAER_PIN=guess-%d", i))
			<-start
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Errorf("a wrong PIN opened the tablet:\n%s", out)
			}
			outs[i] = string(out)
		}()
	}
	close(start)
	wg.Wait()
	checked := 0
	for _, out := range outs {
		if strings.Contains(out, "Wrong PIN") {
			checked++
		}
	}
	if checked != 5 {
		t.Fatalf("%d of %d processes were told their PIN was wrong, want exactly the limit of 5:\n%s", checked, guessers, strings.Join(outs, ""))
	}
	// Every wrong PIN that was checked is recorded for the audit log (unlock_failures, plain).
	db, err := sql.Open("sqlite", "file:"+filepath.Join(home, "tablet.db")+"?mode=ro")
	mustDo(t, err)
	defer db.Close()
	var recorded int
	mustDo(t, db.QueryRow(`SELECT COUNT(*) FROM unlock_failures`).Scan(&recorded))
	if recorded != 5 {
		t.Fatalf("%d wrong PINs were checked by %d processes at once; the limit is 5:\n%s", recorded, guessers, strings.Join(outs, ""))
	}
	_, err = clientlib.Open(home, clientlib.Options{PIN: "4711"})
	if err == nil || !strings.Contains(err.Error(), "Enroll the tablet again") {
		t.Fatalf("the right PIN after the limit: %v", err)
	}
}
