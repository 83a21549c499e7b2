package web

import (
	"cmp"
	"net/http"
	"slices"
	"time"

	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/syncer"
)

// The coordinator's week: the visits of the cases they work on, by room and day, Monday to
// Sunday, with the weekend marked (many visits fall on weekends), and who covers each. A row is a
// room, since a room cannot hold two visits at once; a visit with no room is under its place.

// weekView is the week page's data.
type weekView struct {
	Start, Prev, Next string // Mondays, as 2006-01-02
	Days              []weekDay
	Rooms             []weekRoom
	Uncovered         int // visits with no consultant
}

type weekDay struct {
	Label   string
	Weekend bool
}

type weekRoom struct {
	Name string               // the room, or the place of visits with no room
	Days [][]server.VisitSlot // one list per day, Monday first
}

func (p *Pages) week(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	loc := p.cfg.Location
	day := time.Now().In(loc)
	if s := r.URL.Query().Get("from"); s != "" {
		d, err := time.ParseInLocation(time.DateOnly, s, loc)
		if err != nil {
			p.fail(w, r, sess, syncer.Errorf(syncer.CodeInvalid, "The week must be given as a date such as 2026-11-23."))
			return
		}
		day = d
	}
	monday := time.Date(day.Year(), day.Month(), day.Day()-(int(day.Weekday())+6)%7, 0, 0, 0, 0, loc)
	next := monday.AddDate(0, 0, 7)
	slots, err := p.store.VisitsBetween(r.Context(), sess.User.ID, monday.UnixMilli(), next.UnixMilli())
	if err != nil {
		p.fail(w, r, sess, err)
		return
	}
	v := weekView{Start: monday.Format(time.DateOnly), Prev: monday.AddDate(0, 0, -7).Format(time.DateOnly), Next: next.Format(time.DateOnly)}
	for i := range 7 {
		d := monday.AddDate(0, 0, i)
		v.Days = append(v.Days, weekDay{Label: d.Format("Mon 2 Jan"), Weekend: d.Weekday() == time.Saturday || d.Weekday() == time.Sunday})
	}
	rooms := map[string]*weekRoom{}
	for _, s := range slots {
		name := cmp.Or(s.Room, s.Place)
		room := rooms[name]
		if room == nil {
			room = &weekRoom{Name: name, Days: make([][]server.VisitSlot, 7)}
			rooms[name] = room
		}
		start := time.UnixMilli(s.StartMs).In(loc)
		i := int(time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, loc).Sub(monday).Hours()+12) / 24
		room.Days[i] = append(room.Days[i], s)
		if s.ConsultantID == "" {
			v.Uncovered++
		}
	}
	for _, room := range rooms {
		v.Rooms = append(v.Rooms, *room)
	}
	slices.SortFunc(v.Rooms, func(a, b weekRoom) int { return cmp.Compare(a.Name, b.Name) })
	p.render(w, r, "week", http.StatusOK, page{Title: "Week of " + v.Days[0].Label, Session: sess, Data: v})
}
