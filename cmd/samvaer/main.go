// Command samvaer is the Samvær sync binary: `serve` runs the sync server, `admin` manages its
// data directory, `tablet` is a command-line tablet built on clientlib. main only wires.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/samvaer/sync/syncer"
)

const usage = `samvaer: Samvær sync — offline-first visit notes for child-welfare teams.

Usage:
  samvaer serve  [--data DIR] [--listen ADDR]       run the sync server
  samvaer admin  --data DIR COMMAND …               manage people, cases, visits and devices
  samvaer tablet --home DIR COMMAND …               a command-line tablet

Run a command with -h for its flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "samvaer:", syncer.ErrorMessage(err))
		if syncer.ErrorCode(err) == syncer.CodeInternal {
			fmt.Fprintln(os.Stderr, "detail:", err)
		}
		os.Exit(1)
	}
}

// run dispatches to a subcommand. It is main without the process: tests call it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "serve":
		return (&ServeCommand{Stderr: stderr}).Run(ctx, args[1:])
	case "admin":
		return (&AdminCommand{Stdin: stdin, Stdout: stdout, Stderr: stderr}).Run(ctx, args[1:])
	case "tablet":
		return (&TabletCommand{Stdin: stdin, Stdout: stdout, Stderr: stderr}).Run(ctx, args[1:])
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError("Unknown command %q; the commands are serve, admin and tablet.", args[0])
}

// output writes v as indented JSON when asJSON (for scripts), the text for a person otherwise.
func output(w io.Writer, asJSON bool, v any, text string) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	_, err := io.WriteString(w, text)
	return err
}

// usageError is a mistake on the command line: the message says what to type instead.
func usageError(format string, args ...any) error {
	return syncer.Errorf(syncer.CodeInvalid, format, args...)
}
