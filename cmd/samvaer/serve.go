package main

import (
	"context"
	"flag"
	"io"
	"net"
	"os"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/term"

	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/server/web"
)

// ServeCommand runs the sync server.
type ServeCommand struct {
	Stderr io.Writer
}

// Run parses flags over server.DefaultConfig, validates, and serves until ctx is done.
func (c *ServeCommand) Run(ctx context.Context, args []string) error {
	cfg := server.DefaultConfig()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	fs.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory (created if missing; holds kek.json, the key-encryption key, unless SAMVAER_KEK is set)")
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "address to listen on")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate file (PEM)")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "TLS key file (PEM)")
	fs.DurationVar(&cfg.ReportOverdue, "report-overdue", cfg.ReportOverdue, "how long after a supervised visit's end its report is flagged overdue")
	logFormat := fs.String("log", "auto", "log format: json, console, or auto (console on a terminal)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("serve takes no arguments, only flags.")
	}
	cfg.Logger = newLogger(c.Stderr, *logFormat)
	if err := cfg.Validate(); err != nil {
		return usageError("%s.", err.Error())
	}
	srv, err := server.New(ctx, cfg)
	if err != nil {
		return err
	}
	pages, err := web.New(srv.Store, web.Config{Secure: cfg.TLSCert != "", Logger: cfg.Logger})
	if err != nil {
		srv.Close()
		return err
	}
	srv.Mount("/", pages)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		srv.Close()
		return err
	}
	return srv.Serve(ctx, ln)
}

// newLogger logs JSON, or a console format for a person at a terminal. Requests log from many
// goroutines, so the writer is serialized.
func newLogger(w io.Writer, format string) zerolog.Logger {
	console := format == "console" || (format == "auto" && isTerminal(w))
	w = zerolog.SyncWriter(w)
	if console {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(w).With().Timestamp().Logger()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
