-- The edgestat SQLite schema. Applied at every start inside one transaction:
-- every statement must be idempotent. Raise the version below with every
-- change; the store records it in schema_version and refuses a database
-- written by a newer schema.
-- schema_version: 5

CREATE TABLE IF NOT EXISTS schema_version (
	version    INTEGER PRIMARY KEY,
	applied_at INTEGER NOT NULL -- unix seconds
);

-- Facts about this installation: created_at, last_binary.
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;

-- Bytes the database wrote to storage per UTC day (WAL frames plus the
-- pages checkpoints copied into this file): the flash wear it causes.
CREATE TABLE IF NOT EXISTS store_writes (
	day   TEXT PRIMARY KEY, -- 2026-11-22
	bytes INTEGER NOT NULL
) WITHOUT ROWID;

-- Traffic reports (MMT formats 99, 0-3 and edgestat's host format 100).
--
-- Keys are interned so that a report row costs a few bytes: traffic_sources
-- is (probe, source), traffic_paths a protocol path, traffic_hosts a LAN host,
-- traffic_flowkeys everything that names a flow except its ports and id.
-- Flow keys are many and only appended: the writer remembers the recent
-- ones, and a key it forgot is stored again under a new id (queries merge
-- by content), which is cheaper on flash than an index written at random.
-- `created` is the newest report time when the key was first stored; keys
-- no day rollup refers to any more are swept once they are two days old.
CREATE TABLE IF NOT EXISTS traffic_sources (
	id     INTEGER PRIMARY KEY,
	probe  INTEGER NOT NULL,
	source TEXT NOT NULL,
	UNIQUE (probe, source)
);
CREATE TABLE IF NOT EXISTS traffic_paths (
	id      INTEGER PRIMARY KEY,
	path    TEXT NOT NULL,
	app     INTEGER NOT NULL,
	created INTEGER NOT NULL,
	UNIQUE (path, app)
);
CREATE TABLE IF NOT EXISTS traffic_hosts (
	id      INTEGER PRIMARY KEY,
	mac     TEXT NOT NULL, -- "" when the link has none
	ip      TEXT NOT NULL,
	created INTEGER NOT NULL,
	UNIQUE (mac, ip)
);
CREATE TABLE IF NOT EXISTS traffic_flowkeys (
	id            INTEGER PRIMARY KEY,
	format        INTEGER NOT NULL,
	ip_version    INTEGER NOT NULL,
	server_addr   TEXT NOT NULL,
	client_addr   TEXT NOT NULL,
	server_port   INTEGER NOT NULL,
	transport     INTEGER NOT NULL,
	app_family    INTEGER NOT NULL,
	content_class INTEGER NOT NULL,
	path          TEXT NOT NULL,
	app           INTEGER NOT NULL,
	hostname      TEXT NOT NULL, -- format 1
	mime          TEXT NOT NULL,
	referer       TEXT NOT NULL,
	device_os     TEXT NOT NULL,
	server_name   TEXT NOT NULL, -- format 2
	cdn           INTEGER NOT NULL,
	created       INTEGER NOT NULL
);

-- Raw reports, packed: one row holds the reports of one format from one
-- source within one UTC minute that arrived in one batch, varint-encoded
-- (server/traffic/pack.go). A row per report would cost three times the
-- bytes on flash. id is the minute's start in ms shifted left 20 bits plus
-- a sequence number, so the table is its own time index.
CREATE TABLE IF NOT EXISTS traffic_raw (
	id   INTEGER PRIMARY KEY,
	kind INTEGER NOT NULL, -- the report format: 99, 0, 1, 2, 3 or 100
	src  INTEGER NOT NULL, -- traffic_sources.id
	last INTEGER NOT NULL, -- newest report time in rows (ms)
	n    INTEGER NOT NULL, -- reports in rows
	rows BLOB NOT NULL
);

-- The newest report of each source and format, for the windows of
-- /traffic/data after a restart (one small page rewritten per batch,
-- where an index on traffic_raw would touch a page per source and format).
CREATE TABLE IF NOT EXISTS traffic_newest (
	src  INTEGER NOT NULL,
	kind INTEGER NOT NULL,
	last INTEGER NOT NULL,
	PRIMARY KEY (src, kind)
) WITHOUT ROWID;

-- Rollups: one row per bucket (start in ms, UTC), source and key. Flow
-- counts are the largest value seen in the bucket, volumes are sums. A
-- bucket is written once, when the newest report is 30 s past its end;
-- until then it lives in memory (and is rebuilt from the tier below after
-- a restart). Reports older than that update the rows in place.
--
-- id is the bucket's number (start / length) shifted left 24 bits plus the
-- row's place in the bucket: rows are appended in time order, so SQLite
-- fills its pages and touches few per batch (a WITHOUT ROWID table keyed
-- by bucket, source and key rebalanced three pages per batch and left them
-- half empty, which is flash wear).
CREATE TABLE IF NOT EXISTS stats_minute (
	id INTEGER PRIMARY KEY,
	bucket INTEGER GENERATED ALWAYS AS ((id >> 24) * 60000) VIRTUAL,
	src INTEGER NOT NULL, path INTEGER NOT NULL,
	total_flows INTEGER NOT NULL, active_flows INTEGER NOT NULL,
	bytes INTEGER NOT NULL, payload INTEGER NOT NULL, packets INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS stats_hour (
	id INTEGER PRIMARY KEY,
	bucket INTEGER GENERATED ALWAYS AS ((id >> 24) * 3600000) VIRTUAL,
	src INTEGER NOT NULL, path INTEGER NOT NULL,
	total_flows INTEGER NOT NULL, active_flows INTEGER NOT NULL,
	bytes INTEGER NOT NULL, payload INTEGER NOT NULL, packets INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS stats_day (
	id INTEGER PRIMARY KEY,
	bucket INTEGER GENERATED ALWAYS AS ((id >> 24) * 86400000) VIRTUAL,
	src INTEGER NOT NULL, path INTEGER NOT NULL,
	total_flows INTEGER NOT NULL, active_flows INTEGER NOT NULL,
	bytes INTEGER NOT NULL, payload INTEGER NOT NULL, packets INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS hosts_minute (
	id INTEGER PRIMARY KEY,
	bucket INTEGER GENERATED ALWAYS AS ((id >> 24) * 60000) VIRTUAL,
	src INTEGER NOT NULL, host INTEGER NOT NULL,
	out_bytes INTEGER NOT NULL, in_bytes INTEGER NOT NULL,
	out_packets INTEGER NOT NULL, in_packets INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS hosts_hour (
	id INTEGER PRIMARY KEY,
	bucket INTEGER GENERATED ALWAYS AS ((id >> 24) * 3600000) VIRTUAL,
	src INTEGER NOT NULL, host INTEGER NOT NULL,
	out_bytes INTEGER NOT NULL, in_bytes INTEGER NOT NULL,
	out_packets INTEGER NOT NULL, in_packets INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS hosts_day (
	id INTEGER PRIMARY KEY,
	bucket INTEGER GENERATED ALWAYS AS ((id >> 24) * 86400000) VIRTUAL,
	src INTEGER NOT NULL, host INTEGER NOT NULL,
	out_bytes INTEGER NOT NULL, in_bytes INTEGER NOT NULL,
	out_packets INTEGER NOT NULL, in_packets INTEGER NOT NULL
);

-- Flow rollups have no minute tier: a minute of flows rarely shares a key
-- (an hour of emulator traffic: 10,814 flows, 7,070 distinct minute keys),
-- so the hour period groups the raw flow reports instead. Durations are
-- microseconds; the largest in the bucket is kept, like flow counts.
CREATE TABLE IF NOT EXISTS flows_hour (
	id INTEGER PRIMARY KEY,
	bucket INTEGER GENERATED ALWAYS AS ((id >> 24) * 3600000) VIRTUAL,
	src INTEGER NOT NULL, flow INTEGER NOT NULL,
	flows INTEGER NOT NULL, start_time INTEGER NOT NULL,
	ul_packets INTEGER NOT NULL, dl_packets INTEGER NOT NULL,
	ul_bytes INTEGER NOT NULL, dl_bytes INTEGER NOT NULL,
	tcp_rtt INTEGER NOT NULL, retransmissions INTEGER NOT NULL,
	response_time INTEGER NOT NULL, transactions INTEGER NOT NULL, interaction_time INTEGER NOT NULL,
	loss_rate REAL NOT NULL, loss_burstiness REAL NOT NULL, max_jitter INTEGER NOT NULL, order_error_rate REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS flows_day (
	id INTEGER PRIMARY KEY,
	bucket INTEGER GENERATED ALWAYS AS ((id >> 24) * 86400000) VIRTUAL,
	src INTEGER NOT NULL, flow INTEGER NOT NULL,
	flows INTEGER NOT NULL, start_time INTEGER NOT NULL,
	ul_packets INTEGER NOT NULL, dl_packets INTEGER NOT NULL,
	ul_bytes INTEGER NOT NULL, dl_bytes INTEGER NOT NULL,
	tcp_rtt INTEGER NOT NULL, retransmissions INTEGER NOT NULL,
	response_time INTEGER NOT NULL, transactions INTEGER NOT NULL, interaction_time INTEGER NOT NULL,
	loss_rate REAL NOT NULL, loss_burstiness REAL NOT NULL, max_jitter INTEGER NOT NULL, order_error_rate REAL NOT NULL
);

-- Operator sessions (server/operator): one row per session, written when
-- it starts and when it ends, so that a restart knows which sessions died
-- with the process (they become "aborted") and which files are left.
CREATE TABLE IF NOT EXISTS sessions (
	id            TEXT PRIMARY KEY, -- 16 upper-case hex
	network       TEXT NOT NULL,    -- network_ + 5 upper-case hex
	probe_worker  TEXT NOT NULL,    -- 64-hex worker ids
	stream_worker TEXT NOT NULL,
	seg_worker    TEXT,             -- NULL for a plain stream
	probe_id      INTEGER NOT NULL, -- the reports' probe column (an emulator session) or the probe streamed
	kind          TEXT NOT NULL,    -- emulator or probe
	count         INTEGER NOT NULL, -- packets asked for (0: until duration)
	duration_ms   INTEGER NOT NULL,
	stream_addr   TEXT NOT NULL,
	dir           TEXT NOT NULL,    -- segment files, "" for a plain stream
	state         TEXT NOT NULL,    -- waiting, running, finished, stopped, failed, aborted
	packets       INTEGER NOT NULL DEFAULT 0,
	segments      INTEGER NOT NULL DEFAULT 0,
	error         TEXT NOT NULL DEFAULT '',
	created       INTEGER NOT NULL, -- ms
	ended         INTEGER,          -- ms
	files_deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sessions_state ON sessions (state);

-- SSH host keys of monitored hosts (server/sshmon), pinned on first use:
-- a host that later shows another key is refused until a user accepts the
-- new key deliberately.
CREATE TABLE IF NOT EXISTS ssh_host_keys (
	host        TEXT PRIMARY KEY, -- host:port as dialed
	key_type    TEXT NOT NULL,    -- ssh-ed25519, ecdsa-sha2-nistp256, ...
	key         BLOB NOT NULL,    -- the public key in SSH wire format
	fingerprint TEXT NOT NULL,    -- SHA256:... as ssh-keygen -l prints it
	first_seen  INTEGER NOT NULL  -- ms
) WITHOUT ROWID;

-- Saved SSH hosts for the UI (server/sshmon). secret is the password and
-- the private key, sealed with AES-256-GCM under the key in DATA/secret.key
-- (0600), bound to user@host:port: never stored in clear text.
CREATE TABLE IF NOT EXISTS ssh_hosts (
	id      INTEGER PRIMARY KEY,
	name    TEXT NOT NULL,
	host    TEXT NOT NULL,
	port    INTEGER NOT NULL,
	user    TEXT NOT NULL,
	secret  BLOB NOT NULL,
	created INTEGER NOT NULL, -- ms
	UNIQUE (user, host, port)
);
