package syncer

import (
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func TestMergeTextCases(t *testing.T) {
	const report = "Mor kom kl. 10. Barnet var glad og legede med klodser. Samværet sluttede kl. 12."
	tests := []struct {
		name               string
		base, ours, theirs string
		want               string
		wantOK             bool
	}{
		{"only ours changed", "a b c", "a x c", "a b c", "a x c", true},
		{"only theirs changed", "a b c", "a b c", "a b y", "a b y", true},
		{"both changed alike", "a b c", "a z c", "a z c", "a z c", true},
		{"all empty", "", "", "", "", true},
		{
			"edits in different sentences merge", report,
			"Mor kom kl. 10.15. Barnet var glad og legede med klodser. Samværet sluttede kl. 12.",
			"Mor kom kl. 10. Barnet var glad og legede med klodser. Samværet sluttede først kl. 12.30.",
			"Mor kom kl. 10.15. Barnet var glad og legede med klodser. Samværet sluttede først kl. 12.30.", true,
		},
		{
			"insertions in different places merge", "Barnet var glad.\n\nMor gik.",
			"Barnet var meget glad.\n\nMor gik.", "Barnet var glad.\n\nMor gik stille.",
			"Barnet var meget glad.\n\nMor gik stille.", true,
		},
		{
			"identical edit plus separate edits", "en to tre fire fem seks",
			"en TO tre fire fem seks", "en TO tre fire FEM seks", "en TO tre fire FEM seks", true,
		},
		{
			"identical insertion is kept once", "en to tre fire fem",
			"en to ny tre fire fem", "en to ny tre fire FEM", "en to ny tre fire FEM", true,
		},
		{
			"neighbouring words replaced on each side merge", "a b c d",
			"a X c d", "a b Y d", "a X Y d", true,
		},
		{
			"Danish letters and emoji preserved", "Æblet lå på bordet. Pigen spiste ærter 🙂 og gik.",
			"Æblet lå på gulvet. Pigen spiste ærter 🙂 og gik.",
			"Æblet lå på bordet. Pigen spiste ærter 🙂 og gik hjem til sin ø.",
			"Æblet lå på gulvet. Pigen spiste ærter 🙂 og gik hjem til sin ø.", true,
		},
		{
			"whitespace change and word change in different places", "Første afsnit. Linje to.  Slut.",
			"Første afsnit.\n\nLinje to.  Slut.", "Første afsnit. Linje to.  Ende.",
			"Første afsnit.\n\nLinje to.  Ende.", true,
		},
		{
			"leading whitespace kept", "  indrykket tekst her",
			"  indrykket tekst der", "\tindrykket tekst her", "\tindrykket tekst der", true,
		},
		{"same word changed differently", "Barnet var glad.", "Barnet var trist.", "Barnet var vred.", "", false},
		{
			"both append paragraphs (no final newline)", "Første afsnit.",
			"Første afsnit.\n\nOurs skriver her.", "Første afsnit.\n\nTheirs skriver her.", "", false,
		},
		{
			"both append paragraphs at the same point", "Første afsnit.\n",
			"Første afsnit.\nAndet afsnit A.", "Første afsnit.\nAndet afsnit B.", "", false,
		},
		{
			"one deletes a sentence the other edits", "Mor kom. Barnet legede med klodser. Mor gik.",
			"Mor kom. Mor gik.", "Mor kom. Barnet legede med biler. Mor gik.", "", false,
		},
		{
			"insertion at the end of a replaced range", "a b c d",
			"a X c d", "a b new c d", "", false,
		},
		{
			"insertion at the start of a replaced range", "a b c d",
			"a X c d", "a new b c d", "", false,
		},
		{"one clears the text, the other edits", "a b c", "", "a b C", "", false},
		{"empty base, two different texts", "", "Ours tekst.", "Theirs tekst.", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, swap := range []bool{false, true} {
				o, th := tc.ours, tc.theirs
				if swap {
					o, th = th, o
				}
				got, ok := MergeText(tc.base, o, th)
				if got != tc.want || ok != tc.wantOK {
					t.Errorf("MergeText(%q, %q, %q) = %q, %v; want %q, %v", tc.base, o, th, got, ok, tc.want, tc.wantOK)
				}
			}
		})
	}
}

func TestTokenize(t *testing.T) {
	for _, s := range []string{"", " ", "a", "  a b\n\nc ", "æ\u00a0ø\tå 🙂", "bad\xffutf8 x"} {
		toks := tokenize(s)
		if strings.Join(toks, "") != s {
			t.Errorf("tokenize(%q) = %q does not join back", s, toks)
		}
		for i, tok := range toks {
			if tok == "" || i > 0 && strings.TrimLeft(tok, " \t\n\u00a0") != tok {
				t.Errorf("tokenize(%q): bad token %d %q", s, i, tok)
			}
		}
	}
	if got := tokenize("  hej med\ndig"); strings.Join(got, "|") != "  |hej |med\n|dig" {
		t.Errorf("tokenize = %q", got)
	}
}

// Word-level generators: a small vocabulary so that edits collide often and diffs are ambiguous.
var (
	genWord = rapid.SampledFrom([]string{"a", "b", "æble", "ø", "på", "🙂", "og", "Barnet", "glad."})
	genSep  = rapid.SampledFrom([]string{" ", " ", " ", "\n", "\n\n", "  ", "\t"})
	genTok  = rapid.Custom(func(t *rapid.T) string { return genWord.Draw(t, "w") + genSep.Draw(t, "s") })
)

func genText(t *rapid.T, label string) string {
	if rapid.IntRange(0, 9).Draw(t, label+"-kind") == 0 {
		return rapid.String().Draw(t, label) // now and then arbitrary runes, odd spaces included
	}
	return strings.Join(rapid.SliceOfN(genTok, 0, 30).Draw(t, label), "")
}

// genEdited applies a few random word-level edits to base, so that the two sides share most of
// the text, as real concurrent edits do.
func genEdited(t *rapid.T, base, label string) string {
	toks := tokenize(base)
	for i, n := 0, rapid.IntRange(0, 2).Draw(t, label+"-n"); i < n; i++ {
		a := rapid.IntRange(0, len(toks)).Draw(t, label+"-a")
		b := rapid.IntRange(a, min(a+3, len(toks))).Draw(t, label+"-b")
		repl := rapid.SliceOfN(genTok, 0, 3).Draw(t, label+"-repl")
		toks = append(toks[:a:a], append(repl, toks[b:]...)...)
	}
	return strings.Join(toks, "")
}

func genTriple(t *rapid.T) (base, ours, theirs string) {
	base = genText(t, "base")
	if rapid.IntRange(0, 4).Draw(t, "independent") == 0 {
		return base, genText(t, "ours"), genText(t, "theirs")
	}
	return base, genEdited(t, base, "ours"), genEdited(t, base, "theirs")
}

func TestMergeTextIdentity(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b, x, _ := genTriple(t)
		if got, ok := MergeText(b, x, b); got != x || !ok {
			t.Fatalf("MergeText(b, x, b) = %q, %v; want %q", got, ok, x)
		}
		if got, ok := MergeText(b, b, x); got != x || !ok {
			t.Fatalf("MergeText(b, b, x) = %q, %v; want %q", got, ok, x)
		}
	})
}

func TestMergeTextSymmetric(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b, o, th := genTriple(t)
		m1, ok1 := MergeText(b, o, th)
		m2, ok2 := MergeText(b, th, o)
		if ok1 != ok2 || m1 != m2 {
			t.Fatalf("MergeText not symmetric: %q, %v vs %q, %v", m1, ok1, m2, ok2)
		}
		if !ok1 && m1 != "" {
			t.Fatalf("conflict returned text %q", m1)
		}
	})
}

// TestMergeTextKeepsSeparateEdits: an edit in the first half and one in the second half, with
// at least one untouched word between them, always merge, and the result has both.
func TestMergeTextKeepsSeparateEdits(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 40).Draw(t, "n")
		base := make([]string, n) // distinct words, so each diff can only find the edit we made
		for i := range base {
			base[i] = fmt.Sprintf("ærø%d%s", i, genSep.Draw(t, "sep"))
		}
		fresh := func(prefix string) []string {
			out := rapid.SliceOfN(genSep, 0, 3).Draw(t, prefix)
			for i := range out {
				out[i] = fmt.Sprintf("%s%d%s", prefix, i, out[i])
			}
			return out
		}
		mid := n / 2
		a := rapid.IntRange(0, mid-1).Draw(t, "a")
		b := rapid.IntRange(a, mid-1).Draw(t, "b")
		c := rapid.IntRange(mid, n).Draw(t, "c")
		d := rapid.IntRange(c, n).Draw(t, "d")
		ro, rt := fresh("nyt"), fresh("andet")
		join := func(parts ...[]string) string {
			var sb strings.Builder
			for _, p := range parts {
				sb.WriteString(strings.Join(p, ""))
			}
			return sb.String()
		}
		ours := join(base[:a], ro, base[b:])
		theirs := join(base[:c], rt, base[d:])
		want := join(base[:a], ro, base[b:c], rt, base[d:])
		got, ok := MergeText(join(base), ours, theirs)
		if !ok || got != want {
			t.Fatalf("MergeText = %q, %v; want %q", got, ok, want)
		}
	})
}

// TestMergeTextLosesNothing: whenever the merge is clean, every word either side added (with its
// spacing) is in the result as often as that side added it.
func TestMergeTextLosesNothing(t *testing.T) {
	count := func(s string) map[string]int {
		m := map[string]int{}
		for _, tok := range tokenize(s) {
			m[tok]++
		}
		return m
	}
	rapid.Check(t, func(t *rapid.T) {
		b, o, th := genTriple(t)
		merged, ok := MergeText(b, o, th)
		if !ok {
			return
		}
		cb, cm := count(b), count(merged)
		for _, side := range []string{o, th} {
			for tok, n := range count(side) {
				if added := n - cb[tok]; added > cm[tok] {
					t.Fatalf("MergeText(%q, %q, %q) = %q lost %q (added %d, kept %d)", b, o, th, merged, tok, added, cm[tok])
				}
			}
		}
	})
}

func FuzzMergeText(f *testing.F) {
	f.Add("Barnet var glad.", "Barnet var meget glad.", "Barnet var glad i dag.")
	f.Add("a b c d", "a X c d", "a b new c d")
	f.Add("", "æ", "ø")
	f.Add("  x\n\ny ", "x y", "  x\ty 🙂")
	f.Fuzz(func(t *testing.T, base, ours, theirs string) {
		m1, ok1 := MergeText(base, ours, theirs)
		m2, ok2 := MergeText(base, ours, theirs)
		if m1 != m2 || ok1 != ok2 {
			t.Fatalf("not deterministic: %q, %v vs %q, %v", m1, ok1, m2, ok2)
		}
		if !ok1 && m1 != "" {
			t.Fatalf("conflict returned text %q", m1)
		}
		if m3, ok3 := MergeText(base, theirs, ours); m3 != m1 || ok3 != ok1 {
			t.Fatalf("not symmetric: %q, %v vs %q, %v", m1, ok1, m3, ok3)
		}
		if got, ok := MergeText(base, ours, base); got != ours || !ok {
			t.Fatalf("MergeText(b, x, b) = %q, %v; want %q", got, ok, ours)
		}
		if got, ok := MergeText(base, base, theirs); got != theirs || !ok {
			t.Fatalf("MergeText(b, b, x) = %q, %v; want %q", got, ok, theirs)
		}
		if got, ok := MergeText(base, ours, ours); got != ours || !ok {
			t.Fatalf("MergeText(b, x, x) = %q, %v; want %q", got, ok, ours)
		}
	})
}

// benchText builds about size bytes of report-like Danish text of distinct sentences.
func benchText(size int) string {
	var sb strings.Builder
	for i := 0; sb.Len() < size; i++ {
		fmt.Fprintf(&sb, "Under samværet %d legede barnet med sin far på gulvet, og stemningen var rolig. ", i)
		if i%5 == 4 {
			sb.WriteString("\n\n")
		}
	}
	return sb.String()
}

func BenchmarkMergeText(b *testing.B) {
	b.Run("4KiB-separate-edits", func(b *testing.B) {
		base := benchText(4 << 10)
		ours := strings.Replace(base, "samværet 3 legede", "samværet 3 tegnede", 1)
		theirs := strings.Replace(base, "samværet 40 legede barnet", "samværet 40 læste barnet højt", 1)
		if _, ok := MergeText(base, ours, theirs); !ok {
			b.Fatal("expected a clean merge")
		}
		b.SetBytes(int64(len(base)))
		b.ReportAllocs()
		for b.Loop() {
			MergeText(base, ours, theirs)
		}
	})
	b.Run("64KiB-both-rewritten", func(b *testing.B) { // worst case: nothing in common
		base := benchText(64 << 10)
		ours := strings.ReplaceAll(base, "barnet", "pigen")
		theirs := strings.ReplaceAll(base, " ", "  ")
		b.SetBytes(int64(len(base)))
		b.ReportAllocs()
		for b.Loop() {
			MergeText(base, ours, theirs)
		}
	})
}

// A device that rewrites a whole 64 KiB section on both sides gets a conflict (both versions
// kept), not a merge whose cost grows with the product of length and change.
func TestMergeTextBoundsWork(t *testing.T) {
	base := benchText(64 << 10)
	ours := strings.ReplaceAll(base, "barnet", "pigen")
	theirs := strings.ReplaceAll(base, " ", "  ")
	if merged, ok := MergeText(base, ours, theirs); ok || merged != "" {
		t.Fatal("two whole-text rewrites must be kept as a conflict")
	}
	// A large edit on one side and a small one on the other still merge.
	oneSide := strings.Replace(base, "samværet 3 legede", "samværet 3 tegnede", 1)
	if _, ok := MergeText(base, oneSide, base+" Tilføjet."); !ok {
		t.Fatal("small separate edits of a large text must merge")
	}
}
