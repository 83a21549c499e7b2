package wirezip

import (
	"bytes"
	stdgzip "compress/gzip"
	"io"
	"strings"
	"testing"
)

// A peer on Connect's own gzip (the standard library's: an older tablet or server) reads what
// these compress, and these read what it compresses, also when reused from the pool.
func TestInteroperatesWithTheStandardGzip(t *testing.T) {
	page := []byte(strings.Repeat("Mor kommer til tiden og hilser på Ida. ", 5000))
	w := newWriter()
	r := newReader()
	for round := 0; round < 2; round++ {
		var ours bytes.Buffer
		w.Reset(&ours)
		if _, err := w.Write(page); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if ours.Len() >= len(page)/10 {
			t.Fatalf("round %d: %d bytes compressed to %d", round, len(page), ours.Len())
		}
		std, err := stdgzip.NewReader(&ours)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(std); err != nil || !bytes.Equal(got, page) {
			t.Fatalf("round %d: the standard gzip read %d bytes (%v), want the page", round, len(got), err)
		}

		var theirs bytes.Buffer
		sw := stdgzip.NewWriter(&theirs)
		if _, err := sw.Write(page); err != nil {
			t.Fatal(err)
		}
		if err := sw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := r.Reset(&theirs); err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, page) {
			t.Fatalf("round %d: read %d bytes of the standard gzip's (%v), want the page", round, len(got), err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
