package app

import (
	"embed"
	"strings"
	"sync"
	"time"

	"github.com/samvaer/sync/internal/i18n"
)

// The words the app shows are messages/da.json and messages/en.json (ids "app.…"), joined with
// internal/i18n's shared words (report sections, checklist items, visit kinds, report states,
// phases) and its one way of writing times, so the app reads like the pages and the PDF.

//go:embed messages/*.json
var messageFiles embed.FS

// The page languages: Danish by default, English on request.
const (
	danish  = "da"
	english = "en"
)

// Lang speaks one page language, with times in Europe/Copenhagen.
type Lang struct {
	*i18n.Localizer
	cat *i18n.Catalog
	// fixed holds the texts of ids without data, by id: a page asks for the same words once per
	// row (a visit's page has hundreds of observations), and each ask of the catalog runs its
	// language matching and template.
	fixed *sync.Map
}

// languages makes the app's speakers from its catalog.
func languages() (map[string]Lang, error) {
	cat, err := i18n.NewCatalog(messageFiles)
	if err != nil {
		return nil, err
	}
	zone, err := i18n.LoadZone("")
	if err != nil {
		return nil, err
	}
	return map[string]Lang{
		danish:  {Localizer: cat.Localizer(zone, danish), cat: cat, fixed: &sync.Map{}},
		english: {Localizer: cat.Localizer(zone, english), cat: cat, fixed: &sync.Map{}},
	}, nil
}

// sharedPrefixes are the ids internal/i18n defines for every door.
var sharedPrefixes = []string{"section.", "kind.", "state.", "phase.", "checklist."}

// T is the text for an app id (without its "app." prefix) or a shared one (section.…, kind.…,
// state.…, phase.…, checklist.…). A checklist item the shared words do not name is the app's.
func (l Lang) T(id string, pairs ...any) string {
	if len(pairs) == 0 && l.fixed != nil {
		if s, ok := l.fixed.Load(id); ok {
			return s.(string)
		}
		s := l.t(id)
		if l.cat.Has(id) || l.cat.Has("app."+id) { // bounded by the catalog
			l.fixed.Store(id, s)
		}
		return s
	}
	return l.t(id, pairs...)
}

func (l Lang) t(id string, pairs ...any) string {
	for _, p := range sharedPrefixes {
		if strings.HasPrefix(id, p) && l.cat.Has(id) {
			return l.Localizer.T(id, pairs...)
		}
	}
	return l.Localizer.T("app."+id, pairs...)
}

// N is the app's plural message id for count.
func (l Lang) N(id string, count int) string { return l.Localizer.N("app."+id, count) }

// Date is a day: "tirs. 1. dec. 2026".
func (l Lang) Date(ms int64) string {
	if ms == 0 {
		return ""
	}
	return l.Localizer.Date(time.UnixMilli(ms))
}

// Clock is a time of day: "14.05" (Danish), "14:05" (English).
func (l Lang) Clock(ms int64) string {
	if ms == 0 {
		return ""
	}
	return l.Localizer.Clock(time.UnixMilli(ms))
}

// When is a day and a time, the day said as today, tomorrow or yesterday when it is one of them.
func (l Lang) When(ms, nowMs int64) string {
	if ms == 0 {
		return ""
	}
	zone := l.Zone()
	at, today := time.UnixMilli(ms).In(zone), time.UnixMilli(nowMs).In(zone)
	sameDay := func(a, b time.Time) bool { return a.Year() == b.Year() && a.YearDay() == b.YearDay() }
	clock := l.Clock(ms)
	switch {
	case sameDay(at, today):
		return l.T("when.today", "Clock", clock)
	case sameDay(at, today.AddDate(0, 0, 1)):
		return l.T("when.tomorrow", "Clock", clock)
	case sameDay(at, today.AddDate(0, 0, -1)):
		return l.T("when.yesterday", "Clock", clock)
	}
	return l.Localizer.DateTime(at)
}

// dayBounds are the Unix milliseconds of the start of today and of tomorrow where she is.
func (l Lang) dayBounds(now time.Time) (start, end int64) {
	t := now.In(l.Zone())
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, l.Zone())
	return d.UnixMilli(), d.AddDate(0, 0, 1).UnixMilli()
}
