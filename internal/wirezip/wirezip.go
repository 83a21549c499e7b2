// Package wirezip is the gzip both ends of the Connect API use: klauspost/compress's, a drop-in
// for the standard library's that compresses the same stream several times faster (a pull page
// of 5,000 observations, 3.8 MB: 12 ms against 106 ms, 251 KB against 247 KB) and reads it
// about twice as fast. Pull pages are the large messages: an initial sync of 100,000 records is
// 20 of them, and with the standard library's gzip the server spent longer compressing them
// than the tablet spent storing them. The wire format is plain gzip, so either end works with a
// peer that uses any other gzip. It imports nothing of ours.
package wirezip

import (
	"io"

	"connectrpc.com/connect"
	"github.com/klauspost/compress/gzip"
)

// name is the Connect (and HTTP) name of the encoding.
const name = "gzip"

func newReader() connect.Decompressor { return &gzip.Reader{} }

func newWriter() connect.Compressor { return gzip.NewWriter(io.Discard) }

// Handler replaces the handler's gzip.
func Handler() connect.HandlerOption { return connect.WithCompression(name, newReader, newWriter) }

// Client replaces the client's gzip, for the responses it accepts compressed.
func Client() connect.ClientOption { return connect.WithAcceptCompression(name, newReader, newWriter) }
