package web

import (
	"embed"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/samvaer/sync/internal/i18n"
	"github.com/samvaer/sync/syncer"
)

// The pages speak Danish unless the person chose English (the language cookie, set from the
// footer) or, without a choice, their browser asks for English first. Every time is shown in the
// one configured zone.

//go:embed messages/*.json
var messageFiles embed.FS

// LangCookie holds a person's choice of language on this browser ("da" or "en").
const LangCookie = "samvaer_lang"

// localizer is the language and zone for a request.
func (p *Pages) localizer(r *http.Request) *i18n.Localizer {
	choice := ""
	if c, err := r.Cookie(LangCookie); err == nil {
		choice = c.Value
	}
	return p.cat.Localizer(p.cfg.Location, choice, r.Header.Get("Accept-Language"))
}

// setLanguage keeps a person's choice of language on this browser for a year and sends them
// back to the page they came from.
func (p *Pages) setLanguage(w http.ResponseWriter, r *http.Request) {
	lang := p.cat.Match(r.PostFormValue("lang"))
	http.SetCookie(w, &http.Cookie{Name: LangCookie, Value: lang.String(), Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, Secure: p.cfg.Secure, SameSite: http.SameSiteStrictMode})
	back := r.PostFormValue("back")
	if !localPath(back) {
		back = "/"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// localPath reports whether s is a path on this site (not another site's address).
func localPath(s string) bool {
	return len(s) > 0 && s[0] == '/' && (len(s) == 1 || (s[1] != '/' && s[1] != '\\'))
}

// funcs are the template functions that speak the request's language.
func funcs(l *i18n.Localizer) template.FuncMap {
	return template.FuncMap{
		"t":    l.T,
		"n":    l.N,
		"when": l.Millis,
		"day": func(ms int64) string {
			if ms == 0 {
				return ""
			}
			return l.Date(time.UnixMilli(ms))
		},
		"hhmm": func(ms int64) string { return l.Clock(time.UnixMilli(ms)) },
		"lang": l.Lang,
	}
}

// message is an error's sentence in the reader's language: the catalog's sentence for its key
// when it has one (times among its data written the local way), the English sentence otherwise.
func (p *Pages) message(l *i18n.Localizer, err error) string {
	var e *syncer.Error
	if !errors.As(err, &e) {
		return l.T("error.internal")
	}
	if e.Key == "" || !p.cat.Has(e.Key) {
		return e.Message
	}
	args := make([]any, len(e.Args))
	for i, a := range e.Args {
		switch v := a.(type) {
		case time.Time:
			args[i] = l.DateTime(v)
		case []string:
			if i > 0 && e.Args[i-1] == "Roles" {
				// Roles in a sentence: lower case, and any one of them will do.
				names := roleNames(l, v)
				for j := range names {
					names[j] = strings.ToLower(names[j])
				}
				args[i] = joinWords(l, names, "word.or")
				continue
			}
			args[i] = joinWords(l, v, "word.and")
		default:
			args[i] = a
		}
	}
	return l.T(e.Key, args...)
}

// joinWords lists words the way a sentence does: "a, b og c" (conj "word.and") or "a, b eller c"
// ("word.or").
func joinWords(l *i18n.Localizer, words []string, conj string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	out := words[0]
	for _, w := range words[1 : len(words)-1] {
		out += ", " + w
	}
	return out + " " + l.T(conj) + " " + words[len(words)-1]
}

// roleNames are roles as a person reads them, in the request's language.
func roleNames(l *i18n.Localizer, roles []string) []string {
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = l.T("role." + r)
	}
	return out
}
