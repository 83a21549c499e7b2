package main

import (
	"context"
	"io"
	"net"
	"os"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/samvaer/sync/internal/i18n"
	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/server/web"
)

// ServeCommand runs the sync server; tests start it in-process.
type ServeCommand struct {
	Stderr io.Writer
}

// Run serves with the flags in args until ctx is done.
func (c *ServeCommand) Run(ctx context.Context, args []string) error {
	return run(ctx, append([]string{"serve"}, args...), nil, io.Discard, c.Stderr)
}

func newServeCmd(e *env) *cobra.Command {
	cfg := server.DefaultConfig()
	var logFormat, zone, municipality string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "run the sync server (Connect, gRPC, gRPC-Web and the browser pages)",
		Args:  argsExactly(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = newLogger(e.stderr, logFormat)
			loc, err := i18n.LoadZone(zone)
			if err != nil {
				return usageError("--zone: %s.", err.Error())
			}
			cfg.Zone = loc
			if err := cfg.Validate(); err != nil {
				return usageError("%s.", err.Error())
			}
			return serve(cmd.Context(), cfg, municipality)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory (created if missing; holds kek.json, the key-encryption key, unless SAMVAER_KEK is set)")
	f.StringVar(&cfg.Listen, "listen", cfg.Listen, "address to listen on")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate file (PEM)")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "TLS key file (PEM)")
	f.DurationVar(&cfg.ReportOverdue, "report-overdue", cfg.ReportOverdue, "how long after a supervised visit's end its report is flagged overdue")
	f.StringVar(&logFormat, "log", "auto", "log format: json, console, or auto (console on a terminal)")
	f.StringVar(&zone, "zone", i18n.DefaultZone, "the time zone every time is shown in (pages, PDF, messages)")
	f.StringVar(&municipality, "municipality", "", "the municipality's name, printed in the head of every exported report")
	return cmd
}

// serve runs the server with its pages until ctx is done.
func serve(ctx context.Context, cfg server.Config, municipality string) error {
	srv, err := server.New(ctx, cfg)
	if err != nil {
		return err
	}
	pages, err := web.New(srv.Store, web.Config{Secure: cfg.TLSCert != "", Logger: cfg.Logger, Location: cfg.Zone, Municipality: municipality})
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
