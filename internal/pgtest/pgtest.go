// Package pgtest gives tests a PostgreSQL database of their own when the test run is against
// PostgreSQL, so one test suite runs against both stores (docs/architecture.md, "Two stores").
//
// The run is against PostgreSQL when SAMVAER_TEST_POSTGRES names a server (a postgres:// address
// of a database the tests may connect to for CREATE DATABASE, e.g.
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable); `make test` sets it for its
// PostgreSQL pass. Then every data directory a test makes has a database of its own, created on
// first use and dropped when the test that made it ends: opening the same directory again (a
// restart, an admin command) opens the same database, as with SQLite's file in the directory.
// An unreachable server fails the test; nothing is skipped.
package pgtest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// Env names the PostgreSQL server of a test run against PostgreSQL.
const Env = "SAMVAER_TEST_POSTGRES"

// Enabled reports whether this test run is against PostgreSQL.
func Enabled() bool { return os.Getenv(Env) != "" }

var (
	mu      sync.Mutex
	created = map[string]bool{} // databases made by this process
)

// DatabaseFor returns the address of dir's database when the run is against PostgreSQL, and ""
// otherwise (the store then uses SQLite in dir). The first call for a directory creates the
// database (dropping a leftover of the same name) and registers its removal with tb.Cleanup.
func DatabaseFor(tb testing.TB, dir string) string {
	tb.Helper()
	server := os.Getenv(Env)
	if server == "" {
		return ""
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		tb.Fatal(err)
	}
	sum := sha256.Sum256([]byte(abs))
	name := "samvaer_test_" + hex.EncodeToString(sum[:10])
	u, err := url.Parse(server)
	if err != nil {
		tb.Fatalf("%s: %v", Env, err)
	}
	mine := *u
	mine.Path = "/" + name
	address := mine.String()

	mu.Lock()
	defer mu.Unlock()
	if created[name] {
		return address
	}
	admin, err := sql.Open("pgx", server)
	if err != nil {
		tb.Fatalf("%s: %v", Env, err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
		tb.Fatalf("PostgreSQL at %s (%s): %v", u.Redacted(), Env, err)
	}
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		tb.Fatalf("PostgreSQL at %s (%s): %v", u.Redacted(), Env, err)
	}
	created[name] = true
	tb.Cleanup(func() {
		mu.Lock()
		delete(created, name)
		mu.Unlock()
		Drop(tb, server, name)
	})
	return address
}

// Drop removes database name, ending its sessions (a server process a test killed may leave one).
func Drop(tb testing.TB, server, name string) {
	admin, err := sql.Open("pgx", server)
	if err != nil {
		tb.Errorf("drop database %s: %v", name, err)
		return
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
		tb.Errorf("drop database %s: %v", name, err)
	}
}

// Dump writes a backup of the database at address to file with pg_dump, as an operator backs up
// a PostgreSQL store (docs/operations.md). It may run while servers use the database.
func Dump(address, file string) error {
	out, err := exec.Command("pg_dump", "--format=custom", "--file="+file, "--dbname="+address).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_dump: %v: %s", err, out)
	}
	return nil
}

// Restore replaces the database at address with the backup in file, as an operator restores one:
// the database is dropped (ending what is still connected) and made again, then pg_restore.
func Restore(address, file string) error {
	u, err := url.Parse(address)
	if err != nil {
		return err
	}
	name := u.Path[1:]
	server := *u
	server.Path = "/postgres"
	admin, err := sql.Open("pgx", server.String())
	if err != nil {
		return err
	}
	defer admin.Close()
	if _, err := admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
		return err
	}
	if _, err := admin.Exec(`CREATE DATABASE ` + name); err != nil {
		return err
	}
	out, err := exec.Command("pg_restore", "--exit-on-error", "--single-transaction", "--dbname="+address, file).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_restore: %v: %s", err, out)
	}
	return nil
}
