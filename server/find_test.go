package server

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samvaer/sync/syncer"
)

// A case reference names one case: a second case with the same reference (also with other
// letter case or surrounding space) is refused with AlreadyExists and nothing is stored, also
// when two admins add it at the same moment.
func TestADuplicateCaseReferenceIsRefused(t *testing.T) {
	f := newFixture(t)
	nc := NewCase{Children: []string{"MARKER-child Emil"}, Caseworker: "Sara Caseworker", Reference: "2026-0042"}
	first := must(f.store.AddCase(f.ctx, nc))
	before := must(f.store.Cases(f.ctx))
	for _, ref := range []string{"2026-0042", " 2026-0042 ", "2026-0042"} {
		nc.Reference = ref
		_, err := f.store.AddCase(f.ctx, nc)
		if syncer.ErrorCode(err) != syncer.CodeAlreadyExists || !strings.Contains(err.Error(), "2026-0042") || strings.Contains(err.Error(), "MARKER") {
			t.Fatalf("a duplicate reference %q: %v", ref, err)
		}
	}
	// The RPC's CreateCase goes through the same rule.
	_, err := f.store.CreateCase(f.ctx, Identity{UserID: must(f.store.UserByName(f.ctx, "Sara Caseworker")).ID, Roles: []string{"caseworker"}},
		NewCase{Children: []string{"MARKER-child"}, Reference: "2026-0042"})
	if syncer.ErrorCode(err) != syncer.CodeAlreadyExists {
		t.Fatalf("CreateCase with a duplicate reference: %v", err)
	}
	if after := must(f.store.Cases(f.ctx)); len(after) != len(before) {
		t.Fatalf("cases after refusals: %d, before %d", len(after), len(before))
	}
	if id := must(f.store.FindCase(f.ctx, "2026-0042")); id != first {
		t.Fatalf("the reference names %s, want %s", id, first)
	}
	// Cases without a reference are many.
	nc.Reference = ""
	must(f.store.AddCase(f.ctx, nc))
	must(f.store.AddCase(f.ctx, nc))

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.store.AddCase(f.ctx, NewCase{Children: []string{"MARKER-child"}, Caseworker: "Sara Caseworker", Reference: "2026-0777"})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		switch syncer.ErrorCode(err) {
		case "":
			ok++
		case syncer.CodeAlreadyExists:
		default:
			t.Fatalf("a concurrent add: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d concurrent adds of one reference succeeded; want 1", ok)
	}
}

// A device carries the name a person chose at enrollment: a missing name or one with a line
// break is refused with a sentence, and the code stays usable for a proper try.
func TestADeviceIsEnrolledWithTheNameAPersonChose(t *testing.T) {
	f := newFixture(t)
	code, _, err := f.store.NewEnrollmentCode(f.ctx, "Kim Consultant")
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	for _, name := range []string{"", "   ", "iPad\nTeam Nord", strings.Repeat("x", 101)} {
		if _, _, err := f.store.Enroll(f.ctx, code, pub, name); syncer.ErrorCode(err) != syncer.CodeInvalid || !strings.Contains(err.Error(), "name") {
			t.Fatalf("enroll with the name %q: %v", name, err)
		}
	}
	id, _, err := f.store.Enroll(f.ctx, code, pub, "  iPad 3, Team Nord ")
	if err != nil {
		t.Fatalf("the code after refused names: %v", err)
	}
	d := must(f.store.Device(f.ctx, id))
	if d.Name != "iPad 3, Team Nord" {
		t.Fatalf("device name %q", d.Name)
	}
	if got := must(f.store.FindDevice(f.ctx, "ipad 3, team nord")); got != id {
		t.Fatalf("the device by its name: %s", got)
	}
}

// BenchmarkCaseReferenceCheck measures adding a case with a reference to a store of 1,000 cases
// (the check unseals every case's state in the write transaction) against adding one without a
// reference (no check), in the same run.
func BenchmarkCaseReferenceCheck(b *testing.B) {
	f := newFixture(b)
	for i := range 1000 {
		must(f.store.AddCase(f.ctx, NewCase{Children: []string{"MARKER-child"}, Caseworker: "Sara Caseworker", Reference: fmt.Sprintf("2026-%05d", i)}))
	}
	var t [2]time.Duration
	for i := 0; b.Loop(); i++ {
		for j, ref := range []string{"", fmt.Sprintf("2027-%05d", i)} {
			start := time.Now()
			must(f.store.AddCase(f.ctx, NewCase{Children: []string{"MARKER-child"}, Caseworker: "Sara Caseworker", Reference: ref}))
			t[j] += time.Since(start)
		}
	}
	b.ReportMetric(float64(t[1].Microseconds())/float64(b.N), "µs/add-with-reference")
	b.ReportMetric(float64(t[0].Microseconds())/float64(b.N), "µs/add-without")
	b.ReportMetric(t[1].Seconds()/t[0].Seconds(), "ratio-reference-vs-none")
}
