package server

import (
	"cmp"
	"context"
	"database/sql"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/samvaer/sync/internal/records"
	"github.com/samvaer/sync/syncer"
)

// VisitSlot is a planned visit as a coordinator plans the week: when, where and who covers it.
// It holds no child's or parent's name.
type VisitSlot struct {
	ID             string `json:"id"`
	CaseID         string `json:"case_id"`
	CaseReference  string `json:"case_reference"`
	Kind           string `json:"kind"`
	Place          string `json:"place"`
	Room           string `json:"room"`
	StartMs        int64  `json:"start_ms"`
	EndMs          int64  `json:"end_ms"`
	ConsultantID   string `json:"consultant_id"`
	ConsultantName string `json:"consultant_name"`
}

// VisitsBetween lists the visits starting in [fromMs, toMs) in the cases userID works on, by
// start time.
func (s *Store) VisitsBetween(ctx context.Context, userID string, fromMs, toMs int64) ([]VisitSlot, error) {
	c, err := s.Calendar(ctx, userID, fromMs, toMs)
	return c.Visits, err
}

// Calendar is a stretch of time as a coordinator plans it.
type Calendar struct {
	Visits []VisitSlot // starting in the stretch, by start time
	// Rooms are every room a visit in the person's cases was ever booked in, sorted, so a week
	// shows the rooms that are free too.
	Rooms []string
}

// Calendar lists the visits starting in [fromMs, toMs) in the cases userID works on, and the rooms
// those cases use.
func (s *Store) Calendar(ctx context.Context, userID string, fromMs, toMs int64) (Calendar, error) {
	var out []VisitSlot
	rooms := map[string]bool{}
	err := s.db.ReadTx(ctx, func(tx *sql.Tx) error {
		cases, err := casesOf(ctx, tx, userID)
		if err != nil {
			return err
		}
		names := map[string]string{}
		refs := map[string]string{}
		for _, caseID := range cases {
			visits, err := records.Query(ctx, tx, s.sealer, `SELECT id, state FROM records WHERE case_id = ? AND type = ?`, caseID, syncer.TypeVisit)
			if err != nil {
				return err
			}
			for _, v := range visits {
				start, _ := strconv.ParseInt(syncer.Value(v, "start_ms"), 10, 64)
				end, _ := strconv.ParseInt(syncer.Value(v, "end_ms"), 10, 64)
				if v.Deleted {
					continue
				}
				if room := syncer.Value(v, "room"); room != "" {
					rooms[room] = true
				}
				if start < fromMs || start >= toMs {
					continue
				}
				slot := VisitSlot{ID: v.Record.Id, CaseID: caseID, Kind: syncer.Value(v, "kind"), Place: syncer.Value(v, "place"),
					Room:    syncer.Value(v, "room"),
					StartMs: start, EndMs: end, ConsultantID: syncer.Value(v, "consultant")}
				if _, ok := refs[caseID]; !ok {
					c, err := records.Load(ctx, tx, s.sealer, caseID)
					if err != nil {
						return err
					}
					refs[caseID] = syncer.Value(c, "reference")
				}
				slot.CaseReference = refs[caseID]
				if _, ok := names[slot.ConsultantID]; !ok {
					names[slot.ConsultantID] = consultantName(ctx, tx, slot.ConsultantID)
				}
				slot.ConsultantName = names[slot.ConsultantID]
				out = append(out, slot)
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b VisitSlot) int {
		return cmp.Or(cmp.Compare(a.StartMs, b.StartMs), strings.Compare(a.ID, b.ID))
	})
	return Calendar{Visits: out, Rooms: slices.Sorted(maps.Keys(rooms))}, err
}

func consultantName(ctx context.Context, q querier, id string) string {
	if id == "" {
		return ""
	}
	u, err := userByName(ctx, q, id)
	if err != nil {
		return "" // a user no longer known: the page says so in its own words
	}
	return u.Name
}
