package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/samvaer/sync/clientlib"
	"github.com/samvaer/sync/server"
)

// world is a case with one supervised visit, on a live server.
type world struct {
	srv     *liveServer
	caseID  string
	visitID string
}

func newWorld(t testing.TB, consultants ...string) *world {
	t.Helper()
	ctx := context.Background()
	s := startServer(t)
	st := s.Store()
	if _, err := st.AddUser(ctx, "Sara", []string{"caseworker"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range consultants {
		if _, err := st.AddUser(ctx, c, []string{"consultant"}); err != nil {
			t.Fatal(err)
		}
	}
	w := &world{srv: s}
	var err error
	if w.caseID, err = st.AddCase(ctx, server.NewCase{Children: []string{"Ida"}, Parents: []string{"Mette"}, Caseworker: "Sara"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Hour)
	for i, c := range consultants {
		id, err := st.AddVisit(ctx, server.NewVisit{CaseID: w.caseID, Consultant: c, Kind: "supervised", Start: start.Add(time.Duration(i) * 24 * time.Hour), End: start.Add(time.Duration(i)*24*time.Hour + 2*time.Hour), Place: "Rum 2"})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			w.visitID = id
		}
	}
	return w
}

// newVisitFor plans another visit in the world's case.
func newVisitFor(w *world, consultant string) server.NewVisit {
	start := time.Now().Add(48 * time.Hour)
	return server.NewVisit{CaseID: w.caseID, Consultant: consultant, Kind: "supported", Start: start, End: start.Add(time.Hour), Place: "Legepladsen"}
}

func (w *world) serverDigest(t testing.TB) string {
	t.Helper()
	d, err := w.srv.Store().CaseDigest(context.Background(), w.caseID)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustDo(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Two tablets edit the same report section and checklist item offline, the server restarts, both
// sync twice: they converge, and the overlapping edit is kept as a conflict both tablets show.
func TestTwoOfflineTabletsConverge(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "Kim", "Lea")
	a := enrollTablet(t, w.srv, "Kim")
	b := enrollTablet(t, w.srv, "Lea")
	for _, tb := range []*tablet{a, b} {
		_, err := tb.Sync(ctx)
		mustDo(t, err)
	}

	// Offline.
	mustDo(t, a.SetReportSection(ctx, w.visitID, "interaction", "Mor læser en bog for Ida."))
	mustDo(t, b.SetReportSection(ctx, w.visitID, "interaction", "Mor og Ida bygger et tårn."))
	mustDo(t, a.Check(ctx, w.visitID, "room_ready", true))
	mustDo(t, b.Check(ctx, w.visitID, "room_ready", false))
	_, err := a.Observe(ctx, w.visitID, "10:05 Ida løber hen til mor.")
	mustDo(t, err)
	_, err = b.Observe(ctx, w.visitID, "10:20 Mor trøster Ida.")
	mustDo(t, err)

	w.srv.restart()

	for round := 0; round < 2; round++ {
		for _, tb := range []*tablet{a, b} {
			_, err := tb.Sync(ctx)
			mustDo(t, err)
		}
	}
	want := w.serverDigest(t)
	for name, tb := range map[string]*tablet{"a": a, "b": b} {
		got, err := tb.Digest(ctx, w.caseID)
		mustDo(t, err)
		if got != want {
			t.Fatalf("tablet %s digest %s, server %s", name, got, want)
		}
		st, err := tb.Status(ctx)
		mustDo(t, err)
		if st.Pending != 0 || st.Awaiting != 0 || st.OpenConflicts != 1 {
			t.Fatalf("tablet %s status %+v; want nothing pending and one open conflict", name, st)
		}
		conflicts, err := tb.Conflicts(ctx)
		mustDo(t, err)
		if len(conflicts) != 1 || conflicts[0].Field != "interaction" {
			t.Fatalf("tablet %s conflicts %+v", name, conflicts)
		}
		// Both versions are there: one as the section's text, the other in the conflict.
		sides := []string{conflicts[0].CurrentValue, conflicts[0].OtherValue}
		slices.Sort(sides)
		if sides[0] != "Mor læser en bog for Ida." || sides[1] != "Mor og Ida bygger et tårn." {
			t.Fatalf("tablet %s conflict sides %q", name, sides)
		}
		visits, err := tb.Visits(ctx)
		mustDo(t, err)
		var obs []string
		for _, v := range visits {
			if v.ID == w.visitID {
				for _, o := range v.Observations {
					obs = append(obs, o.Text)
				}
			}
		}
		slices.Sort(obs)
		if len(obs) != 2 || obs[0] != "10:05 Ida løber hen til mor." || obs[1] != "10:20 Mor trøster Ida." {
			t.Fatalf("tablet %s observations %q", name, obs)
		}
	}
	// A person weaves both versions together; once everyone has synced the conflict is closed
	// everywhere and the section holds what they wrote.
	conflicts, err := a.Conflicts(ctx)
	mustDo(t, err)
	final := "Mor læser en bog for Ida, og bagefter bygger de et tårn."
	mustDo(t, a.Resolve(ctx, conflicts[0].ID, final))
	if open, _ := a.Conflicts(ctx); len(open) != 0 {
		t.Fatal("a conflict resolved on the tablet still shows there")
	}
	for round := 0; round < 2; round++ {
		for _, tb := range []*tablet{a, b} {
			_, err := tb.Sync(ctx)
			mustDo(t, err)
		}
	}
	want = w.serverDigest(t)
	for name, tb := range map[string]*tablet{"a": a, "b": b} {
		got, err := tb.Digest(ctx, w.caseID)
		mustDo(t, err)
		open, err := tb.Conflicts(ctx)
		mustDo(t, err)
		visits, err := tb.Visits(ctx)
		mustDo(t, err)
		if got != want || len(open) != 0 || sectionText(visits, w.visitID, "interaction") != final {
			t.Fatalf("tablet %s after resolving: digest equal %v, %d open conflicts, section %q", name, got == want, len(open), sectionText(visits, w.visitID, "interaction"))
		}
	}
	// The server logged every request, and not one word anybody wrote, nor a child's name.
	logs := w.srv.logs.String()
	if !strings.Contains(logs, `"procedure":"/samvaer.v1.SyncService/Push"`) {
		t.Fatal("the server did not log the pushes")
	}
	for _, secret := range []string{"Ida", "Mette", "læser en bog", "bygger et tårn", "løber hen", "trøster", "Rum 2"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the server log holds %q", secret)
		}
	}
}

func sectionText(visits []clientlib.Visit, visitID, key string) string {
	for _, v := range visits {
		if v.ID == visitID {
			for _, s := range v.Report {
				if s.Key == key {
					return s.Text
				}
			}
		}
	}
	return ""
}

// A case assigned to a consultant after their tablet's first sync arrives whole — the case
// record and visits planned before the assignment included — and converges with the server.
func TestCaseAssignedLaterArrivesWhole(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "Kim", "Lea")
	kim := enrollTablet(t, w.srv, "Kim")
	_, err := kim.Sync(ctx)
	mustDo(t, err)

	st := w.srv.Store()
	older, err := st.AddCase(ctx, server.NewCase{Children: []string{"Emil"}, Caseworker: "Sara"})
	mustDo(t, err)
	start := time.Now()
	_, err = st.AddVisit(ctx, server.NewVisit{CaseID: older, Consultant: "Lea", Kind: "supported", Start: start, End: start.Add(time.Hour), Place: "Rum 1"})
	mustDo(t, err)
	_, err = kim.Sync(ctx) // nothing of the case yet: Kim is not on it
	mustDo(t, err)
	_, err = st.AddVisit(ctx, server.NewVisit{CaseID: older, Consultant: "Kim", Kind: "supported", Start: start.Add(24 * time.Hour), End: start.Add(25 * time.Hour), Place: "Rum 3"})
	mustDo(t, err)
	_, err = kim.Sync(ctx)
	mustDo(t, err)

	d, err := st.CaseDigest(ctx, older)
	mustDo(t, err)
	got, err := kim.Digest(ctx, older)
	mustDo(t, err)
	if got != d {
		t.Fatal("the tablet's copy of the newly assigned case differs from the server's")
	}
	visits, err := kim.Visits(ctx)
	mustDo(t, err)
	var inOlder int
	for _, v := range visits {
		if v.CaseID == older {
			inOlder++
		}
	}
	if inOlder != 2 {
		t.Fatalf("the tablet shows %d visits of the case, want both", inOlder)
	}
}
