package syncer

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sergi/go-diff/diffmatchpatch"
)

// MergeText merges two concurrent edits of the same text, ours and theirs, made from base.
// ok is false when the edits overlap; merged is then "" and the caller keeps both sides.
//
// The merge works on words (a run of non-space characters with the spaces after it), so two
// people fixing different words of one sentence merge, while two changes to the same word, or
// two insertions at the same place, are a conflict. It is conservative on purpose: a false
// conflict only asks a person to choose, a wrong merge silently changes what someone wrote.
// The result depends only on the three texts, never on timing, so the server and the tablets
// compute the same bytes.
func MergeText(base, ours, theirs string) (merged string, ok bool) {
	switch {
	case ours == theirs, theirs == base:
		return ours, true
	case ours == base:
		return theirs, true
	}
	var tab tokenTable
	b, o, t := tab.encode(base), tab.encode(ours), tab.encode(theirs)
	if tab.overflow || changedSpan(b, o) > maxMergeSpan || changedSpan(b, t) > maxMergeSpan {
		return "", false
	}
	dmp := diffmatchpatch.New()
	dmp.DiffTimeout = 0 // a deadline would make the diff, and so the merge, depend on CPU speed
	eo := toEdits(dmp.DiffMainRunes(b, o, false))
	et := toEdits(dmp.DiffMainRunes(b, t, false))

	var sb strings.Builder
	sb.Grow(max(len(ours), len(theirs)))
	pos := 0 // next base token not yet written
	apply := func(e edit) {
		tab.write(&sb, b[pos:e.start])
		tab.write(&sb, e.repl)
		pos = e.end
	}
	// Both lists are sorted and, within a list, separated by unchanged tokens, so comparing
	// the two heads is enough: an edit that does not touch the other side's next edit lies
	// wholly before it, and so before all its later edits too.
	for len(eo) > 0 || len(et) > 0 {
		switch {
		case len(et) == 0:
			apply(eo[0])
			eo = eo[1:]
		case len(eo) == 0:
			apply(et[0])
			et = et[1:]
		case eo[0].start == et[0].start && eo[0].end == et[0].end && slices.Equal(eo[0].repl, et[0].repl):
			apply(eo[0]) // both made the same change: keep it once
			eo, et = eo[1:], et[1:]
		case touches(eo[0], et[0]):
			return "", false
		case eo[0].start < et[0].start:
			apply(eo[0])
			eo = eo[1:]
		default:
			apply(et[0])
			et = et[1:]
		}
	}
	tab.write(&sb, b[pos:])
	return sb.String(), true
}

// maxMergeSpan bounds the work of one merge: a diff costs about the product of the text's length
// and the size of the change, and a device could push 64 KiB rewrites over and over. A side that
// changed more than this many words at once is treated as overlapping: both versions are kept for
// a person, which is the right outcome for edits that large anyway, and the bound depends only on
// the texts, so both ends still agree.
const maxMergeSpan = 4000

// changedSpan is the number of tokens of a and b outside their common prefix and suffix.
func changedSpan(a, b []rune) int {
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	q := 0
	for q < len(a)-p && q < len(b)-p && a[len(a)-1-q] == b[len(b)-1-q] {
		q++
	}
	return len(a) + len(b) - 2*(p+q)
}

// edit replaces the base tokens [start, end) with repl (token ids); start == end is an insertion.
type edit struct {
	start, end int
	repl       []rune
}

// touches reports whether two edits from different sides conflict: their ranges overlap, or
// one is an insertion inside the other's range or at either end of it. At such a boundary the
// order of the two changes, and whether one still makes sense after the other, is a guess.
func touches(x, y edit) bool {
	return x.start < y.end && y.start < x.end ||
		x.start == x.end && y.start <= x.start && x.start <= y.end ||
		y.start == y.end && x.start <= y.start && y.start <= x.end
}

// toEdits turns a diff of token ids into edits against base, joining the deletions and
// insertions between two equal runs into one edit.
func toEdits(diffs []diffmatchpatch.Diff) []edit {
	var out []edit
	pos, open := 0, false
	for _, d := range diffs {
		n := utf8.RuneCountInString(d.Text)
		if n == 0 {
			continue
		}
		if d.Type == diffmatchpatch.DiffEqual {
			pos += n
			open = false
			continue
		}
		if !open {
			out = append(out, edit{start: pos, end: pos})
			open = true
		}
		e := &out[len(out)-1]
		if d.Type == diffmatchpatch.DiffDelete {
			pos += n
			e.end = pos
		} else {
			e.repl = append(e.repl, []rune(d.Text)...)
		}
	}
	return out
}

// tokenTable gives each distinct token a rune, so that go-diff compares words as it compares
// characters. Ids are dense from 0 and skip the surrogate block, the only runes that do not
// survive go-diff's string conversions; every rune in a slice is an id, so none can collide
// with real text, and there are ids for over a million distinct tokens.
type tokenTable struct {
	ids      map[string]rune
	toks     []string
	overflow bool
}

const surrogateLo, surrogateN = 0xD800, 0x800

func (tab *tokenTable) encode(s string) []rune {
	if tab.ids == nil {
		tab.ids = make(map[string]rune, len(s)/8)
	}
	toks := tokenize(s)
	out := make([]rune, 0, len(toks))
	for _, tok := range toks {
		id, ok := tab.ids[tok]
		if !ok {
			id = rune(len(tab.toks))
			if id >= surrogateLo {
				id += surrogateN
			}
			if id > unicode.MaxRune {
				tab.overflow = true // absurdly long input: ask a person rather than guess
				return nil
			}
			tab.ids[tok] = id
			tab.toks = append(tab.toks, tok)
		}
		out = append(out, id)
	}
	return out
}

func (tab *tokenTable) write(sb *strings.Builder, ids []rune) {
	for _, id := range ids {
		if id >= surrogateLo {
			id -= surrogateN
		}
		sb.WriteString(tab.toks[id])
	}
}

// tokenize splits s into words, each a run of non-space runes with the spaces that follow it;
// leading spaces are a token of their own. Joining the tokens gives back s byte for byte, even
// when s is not valid UTF-8.
func tokenize(s string) []string {
	toks := make([]string, 0, len(s)/6+1) // Danish words average about six bytes with their space
	start, prevSpace := 0, false
	for i, r := range s {
		space := unicode.IsSpace(r)
		if !space && prevSpace {
			toks = append(toks, s[start:i])
			start = i
		}
		prevSpace = space
	}
	if start < len(s) {
		toks = append(toks, s[start:])
	}
	return toks
}
