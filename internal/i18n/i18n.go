// Package i18n is the product's languages and its one time zone: the words people see (Danish by
// default, English on request) and the way times are written ("lør. 28. nov. 2026 kl. 10.00").
// The web pages, the PDF, the command line and the app use it, so a time or a word reads the same
// through every door.
//
// Messages live in JSON files named by language (da.json, en.json, or errors.da.json and so on when
// a component keeps several) in the style of
// github.com/nicksnyder/go-i18n: an id maps to a text/template string, or to plural forms
// ("one", "other"). Each component keeps its own files and embeds them; NewCatalog joins them
// with this package's shared messages (roles, visit kinds, report states, dates) and refuses an
// id defined twice or a language missing an id another language has, so a missing translation
// fails at start and in tests rather than showing an id to a person.
//
//	//go:embed messages
//	var messages embed.FS
//	cat, err := i18n.NewCatalog(messages)           // at start
//	loc := cat.Localizer(zone, setting, r.Header.Get("Accept-Language"))
//	loc.T("inbox.title")                              // "Indbakke"
//	loc.T("inbox.count", "Count", 3)                  // data as name/value pairs
//	loc.N("week.uncovered", 2)                        // plural by count
//	loc.DateTime(t)                                   // "lør. 28. nov. 2026 kl. 10.00"
//
// It imports nothing of ours.
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // the configured zone resolves on any machine, also without system zone data

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

// Danish is the default language; English is the other one offered.
var (
	Danish  = language.Danish
	English = language.English
)

// Languages are the languages offered, the default first.
var Languages = []language.Tag{Danish, English}

// DefaultZone is the zone every time is shown in unless configured otherwise.
const DefaultZone = "Europe/Copenhagen"

// LoadZone resolves a configured zone name; "" means DefaultZone.
func LoadZone(name string) (*time.Location, error) {
	if name == "" {
		name = DefaultZone
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w", name, err)
	}
	return loc, nil
}

//go:embed messages/*.json
var shared embed.FS

// Catalog holds the messages of a component in every offered language. It is safe for concurrent
// use.
type Catalog struct {
	bundle  *goi18n.Bundle
	matcher language.Matcher
	ids     map[string]bool
}

// NewCatalog builds a catalog from this package's shared messages and those in each of files: every
// "<language>.json" or "<topic>.<language>.json" in the root of an fs.FS (or in its "messages"
// directory). Every offered
// language must define every id, and no id may be defined twice.
func NewCatalog(files ...fs.FS) (*Catalog, error) {
	c := &Catalog{bundle: goi18n.NewBundle(Danish), matcher: language.NewMatcher(Languages), ids: map[string]bool{}}
	perLang := map[language.Tag]map[string]bool{}
	for _, tag := range Languages {
		perLang[tag] = map[string]bool{}
	}
	for _, fsys := range append([]fs.FS{shared}, files...) {
		names, err := fs.Glob(fsys, "*.json")
		if err != nil {
			return nil, err
		}
		more, err := fs.Glob(fsys, "messages/*.json")
		if err != nil {
			return nil, err
		}
		for _, name := range append(names, more...) {
			base := strings.TrimSuffix(path.Base(name), ".json")
			tag, err := language.Parse(base[strings.LastIndex(base, ".")+1:])
			if err != nil || perLang[tag] == nil {
				return nil, fmt.Errorf("message file %s: not named by an offered language (da.json, en.json, errors.da.json)", name)
			}
			buf, err := fs.ReadFile(fsys, name)
			if err != nil {
				return nil, err
			}
			msgs, err := c.bundle.ParseMessageBytes(tag, buf, json.Unmarshal)
			if err != nil {
				return nil, fmt.Errorf("message file %s: %w", name, err)
			}
			for _, m := range msgs {
				if perLang[tag][m.ID] {
					return nil, fmt.Errorf("message file %s: %q is defined twice", name, m.ID)
				}
				perLang[tag][m.ID] = true
				c.ids[m.ID] = true
			}
			if err := c.bundle.AddMessages(tag, msgs...); err != nil {
				return nil, fmt.Errorf("message file %s: %w", name, err)
			}
		}
	}
	for _, tag := range Languages {
		var missing []string
		for id := range c.ids {
			if !perLang[tag][id] {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			slices.Sort(missing)
			return nil, fmt.Errorf("messages in %s missing: %s", tag, strings.Join(missing, ", "))
		}
	}
	return c, nil
}

// Has reports whether id is a message of the catalog.
func (c *Catalog) Has(id string) bool { return c.ids[id] }

// Match picks the offered language for a person: the first preference that names an offered
// language wins; each preference is a language setting ("da", "en") or an Accept-Language
// header. With none, or none that matches, it is Danish.
func (c *Catalog) Match(prefs ...string) language.Tag {
	for _, pref := range prefs {
		tags, _, err := language.ParseAcceptLanguage(pref)
		if err != nil || len(tags) == 0 {
			continue
		}
		if _, i, conf := c.matcher.Match(tags...); conf >= language.High {
			return Languages[i]
		}
	}
	return Danish
}

// Localizer returns the words and time formats for a person: the language chosen by Match(prefs...),
// times in zone (nil means DefaultZone).
func (c *Catalog) Localizer(zone *time.Location, prefs ...string) *Localizer {
	tag := c.Match(prefs...)
	if zone == nil {
		zone, _ = LoadZone("") // embedded tzdata: cannot fail
	}
	return &Localizer{cat: c, tag: tag, loc: goi18n.NewLocalizer(c.bundle, tag.String()), zone: zone}
}

// Localizer speaks one language in one zone. It is safe for concurrent use.
type Localizer struct {
	cat  *Catalog
	tag  language.Tag
	loc  *goi18n.Localizer
	zone *time.Location
}

// Lang is the language as a BCP 47 tag, for an HTML lang attribute or a Content-Language header.
func (l *Localizer) Lang() string { return l.tag.String() }

// Has reports whether id is a message of the localizer's catalog.
func (l *Localizer) Has(id string) bool { return l.cat.Has(id) }

// Zone is the zone times are shown in.
func (l *Localizer) Zone() *time.Location { return l.zone }

// T is the message id in the localizer's language, its template filled from name/value pairs
// ("Name", "Ida", "Count", 2). An unknown id gives the id itself, which tests catch (see Has).
func (l *Localizer) T(id string, pairs ...any) string { return l.localize(id, nil, pairs) }

// N is the plural message id for count (its "one" or "other" form); the template sees .Count
// besides the pairs.
func (l *Localizer) N(id string, count int, pairs ...any) string {
	return l.localize(id, count, append([]any{"Count", count}, pairs...))
}

func (l *Localizer) localize(id string, count any, pairs []any) string {
	data := make(map[string]any, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		if k, ok := pairs[i].(string); ok {
			data[k] = pairs[i+1]
		}
	}
	s, err := l.loc.Localize(&goi18n.LocalizeConfig{MessageID: id, TemplateData: data, PluralCount: count})
	if err != nil {
		return id
	}
	return s
}

// The ways a time is written. In Danish: "lør. 28. nov. 2026 kl. 10.00", "lør. 28. nov. 2026",
// "lør. 28. nov.", "10.00"; in English "Sat 28 Nov 2026, 10:00" and so on.

// DateTime writes a moment as weekday, date and clock time.
func (l *Localizer) DateTime(t time.Time) string { return l.format("time.datetime", t) }

// Date writes a moment's day with its weekday.
func (l *Localizer) Date(t time.Time) string { return l.format("time.date", t) }

// Day writes a moment's day without the year ("lør. 28. nov."), for a week's columns.
func (l *Localizer) Day(t time.Time) string { return l.format("time.day", t) }

// Clock writes a moment's clock time ("10.00").
func (l *Localizer) Clock(t time.Time) string { return l.format("time.clock", t) }

// Month writes a month and year ("november 2026").
func (l *Localizer) Month(t time.Time) string { return l.format("time.month", t) }

// Weekday is the short name of a day ("lør.").
func (l *Localizer) Weekday(d time.Weekday) string { return l.T(weekdayIDs[d]) }

// Millis is a Unix-milliseconds time (the stored form) as DateTime; 0 is "".
func (l *Localizer) Millis(ms int64) string {
	if ms == 0 {
		return ""
	}
	return l.DateTime(time.UnixMilli(ms))
}

var weekdayIDs = [...]string{"time.sun", "time.mon", "time.tue", "time.wed", "time.thu", "time.fri", "time.sat"}

var monthIDs = [...]string{"time.jan", "time.feb", "time.mar", "time.apr", "time.may", "time.jun",
	"time.jul", "time.aug", "time.sep", "time.oct", "time.nov", "time.dec"}

var longMonthIDs = [...]string{"time.january", "time.february", "time.march", "time.april", "time.may_long",
	"time.june", "time.july", "time.august", "time.september", "time.october", "time.november", "time.december"}

func (l *Localizer) format(id string, t time.Time) string {
	t = t.In(l.zone)
	return l.T(id,
		"Weekday", l.T(weekdayIDs[t.Weekday()]),
		"Day", t.Day(),
		"Month", l.T(monthIDs[t.Month()-1]),
		"LongMonth", l.T(longMonthIDs[t.Month()-1]),
		"Year", t.Year(),
		"Hour", fmt.Sprintf("%02d", t.Hour()),
		"Minute", fmt.Sprintf("%02d", t.Minute()),
	)
}
