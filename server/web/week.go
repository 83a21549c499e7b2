package web

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/syncer"
)

// The coordinator's week: the visits of the cases they work on, by room and day, Monday to
// Sunday, with the weekend and today marked (many visits fall on weekends), and who covers each.
// A row is a room, since a room cannot hold two visits at once; every room the cases use has a
// row, so a free room shows as free. Visits with no room (a home visit, a playground) are under
// their place, in a part of their own: a place is not a room and may hold several visits.

// weekView is the week page's data.
type weekView struct {
	Start, Prev, Next, Today string // Mondays, and today, as 2006-01-02
	Days                     []weekDay
	Rooms                    []weekRow
	Places                   []weekRow
	Uncovered                int // visits with no consultant
	Consultants              []server.User
	Consultant               string // the filter: a consultant's user id, "" for all
	// List is the same week day by day, for a narrow screen: each day's visits and free rooms.
	List []weekListDay
}

type weekListDay struct {
	weekDay
	Visits []weekVisit
	Free   []string // rooms with no visit that day
}

type weekDay struct {
	Label          string
	Weekend, Today bool
}

type weekRow struct {
	Name string
	Days [][]weekVisit // one list per day, Monday first
}

type weekVisit struct {
	server.VisitSlot
	URL string // the visit on its case's page
}

func (p *Pages) week(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	l := p.localizer(r)
	loc := p.cfg.Location
	now := p.store.Now().In(loc)
	day := now
	q := r.URL.Query()
	if s := q.Get("from"); s != "" {
		d, err := time.ParseInLocation(time.DateOnly, s, loc)
		if err != nil {
			p.fail(w, r, sess, syncer.Errorf(syncer.CodeInvalid, "The week must be given as a date such as 2026-11-23.").With("error.week"))
			return
		}
		day = d
	}
	monday := time.Date(day.Year(), day.Month(), day.Day()-(int(day.Weekday())+6)%7, 0, 0, 0, 0, loc)
	next := monday.AddDate(0, 0, 7)
	cal, err := p.store.Calendar(r.Context(), sess.User.ID, monday.UnixMilli(), next.UnixMilli())
	if err != nil {
		p.fail(w, r, sess, err)
		return
	}
	users, err := p.store.Users(r.Context())
	if err != nil {
		p.fail(w, r, sess, err)
		return
	}
	v := weekView{Start: monday.Format(time.DateOnly), Prev: monday.AddDate(0, 0, -7).Format(time.DateOnly), Next: next.Format(time.DateOnly),
		Today: now.Format(time.DateOnly), Consultant: q.Get("consultant")}
	for _, u := range users {
		if slices.Contains(u.Roles, "consultant") {
			v.Consultants = append(v.Consultants, u)
		}
	}
	for i := range 7 {
		d := monday.AddDate(0, 0, i)
		v.Days = append(v.Days, weekDay{Label: l.Day(d), Weekend: d.Weekday() == time.Saturday || d.Weekday() == time.Sunday,
			Today: d.Format(time.DateOnly) == v.Today})
	}
	rooms, places := map[string]*weekRow{}, map[string]*weekRow{}
	for _, name := range cal.Rooms {
		rooms[name] = &weekRow{Name: name, Days: make([][]weekVisit, 7)}
	}
	for _, s := range cal.Visits {
		if v.Consultant != "" && s.ConsultantID != v.Consultant {
			continue
		}
		rows, name := rooms, s.Room
		if s.Room == "" {
			rows, name = places, cmp.Or(s.Place, l.T("week.no_place"))
		}
		row := rows[name]
		if row == nil {
			row = &weekRow{Name: name, Days: make([][]weekVisit, 7)}
			rows[name] = row
		}
		start := time.UnixMilli(s.StartMs).In(loc)
		i := int(time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, loc).Sub(monday).Hours()+12) / 24
		row.Days[i] = append(row.Days[i], weekVisit{VisitSlot: s, URL: "/cases/" + url.PathEscape(s.CaseID) + "#visit-" + s.ID})
		if s.ConsultantID == "" {
			v.Uncovered++
		}
	}
	sorted := func(rows map[string]*weekRow) []weekRow {
		var out []weekRow
		for _, row := range rows {
			out = append(out, *row)
		}
		slices.SortFunc(out, func(a, b weekRow) int { return cmp.Compare(a.Name, b.Name) })
		return out
	}
	v.Rooms, v.Places = sorted(rooms), sorted(places)
	for i, d := range v.Days {
		ld := weekListDay{weekDay: d}
		for _, row := range v.Rooms {
			if len(row.Days[i]) == 0 {
				ld.Free = append(ld.Free, row.Name)
			}
			ld.Visits = append(ld.Visits, row.Days[i]...)
		}
		for _, row := range v.Places {
			ld.Visits = append(ld.Visits, row.Days[i]...)
		}
		slices.SortFunc(ld.Visits, func(a, b weekVisit) int { return cmp.Compare(a.StartMs, b.StartMs) })
		v.List = append(v.List, ld)
	}
	p.render(w, r, "week", http.StatusOK, page{Title: l.T("week.title", "Week", weekNumber(monday), "Day", l.Date(monday)), Session: sess, Data: v})
}

// weekNumber is the ISO week number Danish calendars use.
func weekNumber(t time.Time) int {
	_, w := t.ISOWeek()
	return w
}
