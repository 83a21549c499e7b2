package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/samvaer/sync/clientlib/app"
)

const appUsage = `Usage: samvaer tablet --home DIR app [--listen 127.0.0.1:PORT] [--idle-lock 5m] [--retry 15s] [--log auto|json|console]

Serves the consultant's app — today's visits, observations, the checklist and the report — from
this tablet's own process on loopback, and prints a one-time address to open it in a browser.
The PIN is asked on the page, never here. The app locks itself after --idle-lock without use.
It works offline and syncs on its own when the server can be reached.
`

// app runs `samvaer tablet app`: a thin call into clientlib/app.
func (c *TabletCommand) app(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("app", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	fs.Usage = func() { fmt.Fprint(c.Stderr, appUsage) }
	listen := fs.String("listen", "127.0.0.1:0", "loopback address to listen on (port 0: any free port)")
	idle := fs.Duration("idle-lock", app.DefaultIdleLock, "lock the app after this long without use")
	retry := fs.Duration("retry", app.DefaultRetryEvery, "while offline, try the server again this often")
	logFormat := fs.String("log", "auto", "log format: auto, json or console")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return usageError("app takes no arguments; the PIN is asked on the page.")
	}
	a, err := app.New(app.Config{Home: c.home, IdleLock: *idle, RetryEvery: *retry, Logger: newLogger(c.Stderr, *logFormat)})
	if err != nil {
		return err
	}
	ln, err := a.Listen(*listen)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	fmt.Fprintf(c.Stdout, "Open the app (this address works once, for %s): %s\n", 10*time.Minute, a.StartURL())
	return <-done
}
