-- The edgestat SQLite schema. Applied at every start inside one transaction:
-- every statement must be idempotent. Raise the version below with every
-- change; the store records it in schema_version and refuses a database
-- written by a newer schema.
-- schema_version: 1

CREATE TABLE IF NOT EXISTS schema_version (
	version    INTEGER PRIMARY KEY,
	applied_at INTEGER NOT NULL -- unix seconds
);

-- Facts about this installation: created_at, last_binary.
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
