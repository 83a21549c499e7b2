package server

import (
	"crypto/rand"
	"slices"
	"testing"

	"golang.org/x/crypto/nacl/box"
	"google.golang.org/protobuf/proto"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/internal/records"
	"github.com/samvaer/sync/syncer"
)

// renumbered is c sent again under seq, as a tablet renumbers after a restore, with receipt.
func renumbered(c *v1.Change, seq int64, receipt *v1.Receipt) *v1.Change {
	again := proto.Clone(c).(*v1.Change)
	again.DeviceSeq, again.Receipt = seq, receipt
	return again
}

// escrowed is c with its receipt sealed to the store's escrow key, sent under seq.
func escrowed(t *testing.T, s *Store, c *v1.Change, receipt *v1.Receipt, seq int64) *v1.Change {
	t.Helper()
	plain := must(proto.Marshal(renumbered(c, c.DeviceSeq, receipt)))
	sealed := must(box.SealAnonymous(nil, plain, (*[32]byte)(s.EscrowPublicKey()), rand.Reader))
	return &v1.Change{DeviceSeq: seq, Escrow: sealed}
}

// observationsIn are the observation texts the server holds in the fixture's case.
func (f *fixture) observationsIn() []string {
	f.t.Helper()
	var texts []string
	for _, r := range must(records.Query(f.ctx, f.store.read, f.store.sealer, `SELECT id, state FROM records WHERE case_id = ? AND type = ?`, f.caseID, syncer.TypeObservation)) {
		texts = append(texts, syncer.Value(r, "text"))
	}
	slices.Sort(texts)
	return texts
}

// Ane was assigned to the case after the newest backup and wrote in it; the server acknowledged
// it with receipts. Restored from that backup, the server no longer holds her writes nor her
// assignment: it takes them again when her tablet sends them with their receipts, plainly or
// sealed in escrow, and only them: a forged receipt, a receipt over other text and a receipt for
// a commit the server still holds grant nothing.
func TestRestoredServerRetakesWhatItsReceiptsName(t *testing.T) {
	f := newFixture(t)
	ane := f.enroll(must(f.store.AddUser(f.ctx, "Ane Konsulent", []string{"consultant"})))
	backup := backupStore(t, f.store, f.dir)
	mustDo(t, f.store.AssignCase(f.ctx, Actor{}, f.caseID, "Ane Konsulent", "consultant"))

	first, second := f.observation(1, "MARKER Ane ser Ida lege."), f.observation(2, "MARKER Ane ser Emil sove.")
	res := must(f.store.Push(f.ctx, ane, []*v1.Change{first, second}))
	for _, r := range res {
		if r.Result != v1.Result_RESULT_APPLIED || r.Receipt == nil || r.Receipt.ServerSeq != r.ServerSeq || r.Receipt.Mark == 0 || len(r.Receipt.Mac) != 32 {
			t.Fatalf("a change the server took is answered %v", r)
		}
	}
	retry := must(f.store.Push(f.ctx, ane, []*v1.Change{first}))
	if !proto.Equal(retry[0].Receipt, res[0].Receipt) {
		t.Fatalf("a retry's receipt %v differs from the first %v", retry[0].Receipt, res[0].Receipt)
	}

	// While the server holds the commit, a receipt lets no one back into the case.
	mustDo(t, f.store.UnassignCase(f.ctx, Actor{}, f.caseID, "Ane Konsulent"))
	again := must(f.store.Push(f.ctx, ane, []*v1.Change{renumbered(first, 3, res[0].Receipt)}))
	if again[0].Result != v1.Result_RESULT_REJECTED {
		t.Fatalf("a receipt for a commit the server holds let an unassigned consultant write: %v", again[0])
	}

	f.store.Close()
	restoreStore(t, f.dir, backup)
	f.store = MustOpenStore(t, f.dir, f.clock)
	if got := f.observationsIn(); len(got) != 0 {
		t.Fatalf("the restored server holds %q", got)
	}
	forged := proto.Clone(res[0].Receipt).(*v1.Receipt)
	forged.Mac[0] ^= 1
	otherText := renumbered(first, 2, res[0].Receipt)
	otherText.Fields[2].Value = "MARKER Ane skriver noget andet."
	got := must(f.store.Push(f.ctx, ane, []*v1.Change{
		renumbered(first, 1, forged),
		otherText,
		renumbered(first, 3, res[0].Receipt),
		escrowed(t, f.store, second, res[1].Receipt, 4),
	}))
	want := []v1.Result{v1.Result_RESULT_REJECTED, v1.Result_RESULT_REJECTED, v1.Result_RESULT_APPLIED, v1.Result_RESULT_APPLIED}
	for i, r := range got {
		if r.Result != want[i] {
			t.Fatalf("change %d sent again to the restored server: %v, want %v", r.DeviceSeq, r, want[i])
		}
	}
	if texts := f.observationsIn(); !slices.Equal(texts, []string{"MARKER Ane ser Emil sove.", "MARKER Ane ser Ida lege."}) {
		t.Fatalf("the restored server holds %q", texts)
	}
	if got[2].Receipt == nil || got[3].Receipt == nil {
		t.Fatal("changes taken again come without a receipt")
	}
	// Taken again, they still give Ane nothing of the case.
	page := must(f.store.Pull(f.ctx, ane, &v1.PullRequest{}))
	if len(page.Changes)+len(page.Snapshot) != 0 {
		t.Fatalf("an unassigned consultant pulls %d records", len(page.Changes)+len(page.Snapshot))
	}

	// A box the server cannot open is refused whole, with a sentence and nothing stored.
	head := f.head()
	_, err := f.store.Push(f.ctx, ane, []*v1.Change{{DeviceSeq: 5, Escrow: []byte("not a sealed box at all, 48 bytes or more long.")}})
	if syncer.ErrorCode(err) != syncer.CodeInvalid || f.head() != head {
		t.Fatalf("an escrow the server cannot open: %v (head %d, was %d)", err, f.head(), head)
	}
}
