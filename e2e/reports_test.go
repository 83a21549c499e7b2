package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/samvaer/sync/clientlib"
	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/syncer"
)

func visitOn(t testing.TB, tb *tablet, visitID string) clientlib.Visit {
	t.Helper()
	visits, err := tb.Visits(context.Background())
	mustDo(t, err)
	for _, v := range visits {
		if v.ID == visitID {
			return v
		}
	}
	t.Fatalf("visit %s not on the tablet", visitID)
	return clientlib.Visit{}
}

func section(v clientlib.Visit, key string) string {
	for _, s := range v.Report {
		if s.Key == key {
			return s.Text
		}
	}
	return ""
}

// A tablet offline edits a report that another tablet submits meanwhile. After both sync, the
// submitted report is unchanged everywhere, the offline text is intact in an addendum draft on
// every tablet, and all replicas hold the same state. Signing the draft makes it a submitted
// addendum, and the replicas converge again.
func TestOfflineEditOfASubmittedReportBecomesAnAddendumDraft(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "Kim", "Lea")
	kim := enrollTablet(t, w.srv, "Kim")
	lea := enrollTablet(t, w.srv, "Lea")
	for _, tb := range []*tablet{kim, lea} {
		_, err := tb.Sync(ctx)
		mustDo(t, err)
	}

	offline := "Lea, offline: Ida viser mor sin tegning og fortæller om skolen."
	mustDo(t, lea.SetReportSection(ctx, w.visitID, "interaction", offline))
	mustDo(t, kim.SetReportSection(ctx, w.visitID, "interaction", "Mor læser en bog for Ida."))
	mustDo(t, kim.Submit(ctx, w.visitID))
	_, err := kim.Sync(ctx)
	mustDo(t, err)

	res, err := lea.Sync(ctx)
	mustDo(t, err)
	if res.Conflicts != 1 || res.Rejected != 0 {
		t.Fatalf("lea's sync: %+v", res)
	}
	_, err = kim.Sync(ctx)
	mustDo(t, err)

	want := w.serverDigest(t)
	var draftID string
	for name, tb := range map[string]*tablet{"kim": kim, "lea": lea} {
		if got, err := tb.Digest(ctx, w.caseID); err != nil || got != want {
			t.Fatalf("%s digest %s, server %s (%v)", name, got, want, err)
		}
		v := visitOn(t, tb, w.visitID)
		if v.ReportState != syncer.StateSubmitted || section(v, "interaction") != "Mor læser en bog for Ida." {
			t.Fatalf("%s shows the report as %s with %q", name, v.ReportState, section(v, "interaction"))
		}
		if len(v.Addenda) != 1 || v.Addenda[0].Text != offline || v.Addenda[0].State != syncer.StateDraft || v.Addenda[0].Section != "interaction" {
			t.Fatalf("%s addenda %+v", name, v.Addenda)
		}
		draftID = v.Addenda[0].ID
		st, err := tb.Status(ctx)
		mustDo(t, err)
		if st.Pending != 0 || st.Awaiting != 0 || st.DeadLetters != 0 {
			t.Fatalf("%s status %+v", name, st)
		}
	}

	mustDo(t, lea.SignAddendum(ctx, draftID))
	for _, tb := range []*tablet{lea, kim} {
		_, err := tb.Sync(ctx)
		mustDo(t, err)
	}
	want = w.serverDigest(t)
	for name, tb := range map[string]*tablet{"kim": kim, "lea": lea} {
		if got, _ := tb.Digest(ctx, w.caseID); got != want {
			t.Fatalf("%s digest after signing %s, server %s", name, got, want)
		}
		if v := visitOn(t, tb, w.visitID); v.Addenda[0].State != syncer.StateSubmitted {
			t.Fatalf("%s shows the signed addendum as %s", name, v.Addenda[0].State)
		}
	}

	// The caseworker acknowledges: at their next sync the tablets let go of the text.
	sara, err := w.srv.Store().UserByName(ctx, "Sara")
	mustDo(t, err)
	reportID := visitOn(t, kim, w.visitID).ReportID
	mustDo(t, w.srv.Store().Acknowledge(ctx, server.Identity{UserID: sara.ID, DeviceID: syncer.NewID(), Roles: sara.Roles}, reportID))
	for name, tb := range map[string]*tablet{"kim": kim, "lea": lea} {
		res, err := tb.Sync(ctx)
		mustDo(t, err)
		v := visitOn(t, tb, w.visitID)
		if res.Purged != 1 || v.ReportState != syncer.StateAcknowledged || section(v, "interaction") != "" || v.Addenda[0].Text != "" {
			t.Fatalf("%s after acknowledgement: purged %d, %s, %q", name, res.Purged, v.ReportState, section(v, "interaction"))
		}
	}
}

// TestConvergenceWithSubmissionsProperty is TestConvergenceProperty with submissions in the mix:
// tablets submit the report at random moments, some offline, some refused because the text
// changed after it was signed; a tablet that knows the report is submitted writes an addendum
// instead. After quiescing, every replica holds the same state, and every word any tablet wrote
// is still there: in the report, in a conflict, or in an addendum (signed or a draft the server
// made from an edit that reached the locked report).
func TestConvergenceWithSubmissionsProperty(t *testing.T) {
	if testing.Short() {
		t.Skip("property test")
	}
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		ct := &caseScope{TB: t}
		defer ct.close()
		w := newWorld(ct, "Kim")
		tablets := []*tablet{enrollTablet(ct, w.srv, "Kim"), enrollTablet(ct, w.srv, "Kim"), enrollTablet(ct, w.srv, "Kim")}
		for _, tb := range tablets {
			if _, err := tb.Sync(ctx); err != nil {
				rt.Fatal(err)
			}
		}
		var words []string
		steps := rapid.IntRange(5, 30).Draw(rt, "steps")
		for step := 0; step < steps; step++ {
			i := rapid.IntRange(0, len(tablets)-1).Draw(rt, "tablet")
			tb := tablets[i]
			switch rapid.IntRange(0, 6).Draw(rt, "action") {
			case 0, 1, 2: // write a unique word into a section, or an addendum once it is locked
				section := rapid.SampledFrom(propSections).Draw(rt, "section")
				word := fmt.Sprintf("w%dt%d", step, i)
				text := strings.TrimSpace(visibleSection(rt, tb, w.visitID, section) + " " + word)
				err := tb.SetReportSection(ctx, w.visitID, section, text)
				if syncer.ErrorCode(err) == syncer.CodeFailedPrecondition {
					_, err = tb.AddAddendum(ctx, w.visitID, section, word)
				}
				if err != nil {
					rt.Fatal(err)
				}
				words = append(words, word)
			case 3: // submit, unless this tablet already knows it is submitted
				if err := tb.Submit(ctx, w.visitID); err != nil && syncer.ErrorCode(err) != syncer.CodeFailedPrecondition {
					rt.Fatal(err)
				}
			case 4, 5: // sync, maybe losing responses
				tb.net.mu.Lock()
				tb.net.lose = rapid.IntRange(0, 4).Draw(rt, "lose") / 2
				tb.net.mu.Unlock()
				_, _ = tb.Sync(ctx)
				tb.net.mu.Lock()
				tb.net.lose = 0
				tb.net.mu.Unlock()
			case 6:
				tb.restart()
			}
		}

		quiesce(rt, tablets)

		want := w.serverDigest(ct)
		for i, tb := range tablets {
			if got, err := tb.Digest(ctx, w.caseID); err != nil || got != want {
				rt.Fatalf("tablet %d digest %s, server %s (%v)", i, got, want, err)
			}
		}
		kept := keptText(rt, tablets[0], w.visitID) + "\x00" + addendaText(rt, tablets[0], w.visitID)
		for _, word := range words {
			if !strings.Contains(kept, word) {
				rt.Fatalf("word %q was lost", word)
			}
		}
	})
}

func addendaText(rt *rapid.T, tb *tablet, visitID string) string {
	var b strings.Builder
	for _, v := range mustVisits(rt, tb) {
		if v.ID == visitID {
			for _, a := range v.Addenda {
				b.WriteString(a.Text + "\x00")
			}
		}
	}
	return b.String()
}

// propSections are the report sections the in-process property tests edit.
var propSections = []string{"interaction", "assessment"}

// quiesce syncs every tablet, without faults, until nothing is pending anywhere and a full round
// brings nothing new.
func quiesce(rt *rapid.T, tablets []*tablet) {
	ctx := context.Background()
	for round := 0; round < 10; round++ {
		quiet := true
		for _, tb := range tablets {
			r, err := tb.Sync(ctx)
			if err != nil {
				rt.Fatalf("sync while quiescing: %v", err)
			}
			if r.Pushed > 0 || r.Pulled > 0 {
				quiet = false
			}
		}
		if quiet {
			return
		}
	}
	rt.Fatal("tablets did not quiesce within 10 rounds")
}

func visibleSection(rt *rapid.T, tb *tablet, visitID, section string) string {
	for _, v := range mustVisits(rt, tb) {
		if v.ID != visitID {
			continue
		}
		for _, s := range v.Report {
			if s.Key == section {
				return s.Text
			}
		}
	}
	return ""
}

func mustVisits(rt *rapid.T, tb *tablet) []clientlib.Visit {
	visits, err := tb.Visits(context.Background())
	if err != nil {
		rt.Fatal(err)
	}
	return visits
}

// keptText is everything the tablet holds for a visit that a person wrote: sections, conflict
// sides and observations, NUL-separated.
func keptText(rt *rapid.T, tb *tablet, visitID string) string {
	var b strings.Builder
	b.WriteString("\x00")
	for _, v := range mustVisits(rt, tb) {
		if v.ID != visitID {
			continue
		}
		for _, s := range v.Report {
			b.WriteString(s.Text + "\x00")
		}
		for _, o := range v.Observations {
			b.WriteString(o.Text + "\x00")
		}
	}
	conflicts, err := tb.Conflicts(context.Background())
	if err != nil {
		rt.Fatal(err)
	}
	for _, c := range conflicts {
		if c.RecordType == syncer.TypeReport {
			b.WriteString(c.OtherValue + "\x00")
		}
	}
	return b.String()
}
