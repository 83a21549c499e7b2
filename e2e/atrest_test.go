package e2e

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samvaer/sync/server"
)

// markers are written where a person's words go: children's and parents' names, the place of a
// visit, observations, report sections, and the other side of a conflict.
var markers = []string{"QXCHILDIda", "QXPARENTMette", "QXPLACERosenvej12", "QXOBSERVATION", "QXREPORTOPENING", "QXREPORTOTHER", "QXCONFLICT"}

// leaks returns "file: marker" for every marker found in a file under the directories or in the
// extra texts (logs).
func leaks(t *testing.T, dirs []string, texts map[string]string) []string {
	t.Helper()
	var found []string
	scan := func(name string, b []byte) {
		for _, m := range markers {
			if bytes.Contains(b, []byte(m)) {
				found = append(found, name+": "+m)
			}
		}
	}
	files := 0
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files++
			scan(path, b)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if files < 2*len(dirs) {
		t.Fatalf("only %d files read under %v", files, dirs)
	}
	for name, text := range texts {
		scan(name, []byte(text))
	}
	return found
}

// Everything a person wrote about a child is unreadable in every file the server and the tablets
// keep — databases, WAL, key files — and in the server's logs: while they run (the WAL holding
// the latest writes) and after they stop. The same words reach the other tablet intact, so the
// markers really passed through every store.
func TestNothingWrittenIsReadableAtRest(t *testing.T) {
	ctx := context.Background()
	s := startServer(t)
	st := s.Store()
	for _, u := range [][2]string{{"Sara", "caseworker"}, {"Kim", "consultant"}, {"Lea", "consultant"}} {
		_, err := st.AddUser(ctx, u[0], []string{u[1]})
		mustDo(t, err)
	}
	caseID, err := st.AddCase(ctx, server.NewCase{Children: []string{markers[0]}, Parents: []string{markers[1]}, Caseworker: "Sara"})
	mustDo(t, err)
	start := time.Now().Add(-time.Hour)
	visitID, err := st.AddVisit(ctx, server.NewVisit{CaseID: caseID, Consultant: "Kim", Kind: "supervised", Start: start, End: start.Add(2 * time.Hour), Place: markers[2]})
	mustDo(t, err)
	_, err = st.AddVisit(ctx, server.NewVisit{CaseID: caseID, Consultant: "Lea", Kind: "supervised", Start: start.Add(24 * time.Hour), End: start.Add(26 * time.Hour), Place: "Rum 2"})
	mustDo(t, err)

	a, b := enrollTablet(t, s, "Kim"), enrollTablet(t, s, "Lea")
	for _, tb := range []*tablet{a, b} {
		_, err := tb.Sync(ctx)
		mustDo(t, err)
	}
	_, err = a.Observe(ctx, visitID, markers[3]+" Ida runs to her mother.")
	mustDo(t, err)
	mustDo(t, a.SetReportSection(ctx, visitID, "opening", markers[4]+" Mother arrives on time."))
	// Both tablets write the same section offline: one side becomes a conflict record.
	mustDo(t, a.SetReportSection(ctx, visitID, "ending", markers[5]+" the goodbye at the door."))
	mustDo(t, b.SetReportSection(ctx, visitID, "ending", markers[6]+" the child cries at the goodbye."))
	for range 2 {
		for _, tb := range []*tablet{a, b} {
			_, err := tb.Sync(ctx)
			mustDo(t, err)
		}
	}
	// The words arrived: the other tablet shows the observation and the conflict.
	visits, err := b.Visits(ctx)
	mustDo(t, err)
	var seen strings.Builder
	for _, v := range visits {
		seen.WriteString(v.Place)
		for _, o := range v.Observations {
			seen.WriteString(o.Text)
		}
		for _, r := range v.Report {
			seen.WriteString(r.Text)
		}
	}
	conflicts, err := b.Conflicts(ctx)
	mustDo(t, err)
	for _, c := range conflicts {
		seen.WriteString(c.CurrentValue + c.OtherValue)
	}
	for _, m := range markers[2:] {
		if !strings.Contains(seen.String(), m) {
			t.Fatalf("%s did not reach the other tablet; the test would prove nothing", m)
		}
	}

	dirs := []string{s.dir, a.home, b.home}
	wal := 0
	for _, dir := range dirs {
		matches, _ := filepath.Glob(filepath.Join(dir, "*-wal"))
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil && fi.Size() > 0 {
				wal++
			}
		}
	}
	if wal == 0 {
		t.Fatal("no WAL holds data while running; the check would miss it")
	}
	if found := leaks(t, dirs, map[string]string{"server log": s.logs.String()}); len(found) > 0 {
		t.Fatalf("readable while running:\n%s", strings.Join(found, "\n"))
	}

	mustDo(t, a.Close())
	mustDo(t, b.Close())
	s.shutdown()
	if found := leaks(t, dirs, map[string]string{"server log": s.logs.String()}); len(found) > 0 {
		t.Fatalf("readable after closing:\n%s", strings.Join(found, "\n"))
	}
}
