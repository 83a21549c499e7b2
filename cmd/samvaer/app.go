package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/samvaer/sync/clientlib/app"
)

const appLong = `Serves the consultant's app — today's visits, observations, the checklist and the report — from
this tablet's own process on loopback, and prints a one-time address to open it in a browser.
The PIN is asked on the page, never here. The app locks itself after --idle-lock without use.
It works offline and syncs on its own when the server can be reached.`

// appCmd is samvaer tablet app: a thin call into clientlib/app.
func (c *tablet) appCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "app", Short: "the consultant's app in a browser (the PIN is asked on the page)", Long: appLong, Args: argsExactly()}
	listen := cmd.Flags().String("listen", "127.0.0.1:0", "loopback address to listen on (port 0: any free port)")
	idle := cmd.Flags().Duration("idle-lock", app.DefaultIdleLock, "lock the app after this long without use")
	retry := cmd.Flags().Duration("retry", app.DefaultRetryEvery, "while offline, try the server again this often")
	logFormat := cmd.Flags().String("log", "auto", "log format: auto, json or console")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		a, err := app.New(app.Config{Home: c.home, IdleLock: *idle, RetryEvery: *retry, Logger: newLogger(c.stderr, *logFormat)})
		if err != nil {
			return err
		}
		ln, err := a.Listen(*listen)
		if err != nil {
			return err
		}
		done := make(chan error, 1)
		go func() { done <- a.Serve(cmd.Context(), ln) }()
		fmt.Fprintf(c.stdout, "Open the app (this address works once, for %s): %s\n", 10*time.Minute, a.StartURL())
		return <-done
	}
	return cmd
}
