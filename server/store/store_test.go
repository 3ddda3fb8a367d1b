package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The real schema, read from the repository root where main.go embeds it.
func realSchema(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// MustOpen opens a store in a fresh directory, closed with the test.
func MustOpen(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), t.TempDir(), realSchema(t), "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenAppliesSchema(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	schema := realSchema(t)
	want, err := SchemaVersion(schema)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, dir, schema, "v1")
	if err != nil {
		t.Fatal(err)
	}
	var mode string
	if err := s.DB().QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v", mode, err)
	}
	var fk int
	if err := s.DB().QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign_keys = %d, %v", fk, err)
	}
	created, _ := s.Meta(ctx, "created_at")
	if created == "" {
		t.Fatal("created_at not recorded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopening is idempotent and keeps what was there.
	s, err = Open(ctx, dir, schema, "v2")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n, v int
	s.DB().QueryRow(`SELECT count(*), max(version) FROM schema_version`).Scan(&n, &v)
	if n != 1 || v != want || s.Version() != want {
		t.Fatalf("schema_version rows=%d max=%d, want 1 row of v%d", n, v, want)
	}
	if again, _ := s.Meta(ctx, "created_at"); again != created {
		t.Fatalf("created_at changed from %q to %q", created, again)
	}
	if last, _ := s.Meta(ctx, "last_binary"); last != "v2" {
		t.Fatalf("last_binary = %q", last)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesNewerDatabase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	schema := realSchema(t)
	v, err := SchemaVersion(schema)
	if err != nil {
		t.Fatal(err)
	}
	newer := strings.Replace(schema, fmt.Sprintf("-- schema_version: %d", v), "-- schema_version: 99", 1)
	s, err := Open(ctx, dir, newer, "future")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(ctx, dir, schema, "past"); !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("err = %v, want ErrNewerSchema", err)
	}
}

func TestOpenBadSchema(t *testing.T) {
	for name, schema := range map[string]string{
		"no version":  "CREATE TABLE x(a);",
		"bad version": "-- schema_version: two\n",
		"bad sql":     "-- schema_version: 1\nCREATE TABLE schema_version(version INTEGER PRIMARY KEY, applied_at INTEGER);\nCREATE NONSENSE;",
	} {
		if _, err := Open(context.Background(), t.TempDir(), schema, "x"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzSchemaVersion(f *testing.F) {
	f.Add("-- schema_version: 3\n")
	f.Add("--schema_version:\n-- schema_version: -1")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := SchemaVersion(s)
		if err == nil && v < 1 {
			t.Fatalf("version %d accepted", v)
		}
	})
}
