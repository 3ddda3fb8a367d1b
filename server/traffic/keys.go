package traffic

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"

	"edgestat/probe"
)

// Bounds of the interned tables kept whole in memory.
const (
	maxSources = 1024
	maxPaths   = 65536
	maxHosts   = 65536
	// Flow keys live in the database. The writer remembers the ids of
	// about flowKeyCache recent ones by a 64-bit hash of the key (20 bytes
	// each, where the keys themselves take 200: the appliance idles under
	// 20 MB); a key it forgot is stored again under a new id, which costs
	// flash. The query side caches flowByIDCache keys by id.
	flowKeyCache  = 32768
	flowByIDCache = 4096
)

// errTooMany reports a full key table.
var errTooMany = errors.New("too many distinct")

// keys interns sources, paths, hosts and flow keys. Sources, paths and
// hosts are held whole (they are few and bounded); flow keys are looked up
// in the database through a bounded cache. Only the writer adds keys; the
// query side reads under mu.
type keys struct {
	mu         sync.RWMutex
	sources    map[sourceKey]uint32
	sourceByID map[uint32]sourceKey
	paths      map[pathKey]uint32
	pathByID   map[uint32]pathKey
	hosts      map[hostKey]uint32
	hostByID   map[uint32]hostKey
	// Recent flow keys (by hash) in two generations: a key seen in either
	// is reused, and when the young one fills, the old one is dropped. Two
	// keys with one 64-bit hash would share an id: about one chance in 10^10
	// with a million keys.
	flows, oldFlows map[uint64]uint32
	flowByID        map[uint32]flowKey // a cache

	// reserved are new sources admitted at intake and not yet written: the
	// bound counts them, so one batch cannot bring more than are left.
	reserved map[sourceKey]struct{}

	nextSource, nextPath, nextHost, nextFlow uint32
	// added this transaction, forgotten if it rolls back
	added []func()
}

func newKeys() *keys {
	return &keys{
		sources: map[sourceKey]uint32{}, sourceByID: map[uint32]sourceKey{}, reserved: map[sourceKey]struct{}{},
		paths: map[pathKey]uint32{}, pathByID: map[uint32]pathKey{},
		hosts: map[hostKey]uint32{}, hostByID: map[uint32]hostKey{},
		flows: map[uint64]uint32{}, oldFlows: map[uint64]uint32{}, flowByID: map[uint32]flowKey{},
		nextSource: 1, nextPath: 1, nextHost: 1, nextFlow: 1,
	}
}

// load reads the small tables whole and the next flow key id.
func (k *keys) load(ctx context.Context, db *sql.DB) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	rows, err := db.QueryContext(ctx, `SELECT id, probe, source FROM traffic_sources`)
	if err != nil {
		return fmt.Errorf("traffic: load sources: %w", err)
	}
	for rows.Next() {
		var id, probe uint32
		var src string
		if err := rows.Scan(&id, &probe, &src); err != nil {
			rows.Close()
			return fmt.Errorf("traffic: load sources: %w", err)
		}
		sk := sourceKey{probe, src}
		k.sources[sk], k.sourceByID[id] = id, sk
		k.nextSource = max(k.nextSource, id+1)
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, `SELECT id, path, app FROM traffic_paths`)
	if err != nil {
		return fmt.Errorf("traffic: load paths: %w", err)
	}
	for rows.Next() {
		var id, app uint32
		var path string
		if err := rows.Scan(&id, &path, &app); err != nil {
			rows.Close()
			return fmt.Errorf("traffic: load paths: %w", err)
		}
		pk := pathKey{path, app}
		k.paths[pk], k.pathByID[id] = id, pk
		k.nextPath = max(k.nextPath, id+1)
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, `SELECT id, mac, ip FROM traffic_hosts`)
	if err != nil {
		return fmt.Errorf("traffic: load hosts: %w", err)
	}
	for rows.Next() {
		var id uint32
		var mac, ip string
		if err := rows.Scan(&id, &mac, &ip); err != nil {
			rows.Close()
			return fmt.Errorf("traffic: load hosts: %w", err)
		}
		hk, err := parseHostKey(mac, ip)
		if err != nil {
			rows.Close()
			return fmt.Errorf("traffic: load host %d: %w", id, err)
		}
		k.hosts[hk], k.hostByID[id] = id, hk
		k.nextHost = max(k.nextHost, id+1)
	}
	rows.Close()
	var next sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT max(id) FROM traffic_flowkeys`).Scan(&next); err != nil {
		return fmt.Errorf("traffic: load flow keys: %w", err)
	}
	k.nextFlow = uint32(next.Int64) + 1
	return nil
}

func parseHostKey(mac, ip string) (hostKey, error) {
	var hk hostKey
	if mac != "" {
		hw, err := net.ParseMAC(mac)
		if err != nil || len(hw) != 6 {
			return hk, fmt.Errorf("bad mac %q", mac)
		}
		copy(hk.mac[:], hw)
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return hk, fmt.Errorf("bad ip %q", ip)
	}
	hk.ip = a
	return hk, nil
}

func macText(mac [6]byte) string {
	if mac == ([6]byte{}) {
		return ""
	}
	return probe.MACString(mac)
}

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func parseAddr(s string) netip.Addr {
	a, _ := netip.ParseAddr(s) // "" is the invalid address
	return a
}

// admits reports whether a report of this source, path or host can be
// stored without passing a key table's bound.
func (k *keys) admits(sk sourceKey, pk *pathKey, hk *hostKey) error {
	k.mu.RLock()
	_, known := k.sources[sk]
	if pk != nil {
		if _, ok := k.paths[*pk]; !ok && len(k.paths) >= maxPaths {
			k.mu.RUnlock()
			return fmt.Errorf("%w paths (%d)", errTooMany, maxPaths)
		}
	}
	if hk != nil {
		if _, ok := k.hosts[*hk]; !ok && len(k.hosts) >= maxHosts {
			k.mu.RUnlock()
			return fmt.Errorf("%w hosts (%d)", errTooMany, maxHosts)
		}
	}
	k.mu.RUnlock()
	if known {
		return nil // the usual case: no write lock per report
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.sources[sk]; ok {
		return nil
	}
	if _, ok := k.reserved[sk]; ok {
		return nil
	}
	if len(k.sources)+len(k.reserved) >= maxSources {
		return fmt.Errorf("%w sources (%d): no new probe/source pair is stored", errTooMany, maxSources)
	}
	k.reserved[sk] = struct{}{}
	return nil
}

// unreserve forgets the reservations of reports that never reached the
// writer (dropped while waiting); the writer calls it when nothing waits.
func (k *keys) unreserve() {
	k.mu.Lock()
	clear(k.reserved)
	k.mu.Unlock()
}

// The writer's lookups: each returns the key's id, inserting it in tx when
// new. created is the newest report time, for the sweep.

func (k *keys) source(ctx context.Context, tx *sql.Tx, sk sourceKey) (uint32, error) {
	k.mu.RLock()
	id, ok := k.sources[sk]
	k.mu.RUnlock()
	if ok {
		return id, nil
	}
	if len(k.sources) >= maxSources {
		return 0, fmt.Errorf("%w sources (%d)", errTooMany, maxSources)
	}
	id = k.nextSource
	if _, err := tx.ExecContext(ctx, `INSERT INTO traffic_sources(id, probe, source) VALUES (?, ?, ?)`, id, sk.probe, sk.source); err != nil {
		return 0, fmt.Errorf("traffic: store source: %w", err)
	}
	k.mu.Lock()
	k.nextSource++
	k.sources[sk], k.sourceByID[id] = id, sk
	delete(k.reserved, sk)
	k.added = append(k.added, func() { delete(k.sources, sk); delete(k.sourceByID, id); k.nextSource = min(k.nextSource, id) })
	k.mu.Unlock()
	return id, nil
}

func (k *keys) path(ctx context.Context, tx *sql.Tx, pk pathKey, created int64) (uint32, error) {
	k.mu.RLock()
	id, ok := k.paths[pk]
	k.mu.RUnlock()
	if ok {
		return id, nil
	}
	if len(k.paths) >= maxPaths {
		return 0, fmt.Errorf("%w paths (%d)", errTooMany, maxPaths)
	}
	id = k.nextPath
	if _, err := tx.ExecContext(ctx, `INSERT INTO traffic_paths(id, path, app, created) VALUES (?, ?, ?, ?)`, id, pk.path, pk.app, created); err != nil {
		return 0, fmt.Errorf("traffic: store path: %w", err)
	}
	k.mu.Lock()
	k.nextPath++
	k.paths[pk], k.pathByID[id] = id, pk
	k.added = append(k.added, func() { delete(k.paths, pk); delete(k.pathByID, id); k.nextPath = min(k.nextPath, id) })
	k.mu.Unlock()
	return id, nil
}

func (k *keys) host(ctx context.Context, tx *sql.Tx, hk hostKey, created int64) (uint32, error) {
	k.mu.RLock()
	id, ok := k.hosts[hk]
	k.mu.RUnlock()
	if ok {
		return id, nil
	}
	if len(k.hosts) >= maxHosts {
		return 0, fmt.Errorf("%w hosts (%d)", errTooMany, maxHosts)
	}
	id = k.nextHost
	if _, err := tx.ExecContext(ctx, `INSERT INTO traffic_hosts(id, mac, ip, created) VALUES (?, ?, ?, ?)`, id, macText(hk.mac), addrText(hk.ip), created); err != nil {
		return 0, fmt.Errorf("traffic: store host: %w", err)
	}
	k.mu.Lock()
	k.nextHost++
	k.hosts[hk], k.hostByID[id] = id, hk
	k.added = append(k.added, func() { delete(k.hosts, hk); delete(k.hostByID, id); k.nextHost = min(k.nextHost, id) })
	k.mu.Unlock()
	return id, nil
}

const flowKeyColumns = `format, ip_version, server_addr, client_addr, server_port, transport, app_family, content_class, path, app, hostname, mime, referer, device_os, server_name, cdn`

func scanFlowKey(sc interface{ Scan(...any) error }, id *uint32) (flowKey, error) {
	var fk flowKey
	var server, client string
	if err := sc.Scan(id, &fk.format, &fk.ipVersion, &server, &client, &fk.serverPort, &fk.transport, &fk.appFamily,
		&fk.contentClass, &fk.path, &fk.app, &fk.hostname, &fk.mime, &fk.referer, &fk.deviceOS, &fk.serverName, &fk.cdn); err != nil {
		return fk, err
	}
	fk.server, fk.client = parseAddr(server), parseAddr(client)
	return fk, nil
}

func (k *keys) cacheFlow(fk flowKey, id uint32) {
	if len(k.flows) >= flowKeyCache/2 {
		k.oldFlows, k.flows = k.flows, make(map[uint64]uint32, flowKeyCache/2)
	}
	if len(k.flowByID) >= flowByIDCache {
		clear(k.flowByID)
	}
	k.flows[fk.hash()], k.flowByID[id] = id, fk
}

// knownFlow reports whether the writer saw flow key fk recently.
func (k *keys) knownFlow(fk flowKey) bool {
	_, ok := k.cachedFlow(fk.hash())
	return ok
}

// cachedFlow is the id of the flow key with hash h, when the writer saw it
// recently.
func (k *keys) cachedFlow(h uint64) (uint32, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	id, ok := k.flows[h]
	if !ok {
		id, ok = k.oldFlows[h]
	}
	return id, ok
}

// flow returns the id of a flow key the writer saw recently, or stores the
// key under a new id: no lookup in the database, whose index would be
// written at random on every new key.
func (k *keys) flow(ctx context.Context, tx *sql.Tx, fk flowKey, created int64) (uint32, error) {
	h := fk.hash()
	if id, ok := k.cachedFlow(h); ok {
		return id, nil
	}
	id := k.nextFlow
	if _, err := tx.ExecContext(ctx, `INSERT INTO traffic_flowkeys(id, `+flowKeyColumns+`, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, fk.format, fk.ipVersion, addrText(fk.server), addrText(fk.client), fk.serverPort, fk.transport, fk.appFamily,
		fk.contentClass, fk.path, fk.app, fk.hostname, fk.mime, fk.referer, fk.deviceOS, fk.serverName, fk.cdn, created); err != nil {
		return 0, fmt.Errorf("traffic: store flow key: %w", err)
	}
	k.mu.Lock()
	k.nextFlow++
	k.cacheFlow(fk, id)
	k.added = append(k.added, func() { delete(k.flows, h); delete(k.flowByID, id); k.nextFlow = min(k.nextFlow, id) })
	k.mu.Unlock()
	return id, nil
}

// commit forgets the undo list; rollback undoes the keys the failed
// transaction added.
func (k *keys) commit() {
	k.mu.Lock()
	k.added = k.added[:0]
	k.mu.Unlock()
}

func (k *keys) rollback() {
	k.mu.Lock()
	for i := len(k.added) - 1; i >= 0; i-- {
		k.added[i]()
	}
	k.added = k.added[:0]
	k.mu.Unlock()
}

// flowKeysByID resolves flow key ids for the query side: from the cache,
// the rest from the database.
func (k *keys) flowKeysByID(ctx context.Context, q queryer, ids map[uint32]flowKey) error {
	var missing []any
	k.mu.RLock()
	for id := range ids {
		if fk, ok := k.flowByID[id]; ok {
			ids[id] = fk
		} else {
			missing = append(missing, id)
		}
	}
	k.mu.RUnlock()
	for len(missing) > 0 {
		n := min(len(missing), 500)
		chunk := missing[:n]
		missing = missing[n:]
		rows, err := q.QueryContext(ctx, `SELECT id, `+flowKeyColumns+` FROM traffic_flowkeys WHERE id IN (?`+strings.Repeat(",?", n-1)+`)`, chunk...)
		if err != nil {
			return fmt.Errorf("traffic: read flow keys: %w", err)
		}
		for rows.Next() {
			var id uint32
			fk, err := scanFlowKey(rows, &id)
			if err != nil {
				rows.Close()
				return fmt.Errorf("traffic: read flow keys: %w", err)
			}
			ids[id] = fk
		}
		rows.Close()
	}
	return nil
}

// queryer is a *sql.DB, *sql.Conn or *sql.Tx.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}
