// Command samvaer is the Samvær sync binary: `serve` runs the sync server, `admin` manages its
// data directory, `tablet` is a command-line tablet built on clientlib. The commands are cobra
// commands: each is a small function that declares its flags and arguments and calls the server
// store or the tablet library; it holds no product logic of its own.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/samvaer/sync/internal/i18n"
	"github.com/samvaer/sync/syncer"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var asJSON bool
	err := execute(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, &asJSON)
	stop()
	if err != nil {
		report(os.Stderr, err, asJSON)
	}
	os.Exit(exitCode(err))
}

// run runs one command line. It is main without the process: tests call it, and read the error
// that main would print.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var asJSON bool
	return execute(ctx, args, stdin, stdout, stderr, &asJSON)
}

// execute parses and runs one command line; asJSON tells the caller whether --json was given, so
// an error is reported in the same form as the output.
func execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, asJSON *bool) error {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRootCmd(e)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	*asJSON = e.json
	if err != nil && cmd != nil && isUsage(err) {
		return &hinted{err: err, hint: fmt.Sprintf("Run '%s --help' for its usage.", cmd.CommandPath())}
	}
	return err
}

// env is what every command shares: the streams, the output form and the display zone.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	json           bool
	zoneName       string
	loc            *time.Location
	words          *i18n.Localizer
}

// zoneEnv names the environment variable that sets the display zone when --tz is not given.
const zoneEnv = "SAMVAER_TZ"

// loadZone resolves --tz, else SAMVAER_TZ, else the default zone.
func (e *env) loadZone() error {
	name := e.zoneName
	if name == "" {
		name = os.Getenv(zoneEnv)
	}
	loc, err := i18n.LoadZone(name)
	if err != nil {
		return usageError("Unknown time zone %q; give a zone name like %s (--tz or %s).", name, i18n.DefaultZone, zoneEnv)
	}
	cat, err := i18n.NewCatalog()
	if err != nil {
		return err
	}
	e.loc, e.words = loc, cat.Localizer(loc, i18n.Danish.String())
	return nil
}

// zone is the zone times are shown in.
func (e *env) zone() *time.Location {
	if e.loc == nil {
		return time.UTC
	}
	return e.loc
}

// print writes v as indented JSON when --json was given (for scripts), the text for a person
// otherwise.
func (e *env) print(v any, text string) error {
	if e.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	_, err := io.WriteString(e.stdout, text)
	return err
}

func newRootCmd(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "samvaer",
		Short: "Samvær sync: offline-first visit notes for child-welfare teams",
		Long: `Samvær sync: offline-first visit notes for child-welfare teams.

Flags may be given in any position. With --json every command prints JSON for scripts.

Exit codes: 0 done; 1 internal error; 2 wrong usage or invalid input; 3 not found;
4 not allowed (not signed in, not permitted, device revoked); 5 refused in the current state
(already exists, locked, verification failed, a call the server does not offer); 6 unavailable
(server unreachable, too busy).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.ArbitraryArgs,
		RunE:          groupRun,
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.PersistentFlags().BoolVar(&e.json, "json", false, "print JSON (for scripts)")
	root.PersistentFlags().StringVar(&e.zoneName, "tz", "", "the time zone times are shown in (default "+i18n.DefaultZone+", or "+zoneEnv+")")
	root.PersistentPreRunE = func(*cobra.Command, []string) error { return e.loadZone() }
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usageError("%s.", sentence(err.Error()))
	})
	root.AddCommand(newServeCmd(e), newAdminCmd(e), newTabletCmd(e))
	return root
}

// group makes a command that only holds subcommands: run bare or with an unknown subcommand it
// says so in one sentence (and main adds a hint), instead of printing the whole usage.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short, Args: cobra.ArbitraryArgs, RunE: groupRun}
	c.AddCommand(subs...)
	return c
}

func groupRun(cmd *cobra.Command, args []string) error {
	var names []string
	for _, s := range cmd.Commands() {
		if s.IsAvailableCommand() && s.Name() != "help" {
			names = append(names, s.Name())
		}
	}
	if len(args) == 0 {
		return usageError("Name a command after '%s': %s.", cmd.CommandPath(), strings.Join(names, ", "))
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		return usageError("Unknown command %q for '%s'; did you mean %s?", args[0], cmd.CommandPath(), strings.Join(s, " or "))
	}
	return usageError("Unknown command %q for '%s'; the commands are %s.", args[0], cmd.CommandPath(), strings.Join(names, ", "))
}

// argsExactly wants exactly the named positional arguments, as in "VISIT ITEM".
func argsExactly(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < len(names):
			return usageError("'%s' needs %s.", cmd.CommandPath(), strings.Join(names[len(args):], " and "))
		case len(args) > len(names):
			return usageError("'%s' takes %s, not also %q.", cmd.CommandPath(), plural(len(names), "no arguments", strings.Join(names, " ")), strings.Join(args[len(names):], " "))
		}
		return nil
	}
}

// argsAtLeast wants the named positional arguments, the last of which may be several words.
func argsAtLeast(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < len(names) {
			return usageError("'%s' needs %s.", cmd.CommandPath(), strings.Join(names[len(args):], " and "))
		}
		return nil
	}
}

func plural(n int, none, some string) string {
	if n == 0 {
		return none
	}
	return some
}

// usageError is a mistake on the command line: the message says what to type instead.
func usageError(format string, args ...any) error {
	return syncer.Errorf(syncer.CodeInvalid, format, args...)
}

// sentence makes a library's message ("unknown flag: --x") a sentence ("Unknown flag: --x").
func sentence(s string) string {
	s = strings.TrimRight(strings.TrimSpace(s), ".")
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// hinted is an error with a line that tells what to do next.
type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() }
func (h *hinted) Unwrap() error { return h.err }

// isUsage reports whether err is about the command line or its input, so a hint to the command's
// help is useful.
func isUsage(err error) bool {
	return syncer.ErrorCode(err) == syncer.CodeInvalid
}

// exitCodes are the documented exit codes by error code; anything else is 1.
var exitCodes = map[syncer.Code]int{
	syncer.CodeInvalid:            2,
	syncer.CodeNotFound:           3,
	syncer.CodeUnauthenticated:    4,
	syncer.CodePermissionDenied:   4,
	syncer.CodeFailedPrecondition: 5,
	syncer.CodeAlreadyExists:      5,
	syncer.CodeUnimplemented:      5,
	syncer.CodeResourceExhausted:  6,
	syncer.CodeUnavailable:        6,
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if c, ok := exitCodes[syncer.ErrorCode(err)]; ok {
		return c
	}
	return 1
}

// report writes an error for a person (the sentence first, then a hint) or, with --json, as a
// JSON object with its code, on standard error either way.
func report(w io.Writer, err error, asJSON bool) {
	var h *hinted
	hint := ""
	if errors.As(err, &h) {
		hint = h.hint
	}
	code := syncer.ErrorCode(err)
	if asJSON {
		v := map[string]any{"error": map[string]any{"code": code, "message": syncer.ErrorMessage(err), "exit_code": exitCode(err)}}
		if code == syncer.CodeInternal {
			v["error"].(map[string]any)["detail"] = err.Error()
		}
		b, _ := json.Marshal(v)
		fmt.Fprintln(w, string(b))
		return
	}
	fmt.Fprintln(w, "samvaer:", syncer.ErrorMessage(err))
	if hint != "" {
		fmt.Fprintln(w, hint)
	}
	if code == syncer.CodeInternal {
		fmt.Fprintln(w, "detail:", err)
	}
}
