package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/samvaer/sync/clientlib"
	"github.com/samvaer/sync/syncer"
)

// TestMain lets RAPID_CHECKS set the number of property test cases (make test: a moderate
// number; make test-long: many more).
func TestMain(m *testing.M) {
	flag.Parse()
	if n := os.Getenv("RAPID_CHECKS"); n != "" {
		if err := flag.Set("rapid.checks", n); err != nil {
			fmt.Fprintln(os.Stderr, "RAPID_CHECKS:", err)
			os.Exit(2)
		}
	}
	os.Exit(m.Run())
}

var (
	propSections = []string{"interaction", "assessment"}
	propItems    = []string{"room_ready", "conditions_kept"}
)

// TestConvergenceProperty drives random schedules over three tablets and the server: offline
// edits to the same report sections, checklist items and observations; pushes whose responses
// are lost, stale pushes replayed late; tablets killed between a local write and its push; server
// restarts. Then every tablet syncs until quiet, and:
//   - every tablet's digest of the case equals the server's;
//   - every observation is there;
//   - every word any tablet inserted into a report section is still there, in the section's text
//     or in a conflict record (edits only insert unique words, so a missing one is a lost edit).
func TestConvergenceProperty(t *testing.T) {
	if testing.Short() {
		t.Skip("property test")
	}
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		// Each case closes its server and tablets when it ends, not when the whole test does:
		// thousands of cases would otherwise run out of file descriptors.
		ct := &caseScope{TB: t}
		defer ct.close()
		w := newWorld(ct, "Kim")
		tablets := []*tablet{enrollTablet(ct, w.srv, "Kim"), enrollTablet(ct, w.srv, "Kim"), enrollTablet(ct, w.srv, "Kim")}
		for _, tb := range tablets {
			if _, err := tb.Sync(ctx); err != nil {
				rt.Fatal(err)
			}
		}
		var words, observations []string
		steps := rapid.IntRange(5, 40).Draw(rt, "steps")
		for step := 0; step < steps; step++ {
			i := rapid.IntRange(0, len(tablets)-1).Draw(rt, "tablet")
			tb := tablets[i]
			switch rapid.IntRange(0, 9).Draw(rt, "action") {
			case 0, 1, 2: // insert a unique word into a section, at a drawn position
				section := rapid.SampledFrom(propSections).Draw(rt, "section")
				word := fmt.Sprintf("w%dt%d", step, i)
				cur := visibleSection(rt, tb, w.visitID, section)
				parts := strings.Fields(cur)
				at := rapid.IntRange(0, len(parts)).Draw(rt, "at")
				parts = append(parts[:at], append([]string{word}, parts[at:]...)...)
				if err := tb.SetReportSection(ctx, w.visitID, section, strings.Join(parts, " ")); err != nil {
					rt.Fatal(err)
				}
				words = append(words, word)
			case 3: // tick or untick
				item := rapid.SampledFrom(propItems).Draw(rt, "item")
				if err := tb.Check(ctx, w.visitID, item, rapid.Bool().Draw(rt, "checked")); err != nil {
					rt.Fatal(err)
				}
			case 4: // observe
				text := fmt.Sprintf("obs-%d-%d", step, i)
				if _, err := tb.Observe(ctx, w.visitID, text); err != nil {
					rt.Fatal(err)
				}
				observations = append(observations, text)
			case 5, 6: // sync, maybe losing responses (the tablet retries once, so two in a row fail the sync)
				tb.net.mu.Lock()
				tb.net.lose = rapid.IntRange(0, 4).Draw(rt, "lose") / 2
				tb.net.mu.Unlock()
				_, _ = tb.Sync(ctx) // a lost response is an error the next sync recovers from
				tb.net.mu.Lock()
				tb.net.lose = 0
				tb.net.mu.Unlock()
			case 7: // a stale push arrives again, late and out of order
				tb.net.replay(rapid.IntRange(0, 100).Draw(rt, "replay"))
			case 8: // the app is killed: whatever was written locally must survive
				tb.restart()
			case 9:
				if rapid.IntRange(0, 2).Draw(rt, "restart server") == 0 {
					w.srv.restart()
				}
			}
		}

		quiesce(rt, tablets)

		want := w.serverDigest(ct)
		for i, tb := range tablets {
			got, err := tb.Digest(ctx, w.caseID)
			if err != nil {
				rt.Fatal(err)
			}
			if got != want {
				rt.Fatalf("tablet %d digest %s, server %s", i, got, want)
			}
		}
		// Converged, so checking one tablet checks them all.
		kept := keptText(rt, tablets[0], w.visitID)
		for _, o := range observations {
			if !strings.Contains(kept, "\x00"+o+"\x00") {
				rt.Fatalf("observation %q was lost", o)
			}
		}
		for _, word := range words {
			if !strings.Contains(kept, word) {
				rt.Fatalf("word %q written into a section was lost", word)
			}
		}
	})
}

// caseScope runs the cleanups registered during one property-test case when that case ends.
type caseScope struct {
	testing.TB
	cleanups []func()
}

func (c *caseScope) Cleanup(f func()) { c.cleanups = append(c.cleanups, f) }

func (c *caseScope) close() {
	for i := len(c.cleanups) - 1; i >= 0; i-- {
		c.cleanups[i]()
	}
}

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
