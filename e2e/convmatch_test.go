package e2e

import (
	"slices"
	"strings"
	"testing"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
)

// The convergence checker's matching of a tablet's writes to the pushes it was answered, on the
// schedules a server restore makes (matchTabletPushes). The first is the one the property test
// found (seed 10458892984478540380): Ane's observation, refused since she had been unassigned
// from its case, was change 4 of a server whose backup held her changes up to 3; after the
// restore her next write, a report edit, was numbered 4. The checker took that for a sequence
// number accepted with two contents.
func TestPushMatchingFollowsARestoredServer(t *testing.T) {
	applied := func(seq, at int64) pushedResult {
		return pushedResult{Seq: seq, Result: v1.Result_RESULT_APPLIED, ServerSeq: at}
	}
	refused := func(seq int64) pushedResult {
		return pushedResult{Seq: seq, Result: v1.Result_RESULT_REJECTED, Reason: "not assigned"}
	}
	var push func(epoch int, pairs ...any) epochExchange
	change := func(seq int64, value string) pushedChange {
		return pushedChange{Seq: seq, Op: v1.Op_OP_UPDATE, Type: "report", Record: "r", Case: "c", Fields: map[string]string{"f": value}}
	}
	replay := func(epoch int, pairs ...any) epochExchange {
		x := push(epoch, pairs...)
		x.Replay = true
		return x
	}
	push = func(epoch int, pairs ...any) epochExchange {
		x := &pushExchange{}
		for i := 0; i < len(pairs); i += 2 {
			x.Changes = append(x.Changes, pairs[i].(pushedChange))
			x.Results = append(x.Results, pairs[i+1].(pushedResult))
		}
		return epochExchange{epoch, x}
	}
	writes := func(values ...string) []*convEdit {
		var es []*convEdit
		for _, v := range values {
			es = append(es, &convEdit{kind: "section", field: "f", value: v})
		}
		return es
	}
	matches := func(e *convEdit, c pushedChange) bool { return c.Fields["f"] == e.value }

	for _, tc := range []struct {
		name      string
		edits     []*convEdit
		exchanges []epochExchange
		held      int64
		want      []pushedResult // nil: the matching must fail with wantErr
		wantErr   string
		// restoredOnly: the writes only the restored server answered (no answer to them reached
		// the tablet before the restore); the others must not be.
		restoredOnly []int
	}{{
		name:  "a number after the restored server's last, freed by a refused change, names a later write",
		edits: writes("a", "b", "c", "d", "e"),
		exchanges: []epochExchange{
			push(0, change(1, "a"), applied(1, 10), change(2, "b"), refused(2), change(3, "c"), refused(3)),
			push(0, change(4, "d"), refused(4)),
			push(1, change(4, "e"), applied(4, 11)),
		},
		held:         3,
		want:         []pushedResult{applied(1, 10), refused(2), refused(3), refused(4), applied(4, 11)},
		restoredOnly: []int{4},
	}, {
		name:  "changes the restored server lost are sent again, renumbered past the refused one",
		edits: writes("a", "b", "c", "d"),
		exchanges: []epochExchange{
			push(0, change(1, "a"), applied(1, 10), change(2, "b"), refused(2), change(3, "c"), applied(3, 12)),
			push(1, change(2, "c"), applied(2, 11), change(3, "d"), applied(3, 13)),
		},
		held:         1,
		want:         []pushedResult{applied(1, 10), refused(2), applied(2, 11), applied(3, 13)},
		restoredOnly: []int{3},
	}, {
		name:  "a refused change whose answer the tablet did not settle is sent again",
		edits: writes("a", "b"),
		exchanges: []epochExchange{
			push(0, change(1, "a"), applied(1, 10), change(2, "b"), refused(2)),
			push(1, change(2, "b"), applied(2, 11)),
		},
		held: 1,
		want: []pushedResult{applied(1, 10), applied(2, 11)},
	}, {
		name:  "of two identical writes, the refused one is the dead letter",
		edits: writes("a", "t", "t"),
		exchanges: []epochExchange{
			push(0, change(1, "a"), applied(1, 10), change(2, "t"), refused(2), change(3, "t"), applied(3, 12)),
			push(1, change(2, "t"), applied(2, 11)),
		},
		held: 1,
		want: []pushedResult{applied(1, 10), refused(2), applied(2, 11)},
	}, {
		// Seed 852177655780412910: Kim's tick, pushed after the backup, came back to the restored
		// server in a stale push delivered late; his tablet rightly sent nothing again.
		name:  "a stale push delivered late gives the restored server back a change it lost",
		edits: writes("a", "b", "c"),
		exchanges: []epochExchange{
			push(0, change(1, "a"), applied(1, 10), change(2, "b"), applied(2, 11)),
			replay(1, change(2, "b"), applied(2, 14)),
			push(1, change(3, "c"), applied(3, 15)),
		},
		held:         1,
		want:         []pushedResult{applied(1, 10), applied(2, 14), applied(3, 15)},
		restoredOnly: []int{2},
	}, {
		// Seed 5454777149645316840: the restore took away Kim's assignment to a case, which her
		// tablet still held; what she wrote in it then was refused by the restored server only.
		// Her earlier write, answered before the restore and refused after it, is not such a
		// write: the checker must not excuse its refusal on that ground.
		name:  "a write only the restored server answered, and one it answered again",
		edits: writes("a", "b", "c"),
		exchanges: []epochExchange{
			push(0, change(1, "a"), applied(1, 10), change(2, "b"), applied(2, 11)),
			push(1, change(2, "b"), refused(2), change(3, "c"), refused(3)),
		},
		held:         1,
		want:         []pushedResult{applied(1, 10), refused(2), refused(3)},
		restoredOnly: []int{2},
	}, {
		name:  "a stale push delivered late applies again a change the tablet sent again renumbered",
		edits: writes("a", "b", "c"),
		exchanges: []epochExchange{
			push(0, change(1, "a"), applied(1, 10), change(2, "b"), refused(2), change(3, "c"), applied(3, 11)),
			push(1, change(2, "c"), applied(2, 14)),
			replay(1, change(3, "c"), applied(3, 15)),
		},
		held:    1,
		wantErr: "later writes are not its 2 changes answered since",
	}, {
		name:  "a stale push delivered late is answered otherwise than the first time",
		edits: writes("a"),
		exchanges: []epochExchange{
			push(0, change(1, "a"), applied(1, 10)),
			replay(0, change(1, "a"), applied(1, 12)),
		},
		held:    -1,
		wantErr: "on a retry",
	}, {
		name:  "one server incarnation accepted one number with two contents",
		edits: writes("a", "b"),
		exchanges: []epochExchange{
			push(0, change(1, "a"), applied(1, 10)),
			push(0, change(1, "b"), applied(1, 10)),
		},
		held:    -1,
		wantErr: "accepted with two contents",
	}, {
		name:  "the restored server accepted a number it held with other content",
		edits: writes("a", "b", "c"),
		exchanges: []epochExchange{
			push(0, change(1, "a"), applied(1, 10), change(2, "b"), applied(2, 11)),
			push(1, change(2, "c"), applied(2, 11)),
		},
		held:    2,
		wantErr: "which the restored server held",
	}, {
		name:  "a write the restored server lost and the server had not refused is not sent again",
		edits: writes("a", "b", "c"),
		exchanges: []epochExchange{
			push(0, change(1, "a"), applied(1, 10), change(2, "b"), applied(2, 11), change(3, "c"), applied(3, 12)),
			push(1, change(2, "c"), applied(2, 13)),
		},
		held:    1,
		wantErr: `not sent again: write 1 (section "b" on f)`,
	}, {
		name:  "a write sent again twice after the restore",
		edits: writes("a", "b"),
		exchanges: []epochExchange{
			push(0, change(1, "a"), applied(1, 10), change(2, "b"), applied(2, 11)),
			push(1, change(2, "b"), applied(2, 12), change(3, "b"), applied(3, 13)),
		},
		held:    1,
		wantErr: "later writes are not its 2 changes answered since",
	}, {
		name:  "without a restore, every number is one write",
		edits: writes("a", "b"),
		exchanges: []epochExchange{
			push(0, change(1, "a"), applied(1, 10)),
		},
		held:    -1,
		wantErr: "made 2 writes and the server answered 1",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := matchTabletPushes(tc.exchanges, tc.edits, tc.held, matches)
			if tc.want == nil {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("matched (%v, %+v), want an error saying %q", err, got, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range tc.want {
				if got[i].pushedResult != r {
					t.Errorf("write %d: answer %+v, want %+v", i, got[i], r)
				}
				if want := slices.Contains(tc.restoredOnly, i); got[i].restoredOnly != want {
					t.Errorf("write %d: answered only by the restored server: %v, want %v", i, got[i].restoredOnly, want)
				}
			}
		})
	}
}
