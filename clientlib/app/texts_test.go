package app

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// Every word a page asks for by a literal id is in the catalog in both languages (the catalog
// itself refuses a language missing an id), so no page shows an id instead of a word.
func TestEveryTextOnThePagesIsTranslated(t *testing.T) {
	langs, err := languages()
	if err != nil {
		t.Fatal(err)
	}
	ids, plurals := map[string]bool{}, map[string]bool{}
	literal := regexp.MustCompile(`\.T "([a-z_.]+)"`)
	plural := regexp.MustCompile(`\.N "([a-z_.]+)"`)
	err = fs.WalkDir(templateFiles, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(templateFiles, path)
		for _, m := range literal.FindAllStringSubmatch(string(b), -1) {
			ids[m[1]] = true
		}
		for _, m := range plural.FindAllStringSubmatch(string(b), -1) {
			plurals[m[1]] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"err.invalid", "err.notfound", "err.denied", "err.toolarge", "err.offline", "err.stale", "err.internal",
		"err.wiped", "err.locked", "err.wrongpin", "err.destroyed", "err.pinmissing", "err.csrf", "consent.missing", "submit.done",
		"sync.done", "conflict.resolved", "start.spent", "start.needed", "mark.incident", "mark.intervened", "mark.stopped"} {
		ids[key] = true
	}
	for _, sec := range []string{"context", "child_perspective", "follow_up"} {
		ids["section."+sec], ids["hint."+sec] = true, true
	}
	for _, item := range []string{"room_ready", "intervened", "report_written"} {
		ids["checklist."+item] = true
	}
	if len(ids) < 60 {
		t.Fatalf("only %d ids found on the pages", len(ids))
	}
	if len(plurals) < 3 {
		t.Fatalf("only %d plural ids found on the pages", len(plurals))
	}
	for _, l := range []string{danish, english} {
		for id := range plurals {
			if got := langs[l].N(id, 2); !strings.HasPrefix(got, "2 ") {
				t.Errorf("%s: plural %q has no text: %q", l, id, got)
			}
		}
		for id := range ids {
			if got := langs[l].T(id); got == id || strings.HasPrefix(got, "app.") {
				t.Errorf("%s: %q has no text", l, id)
			}
		}
	}
	if got := langs[danish].N("sync.pending", 1) + "|" + langs[danish].N("sync.pending", 3); got != "1 ikke sendt ændring|3 ikke sendte ændringer" {
		t.Errorf("plural: %q", got)
	}
	if got := langs[danish].T("checklist.room_ready"); !strings.HasPrefix(got, "Lokalet klar") {
		t.Errorf("a shared word is not the shared one: %q", got)
	}
	if got := langs[danish].When(1764600000000, 1764600000000); got != "i dag kl. "+langs[danish].Clock(1764600000000) {
		t.Errorf("today in Danish: %q", got)
	}
}
