package i18n

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func mustCatalog(t *testing.T, files ...fstest.MapFS) *Catalog {
	t.Helper()
	c, err := NewCatalog(toFS(files)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDanishTimesInCopenhagen(t *testing.T) {
	c := mustCatalog(t)
	da := c.Localizer(nil)
	for _, tc := range []struct {
		utc             string
		dateTime, clock string
		date, day       string
	}{
		// Winter: UTC+1.
		{"2026-11-28T09:00:00Z", "lør. 28. nov. 2026 kl. 10.00", "10.00", "lør. 28. nov. 2026", "lør. 28. nov."},
		// Summer: UTC+2, and the month without a dot.
		{"2026-05-06T06:05:00Z", "ons. 6. maj 2026 kl. 08.05", "08.05", "ons. 6. maj 2026", "ons. 6. maj"},
		// Late evening UTC is the next day in Copenhagen.
		{"2026-12-31T23:30:00Z", "fre. 1. jan. 2027 kl. 00.30", "00.30", "fre. 1. jan. 2027", "fre. 1. jan."},
	} {
		at, err := time.Parse(time.RFC3339, tc.utc)
		if err != nil {
			t.Fatal(err)
		}
		if got := da.DateTime(at); got != tc.dateTime {
			t.Errorf("DateTime(%s) = %q, want %q", tc.utc, got, tc.dateTime)
		}
		if got := da.Clock(at); got != tc.clock {
			t.Errorf("Clock(%s) = %q, want %q", tc.utc, got, tc.clock)
		}
		if got := da.Date(at); got != tc.date {
			t.Errorf("Date(%s) = %q, want %q", tc.utc, got, tc.date)
		}
		if got := da.Day(at); got != tc.day {
			t.Errorf("Day(%s) = %q, want %q", tc.utc, got, tc.day)
		}
	}
	if got := da.Millis(0); got != "" {
		t.Errorf("Millis(0) = %q, want empty", got)
	}
	if got := da.Month(time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)); got != "marts 2026" {
		t.Errorf("Month = %q", got)
	}
}

func TestEnglishAndAnotherZone(t *testing.T) {
	c := mustCatalog(t)
	ny, err := LoadZone("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	en := c.Localizer(ny, "en")
	at := time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC)
	if got, want := en.DateTime(at), "Sat 28 Nov 2026, 10:00"; got != want {
		t.Errorf("DateTime = %q, want %q", got, want)
	}
	if en.Lang() != "en" || en.Zone() != ny {
		t.Errorf("Lang %q, zone %v", en.Lang(), en.Zone())
	}
	if got := en.T("kind.supervised"); got != "Supervised visit" {
		t.Errorf("T(kind.supervised) = %q", got)
	}
	if _, err := LoadZone("Mars/Olympus"); err == nil {
		t.Error("an unknown zone was accepted")
	}
}

func TestMatchPrefersTheFirstOfferedLanguage(t *testing.T) {
	c := mustCatalog(t)
	for _, tc := range []struct {
		prefs []string
		want  string
	}{
		{nil, "da"},
		{[]string{""}, "da"},
		{[]string{"en-GB,en;q=0.9"}, "en"},
		{[]string{"de-DE,de;q=0.9"}, "da"},           // not offered: the default
		{[]string{"de-DE, en;q=0.5"}, "en"},          // the first offered one in the header
		{[]string{"da", "en-US,en"}, "da"},           // a person's setting beats the browser
		{[]string{"", "en-US,en"}, "en"},             // no setting: the browser
		{[]string{"en", "da-DK"}, "en"},              // setting English on a Danish browser
		{[]string{"not a language!", "da-DK"}, "da"}, // garbage is skipped
		{[]string{"da-DK,da;q=0.9,en;q=0.8"}, "da"},  // regional Danish
	} {
		if got := c.Localizer(nil, tc.prefs...).Lang(); got != tc.want {
			t.Errorf("prefs %q: %s, want %s", tc.prefs, got, tc.want)
		}
	}
}

func TestComponentMessagesPluralsAndPairs(t *testing.T) {
	c := mustCatalog(t, fstest.MapFS{
		"messages/da.json": {Data: []byte(`{"greet": "Hej {{.Name}}", "visits": {"one": "{{.Count}} samvær uden konsulent", "other": "{{.Count}} samvær uden konsulent i {{.Week}}"}}`)},
		"messages/en.json": {Data: []byte(`{"greet": "Hello {{.Name}}", "visits": {"one": "{{.Count}} visit without a consultant", "other": "{{.Count}} visits without a consultant in {{.Week}}"}}`)},
	})
	da, en := c.Localizer(nil), c.Localizer(nil, "en")
	if got := da.T("greet", "Name", "Ida"); got != "Hej Ida" {
		t.Errorf("da greet = %q", got)
	}
	if got := en.N("visits", 1); got != "1 visit without a consultant" {
		t.Errorf("en one = %q", got)
	}
	if got := en.N("visits", 3, "Week", "week 48"); got != "3 visits without a consultant in week 48" {
		t.Errorf("en other = %q", got)
	}
	if !c.Has("greet") || c.Has("nope") {
		t.Error("Has is wrong")
	}
	if got := da.T("nope"); got != "nope" {
		t.Errorf("an unknown id gave %q", got)
	}
}

func TestCatalogRefusesGapsAndDoubles(t *testing.T) {
	for name, tc := range map[string]struct {
		files []fstest.MapFS
		want  string
	}{
		"missing in English": {[]fstest.MapFS{{"da.json": {Data: []byte(`{"only.da": "x"}`)}, "en.json": {Data: []byte(`{}`)}}}, "only.da"},
		"defined twice":      {[]fstest.MapFS{{"da.json": {Data: []byte(`{"role.admin": "x"}`)}, "en.json": {Data: []byte(`{"role.admin": "x"}`)}}}, "twice"},
		"not a language":     {[]fstest.MapFS{{"klingon.json": {Data: []byte(`{}`)}}}, "offered language"},
		"not offered":        {[]fstest.MapFS{{"de.json": {Data: []byte(`{}`)}}}, "offered language"},
		"broken JSON":        {[]fstest.MapFS{{"da.json": {Data: []byte(`{"a": `)}}}, "da.json"},
		"a topic file short": {[]fstest.MapFS{{"errors.da.json": {Data: []byte(`{"e.x": "x"}`)}, "errors.en.json": {Data: []byte(`{}`)}}}, "e.x"},
	} {
		_, err := NewCatalog(toFS(tc.files)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming %q", name, err, tc.want)
		}
	}
}

func TestSharedMessagesAreComplete(t *testing.T) {
	// Every weekday and month name exists in every language, or a date would show an id.
	c := mustCatalog(t)
	for _, ids := range [][]string{weekdayIDs[:], monthIDs[:], longMonthIDs[:]} {
		for _, id := range ids {
			if !c.Has(id) {
				t.Errorf("%s missing", id)
			}
		}
	}
	for _, tag := range Languages {
		l := c.Localizer(nil, tag.String())
		for d := time.Sunday; d <= time.Saturday; d++ {
			if s := l.Weekday(d); s == "" || strings.HasPrefix(s, "time.") {
				t.Errorf("%s: weekday %d is %q", tag, d, s)
			}
		}
	}
}

func toFS(ms []fstest.MapFS) []fs.FS {
	out := make([]fs.FS, len(ms))
	for i, m := range ms {
		out[i] = m
	}
	return out
}
