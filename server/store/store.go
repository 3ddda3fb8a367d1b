// Package store keeps edgestat's data in one SQLite file (modernc.org/sqlite,
// pure Go) in WAL mode.
package store

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// FileName is the database's name inside the data directory.
const FileName = "edgestat.db"

// ErrNewerSchema is returned when the database was written by a newer schema
// than the one this binary carries.
var ErrNewerSchema = errors.New("store: database schema is newer than this binary")

// Store is the SQLite database.
type Store struct {
	db      *sql.DB
	path    string
	version int
	wear    wear
}

// Open opens (creating if needed) the database in dir and applies schema,
// whose header must carry a `-- schema_version: N` line.
func Open(ctx context.Context, dir, schema, binaryVersion string) (*Store, error) {
	want, err := SchemaVersion(schema)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create data directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(5000)", "foreign_keys(1)", "synchronous(NORMAL)", "wal_autocheckpoint(0)",
		// 512 KiB of page cache per connection instead of 2 MiB: the
		// appliance must idle under 20 MB, and the OS caches the file too.
		"cache_size(-512)"} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// Idle connections keep their caches: one is enough between bursts.
	db.SetMaxIdleConns(1)
	s := &Store{db: db, path: path, version: want}
	if err := s.migrate(ctx, schema, want, binaryVersion); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.loadWear(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// SchemaVersion reads the `-- schema_version: N` line of a schema.
func SchemaVersion(schema string) (int, error) {
	sc := bufio.NewScanner(strings.NewReader(schema))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "-- schema_version:")
		if !ok {
			continue
		}
		v, err := strconv.Atoi(strings.TrimSpace(rest))
		if err != nil || v < 1 {
			return 0, fmt.Errorf("store: bad schema_version line %q", sc.Text())
		}
		return v, nil
	}
	return 0, errors.New("store: schema has no `-- schema_version: N` line")
}

func (s *Store) migrate(ctx context.Context, schema string, want int, binaryVersion string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin migration: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("store: apply schema: %w", err)
	}
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_version`).Scan(&have); err != nil {
		return fmt.Errorf("store: read schema version: %w", err)
	}
	if have > want {
		return fmt.Errorf("%w: database v%d, binary v%d", ErrNewerSchema, have, want)
	}
	now := time.Now().Unix()
	if have < want {
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version(version, applied_at) VALUES (?, ?)`, want, now); err != nil {
			return fmt.Errorf("store: record schema version: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO meta(key, value) VALUES ('created_at', ?)`, strconv.FormatInt(now, 10)); err != nil {
		return fmt.Errorf("store: record creation: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES ('last_binary', ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value`, binaryVersion); err != nil {
		return fmt.Errorf("store: record binary version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit migration: %w", err)
	}
	return nil
}

// DB is the database handle, for the packages that own tables.
func (s *Store) DB() *sql.DB { return s.db }

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Version is the schema version in force.
func (s *Store) Version() int { return s.version }

// Meta returns the value of an installation fact, or "" if unset.
func (s *Store) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: read meta %q: %w", key, err)
	}
	return v, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Close checkpoints the WAL (counting the writes) and closes the database.
func (s *Store) Close() error {
	_ = s.Checkpoint(context.Background())
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}
