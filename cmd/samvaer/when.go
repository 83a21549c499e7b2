package main

import (
	"time"
)

// Times in text output are written for a Danish reader in the display zone (--tz), the way
// internal/i18n writes them on the pages and in the PDF; JSON keeps machine forms (Unix
// milliseconds or RFC 3339 with offset).

// dateTime is "lør. 28. nov. 2026 kl. 10.00"; 0 is "-".
func (e *env) dateTime(ms int64) string {
	if ms == 0 {
		return "-"
	}
	return e.words.Millis(ms)
}

// clock is "10.00".
func (e *env) clock(ms int64) string { return e.words.Clock(time.UnixMilli(ms)) }

// parseWhen reads a time a person typed: RFC 3339 with an offset, "2026-11-28 10:00" or
// "2026-11-28T10:00" in the display zone, or (when dateOK) a date, meaning its midnight there.
func (e *env) parseWhen(flagName, s string, dateOK bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04", "2006-01-02T15:04"} {
		if t, err := time.ParseInLocation(layout, s, e.zone()); err == nil {
			return t, nil
		}
	}
	if dateOK {
		if t, err := time.ParseInLocation(time.DateOnly, s, e.zone()); err == nil {
			return t, nil
		}
		return time.Time{}, usageError("--%s must be a date like 2026-11-28, a time like \"2026-11-28 10:00\" (%s) or 2026-11-28T10:00:00+01:00.", flagName, e.zone())
	}
	return time.Time{}, usageError("--%s must be a time like \"2026-11-28 10:00\" (%s) or 2026-11-28T10:00:00+01:00.", flagName, e.zone())
}

// optionalMs parses an optional time flag; "" is 0.
func (e *env) optionalMs(flagName, s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	t, err := e.parseWhen(flagName, s, true)
	return t.UnixMilli(), err
}

// visitTimes parses a visit's --start and --end.
func (e *env) visitTimes(start, end string) (time.Time, time.Time, error) {
	st, err := e.parseWhen("start", start, false)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	en, err := e.parseWhen("end", end, false)
	return st, en, err
}
