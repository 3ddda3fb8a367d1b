package traffic

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"edgestat/probe"
	"edgestat/server/store"
)

// Retention of each tier, and its floor: what the periods (and the rebuild
// of the open buckets after a restart) need.
type Retention struct {
	Raw, Minute, Hour, Day time.Duration
}

// DefaultRetention keeps raw reports a day, minutes a week, hours 90 days
// and days five years.
var DefaultRetention = Retention{Raw: 24 * time.Hour, Minute: 7 * 24 * time.Hour, Hour: 90 * 24 * time.Hour, Day: 5 * 365 * 24 * time.Hour}

// MinRetention is the least each tier may keep.
var MinRetention = Retention{Raw: 2 * time.Hour, Minute: 2 * time.Hour, Hour: 7 * 24 * time.Hour, Day: 30 * 24 * time.Hour}

// Config of a Store. Zero fields take the defaults.
type Config struct {
	FlushRows     int           // flush when this many reports wait; default 20,000
	FlushInterval time.Duration // or when the oldest waiting report is this old; default 5 minutes
	MaxPending    int           // reports waiting at most; default 4×FlushRows
	Retention     Retention     // default DefaultRetention
	MaxDBBytes    int64         // database bound kept by pruning; 0: none
	Publisher     Publisher     // gets every stored report; may be nil
	Log           *slog.Logger
	Now           func() time.Time // the wall clock (tests)
}

// A Publisher is told of every report the Store accepted (the live hub).
type Publisher interface{ Publish(probe.Row) }

func (c *Config) defaults() {
	if c.FlushRows <= 0 {
		c.FlushRows = 20_000
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = 5 * time.Minute
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 4 * c.FlushRows
	}
	if c.Retention == (Retention{}) {
		c.Retention = DefaultRetention
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports a retention below its floor.
func (r Retention) Validate() error {
	for _, t := range []struct {
		name      string
		have, min time.Duration
	}{{"raw", r.Raw, MinRetention.Raw}, {"minute", r.Minute, MinRetention.Minute}, {"hour", r.Hour, MinRetention.Hour}, {"day", r.Day, MinRetention.Day}} {
		if t.have < t.min {
			return fmt.Errorf("retention of the %s tier %v is below its minimum %v", t.name, t.have, t.min)
		}
	}
	// Raw reports name keys that only the day tier is sure to keep.
	if r.Raw > r.Day {
		return fmt.Errorf("raw reports cannot be kept longer (%v) than days (%v)", r.Raw, r.Day)
	}
	return nil
}

// batch is reports waiting to be written.
type batch struct {
	stats []probe.StatRow
	hosts []probe.HostRow
	flows []probe.FlowRow
}

func (b *batch) len() int { return len(b.stats) + len(b.hosts) + len(b.flows) }

// newestKey names one timeline for the anchors of /traffic/data.
type newestKey struct {
	src    sourceKey
	format uint8
}

// Store keeps reports: the ones waiting in memory, the open rollup buckets
// in memory, and the database. Reports come through the probe.Sink methods
// (never blocking the probe) and Ingest (waiting for room).
type Store struct {
	cfg  Config
	st   *store.Store
	db   *sql.DB
	log  *slog.Logger
	keys *keys

	flushMu  sync.Mutex // one batch at a time: the writer, Flush (tests) and shutdown
	pendMu   sync.Mutex
	pending  batch
	inflight *batch // being written; still visible to queries
	newest   map[newestKey]int64
	room     *sync.Cond // signalled when a flush makes room
	kick     chan struct{}
	apps     appBytes // format 99 bytes per probe and application, for /metrics

	// stateMu orders commits against queries: a query sees the database
	// and the open buckets from one side of a commit.
	stateMu sync.RWMutex
	w       int64 // newest report time written
	openS   [numTiers]map[aggKey]statAgg
	openH   [numTiers]map[aggKey]hostAgg
	openF   [numTiers]map[aggKey]flowAgg // no minute tier

	// writer-only
	seq          map[int64]uint32 // next sequence number per minute of traffic_raw
	lastMaintain time.Time
	lastSweep    time.Time
	lastWearLog  string

	stats    counters
	writeErr atomic.Pointer[error] // the latest batch's error; nil once one is written

	// Durability for POST /traffic/reports: reports are numbered as
	// accepted (stats.accepted); the batch being written holds those up
	// to inflightUpTo; committed is the last number known written.
	inflightUpTo uint64 // under pendMu
	committed    atomic.Uint64
	syncWanted   atomic.Bool   // a waiter wants the next batch written now
	commitSignal chan struct{} // closed and replaced at each commit (under pendMu)
}

type counters struct {
	accepted, stored, dropped, invalid, flushes, failures atomic.Uint64
	folded                                                atomic.Uint64
	lastFlushNS                                           atomic.Int64
	lastFlushDur                                          atomic.Int64
	pruned                                                atomic.Uint64
}

// Counters are the Store's counters, for /traffic/status.
type Counters struct {
	Accepted    uint64 `json:"accepted"`      // reports taken in
	Stored      uint64 `json:"stored"`        // reports committed to the database
	Pending     int    `json:"pending"`       // reports waiting for the next flush
	Dropped     uint64 `json:"dropped"`       // probe reports refused: too many waiting
	Invalid     uint64 `json:"invalid"`       // probe reports refused by validation or a full key table
	Flushes     uint64 `json:"flushes"`       // committed batches
	Failures    uint64 `json:"failures"`      // failed batches (retried)
	LastFlush   int64  `json:"last_flush"`    // wall time, ms
	LastFlushMS int64  `json:"last_flush_ms"` // how long it took
	Pruned      uint64 `json:"pruned"`        // prunings for the size bound
	Folded      uint64 `json:"flows_folded"`  // flow reports stored under their application's key (maxOpenFlowKeys)
	Newest      int64  `json:"newest"`        // newest report time written, ms
}

// Open loads the key tables and rebuilds the open buckets from the
// database, so a restart (or a crash) continues where the last commit was.
func Open(ctx context.Context, st *store.Store, cfg Config) (*Store, error) {
	cfg.defaults()
	if err := cfg.Retention.Validate(); err != nil {
		return nil, err
	}
	s := &Store{
		cfg: cfg, st: st, db: st.DB(), log: cfg.Log, keys: newKeys(),
		newest: map[newestKey]int64{}, kick: make(chan struct{}, 1),
		seq: map[int64]uint32{}, w: math.MinInt64,
		lastMaintain: cfg.Now(), lastSweep: cfg.Now(),
	}
	s.room = sync.NewCond(&s.pendMu)
	for t := range numTiers {
		s.openS[t], s.openH[t], s.openF[t] = map[aggKey]statAgg{}, map[aggKey]hostAgg{}, map[aggKey]flowAgg{}
	}
	if err := s.keys.load(ctx, s.db); err != nil {
		return nil, err
	}
	if err := s.loadNewest(ctx); err != nil {
		return nil, err
	}
	if err := s.rebuildOpen(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) loadNewest(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT src, kind, last FROM traffic_newest`)
	if err != nil {
		return fmt.Errorf("traffic: read newest reports: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var src uint32
		var kind uint8
		var last int64
		if err := rows.Scan(&src, &kind, &last); err != nil {
			return fmt.Errorf("traffic: read newest reports: %w", err)
		}
		if sk, ok := s.keys.sourceByID[src]; ok {
			s.newest[newestKey{sk, kind}] = last
		}
		s.w = max(s.w, last)
	}
	return rows.Err()
}

// rebuildOpen sums the buckets not yet written from the tier below: the
// minute tier from raw reports, hours from minutes (flows from raw), days
// from hours.
func (s *Store) rebuildOpen(ctx context.Context) error {
	if s.w == math.MinInt64 {
		return nil
	}
	cuM, cuH, cuD := closedUntil(s.w, tierMinute), closedUntil(s.w, tierHour), closedUntil(s.w, tierDay)
	// Minutes of stats and hosts, and hours of flows, from raw reports.
	from := min(cuM, cuH)
	err := s.scanRaw(ctx, s.db, from, math.MaxInt64, nil, -1, func(kind uint8, src uint32, blob []byte, base int64) error {
		switch kind {
		case probe.FormatStats:
			return unpackStats(blob, base, func(path uint32, r *probe.StatRow) {
				if r.Time >= cuM {
					k := aggKey{bucketOf(r.Time, tierMinute), src, path}
					s.openS[tierMinute][k] = s.openS[tierMinute][k].merge(statAggOf(r))
				}
			})
		case probe.FormatHosts:
			return unpackHosts(blob, base, func(host uint32, r *probe.HostRow) {
				if r.Time >= cuM {
					k := aggKey{bucketOf(r.Time, tierMinute), src, host}
					s.openH[tierMinute][k] = s.openH[tierMinute][k].merge(hostAggOf(r))
				}
			})
		default:
			return unpackFlows(blob, base, kind, func(key uint32, r *probe.FlowRow) {
				if r.Time >= cuH {
					k := aggKey{bucketOf(r.Time, tierHour), src, key}
					s.openF[tierHour][k] = s.openF[tierHour][k].merge(flowAggOf(r))
				}
			})
		}
	})
	if err != nil {
		return err
	}
	// Hours of stats and hosts: written minutes of open hours, and the open minutes.
	if err := s.readStatTier(ctx, tierMinute, cuH, cuM-1, nil, func(k aggKey, a statAgg) {
		k.bucket = bucketOf(k.bucket, tierHour)
		s.openS[tierHour][k] = s.openS[tierHour][k].merge(a)
	}); err != nil {
		return err
	}
	if err := s.readHostTier(ctx, tierMinute, cuH, cuM-1, nil, func(k aggKey, a hostAgg) {
		k.bucket = bucketOf(k.bucket, tierHour)
		s.openH[tierHour][k] = s.openH[tierHour][k].merge(a)
	}); err != nil {
		return err
	}
	for k, a := range s.openS[tierMinute] {
		k.bucket = bucketOf(k.bucket, tierHour)
		s.openS[tierHour][k] = s.openS[tierHour][k].merge(a)
	}
	for k, a := range s.openH[tierMinute] {
		k.bucket = bucketOf(k.bucket, tierHour)
		s.openH[tierHour][k] = s.openH[tierHour][k].merge(a)
	}
	// Days: written hours of open days, and the open hours.
	if err := s.readStatTier(ctx, tierHour, cuD, cuH-1, nil, func(k aggKey, a statAgg) {
		k.bucket = bucketOf(k.bucket, tierDay)
		s.openS[tierDay][k] = s.openS[tierDay][k].merge(a)
	}); err != nil {
		return err
	}
	if err := s.readHostTier(ctx, tierHour, cuD, cuH-1, nil, func(k aggKey, a hostAgg) {
		k.bucket = bucketOf(k.bucket, tierDay)
		s.openH[tierDay][k] = s.openH[tierDay][k].merge(a)
	}); err != nil {
		return err
	}
	if err := s.readFlowTier(ctx, tierHour, cuD, cuH-1, nil, func(k aggKey, a flowAgg) {
		k.bucket = bucketOf(k.bucket, tierDay)
		s.openF[tierDay][k] = s.openF[tierDay][k].merge(a)
	}); err != nil {
		return err
	}
	for k, a := range s.openS[tierHour] {
		k.bucket = bucketOf(k.bucket, tierDay)
		s.openS[tierDay][k] = s.openS[tierDay][k].merge(a)
	}
	for k, a := range s.openH[tierHour] {
		k.bucket = bucketOf(k.bucket, tierDay)
		s.openH[tierDay][k] = s.openH[tierDay][k].merge(a)
	}
	for k, a := range s.openF[tierHour] {
		k.bucket = bucketOf(k.bucket, tierDay)
		s.openF[tierDay][k] = s.openF[tierDay][k].merge(a)
	}
	return nil
}

// maxOpenFlowKeys bounds the distinct flow keys of the open buckets. A
// flow key holds both addresses, so a scan or a flood makes a new one per
// flow, and each stays in the open hour and day until they close: a
// 115,000 flows/s flood took the process to 700 MB in 23 s. Past the bound
// a new key's reports are kept under its application's key (folded):
// totals stay exact, the addresses, ports and texts of those flows are
// not kept. Each open entry is about 170 bytes: at most 11 MB a tier.
const maxOpenFlowKeys = 32768

// --- intake ---

// Check reports why r cannot be stored, or nil: validation and the bounds
// of the key tables.
func (s *Store) Check(r probe.Row) error {
	if err := validate(r, s.cfg.Now().UnixMilli()); err != nil {
		return err
	}
	switch r := r.(type) {
	case *probe.StatRow:
		return s.keys.admits(sourceKey{r.Probe, r.Source}, &pathKey{r.Path, r.App}, nil)
	case *probe.HostRow:
		return s.keys.admits(sourceKey{r.Probe, r.Source}, nil, &hostKey{r.MAC, r.IP})
	case *probe.FlowRow:
		return s.keys.admits(sourceKey{r.Probe, r.Source}, nil, nil)
	}
	return nil
}

// Stats implements probe.Sink.
func (s *Store) Stats(rows []probe.StatRow) {
	for i := range rows {
		s.offer(&rows[i])
	}
}

// Flows implements probe.Sink.
func (s *Store) Flows(rows []probe.FlowRow) {
	for i := range rows {
		s.offer(&rows[i])
	}
}

// Hosts implements probe.Sink.
func (s *Store) Hosts(rows []probe.HostRow) {
	for i := range rows {
		s.offer(&rows[i])
	}
}

// offer takes a probe's report without waiting: when too many wait, it is
// dropped and counted, so a stuck disk never stalls the capture.
func (s *Store) offer(r probe.Row) {
	if err := s.Check(r); err != nil {
		if s.stats.invalid.Add(1)%1000 == 1 {
			s.log.Warn("traffic: probe report refused", "err", err, "refused", s.stats.invalid.Load())
		}
		return
	}
	s.pendMu.Lock()
	if s.waitingLocked() >= s.cfg.MaxPending {
		s.pendMu.Unlock()
		if s.stats.dropped.Add(1)%10000 == 1 {
			s.log.Warn("traffic: reports dropped, the database does not keep up", "dropped", s.stats.dropped.Load())
		}
		return
	}
	s.addLocked(r)
	s.pendMu.Unlock()
	if s.cfg.Publisher != nil {
		s.cfg.Publisher.Publish(r)
	}
}

// Accepted is the number of reports taken so far; WaitWritten(ctx,
// Accepted()) after an Ingest waits until those reports are committed.
func (s *Store) Accepted() uint64 { return s.stats.accepted.Load() }

// WaitWritten returns once every report up to number upTo (see Accepted)
// is committed to the database, asking the writer to write now rather
// than at its interval; or with ctx's error. Concurrent waiters share
// one commit.
func (s *Store) WaitWritten(ctx context.Context, upTo uint64) error {
	for {
		if s.committed.Load() >= upTo {
			return nil
		}
		s.pendMu.Lock()
		if s.commitSignal == nil {
			s.commitSignal = make(chan struct{})
		}
		ch := s.commitSignal
		s.pendMu.Unlock()
		if s.committed.Load() >= upTo {
			return nil
		}
		s.syncWanted.Store(true)
		select {
		case s.kick <- struct{}{}:
		default:
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Ingest takes checked reports (see Check), waiting while too many wait;
// it returns how many it took before ctx ended.
func (s *Store) Ingest(ctx context.Context, rows []probe.Row) (int, error) {
	stop := context.AfterFunc(ctx, func() {
		s.pendMu.Lock()
		s.room.Broadcast()
		s.pendMu.Unlock()
	})
	defer stop()
	for i, r := range rows {
		s.pendMu.Lock()
		for s.waitingLocked() >= s.cfg.MaxPending && ctx.Err() == nil {
			s.room.Wait()
		}
		if err := ctx.Err(); err != nil {
			s.pendMu.Unlock()
			return i, err
		}
		s.addLocked(r)
		s.pendMu.Unlock()
		if s.cfg.Publisher != nil {
			s.cfg.Publisher.Publish(r)
		}
	}
	return len(rows), nil
}

func (s *Store) addLocked(r probe.Row) {
	var nk newestKey
	var t int64
	switch r := r.(type) {
	case *probe.StatRow:
		s.pending.stats = append(s.pending.stats, *r)
		nk, t = newestKey{sourceKey{r.Probe, r.Source}, probe.FormatStats}, r.Time
		s.apps.add(r, s.cfg.Now)
	case *probe.HostRow:
		s.pending.hosts = append(s.pending.hosts, *r)
		nk, t = newestKey{sourceKey{r.Probe, r.Source}, probe.FormatHosts}, r.Time
	case *probe.FlowRow:
		s.pending.flows = append(s.pending.flows, *r)
		nk, t = newestKey{sourceKey{r.Probe, r.Source}, r.Format}, r.Time
	default:
		return
	}
	if old, ok := s.newest[nk]; !ok || t > old {
		s.newest[nk] = t
	}
	s.stats.accepted.Add(1)
	if n := s.pending.len(); n == 1 || n >= s.cfg.FlushRows {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// Counters returns the Store's counters.
func (s *Store) Counters() Counters {
	s.pendMu.Lock()
	pending := s.pending.len()
	if s.inflight != nil {
		pending += s.inflight.len()
	}
	s.pendMu.Unlock()
	s.stateMu.RLock()
	w := s.w
	s.stateMu.RUnlock()
	if w == math.MinInt64 {
		w = 0
	}
	return Counters{
		Accepted: s.stats.accepted.Load(), Stored: s.stats.stored.Load(), Pending: pending,
		Dropped: s.stats.dropped.Load(), Invalid: s.stats.invalid.Load(), Flushes: s.stats.flushes.Load(),
		Failures: s.stats.failures.Load(), LastFlush: s.stats.lastFlushNS.Load() / 1e6,
		LastFlushMS: s.stats.lastFlushDur.Load() / 1e6, Pruned: s.stats.pruned.Load(), Newest: w,
		Folded: s.stats.folded.Load(),
	}
}

// --- the writer ---

// Run writes batches until ctx ends, then writes what waits and returns.
func (s *Store) Run(ctx context.Context) {
	retry := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			s.flushAll()
			return
		case <-s.kick:
		}
		if retry > 0 {
			// The last batch failed: wait before trying again.
			select {
			case <-ctx.Done():
				s.flushAll()
				return
			case <-time.After(retry):
			}
		}
		deadline := time.NewTimer(s.cfg.FlushInterval)
	wait:
		for s.pendingLen() < s.cfg.FlushRows && s.pendingLen() > 0 && retry == 0 && !s.syncWanted.Load() {
			select {
			case <-ctx.Done():
				deadline.Stop()
				s.flushAll()
				return
			case <-deadline.C:
				break wait
			case <-s.kick:
			}
		}
		deadline.Stop()
		// A batch under way is finished even when ctx ends: it is short.
		if err := s.flush(context.WithoutCancel(ctx)); err != nil {
			retry = min(max(2*retry, time.Second), time.Minute)
			s.log.Error("traffic: writing reports failed; kept in memory, retrying", "err", err, "retry_in", retry.String())
			select {
			case s.kick <- struct{}{}:
			default:
			}
			continue
		}
		retry = 0
	}
}

// pendingLen counts what waits, the batch whose write failed included.
func (s *Store) pendingLen() int {
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	return s.waitingLocked()
}

// waitingLocked is what MaxPending bounds: the pending reports and the
// batch being written (or failing to be), so a disk that refuses writes
// holds at most MaxPending reports in memory.
func (s *Store) waitingLocked() int {
	n := s.pending.len()
	if s.inflight != nil {
		n += s.inflight.len()
	}
	return n
}

// flushAll writes everything waiting, at shutdown.
func (s *Store) flushAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < 3 && s.pendingLen() > 0; i++ {
		if err := s.flush(ctx); err != nil {
			s.log.Error("traffic: writing reports at shutdown failed", "err", err)
		}
	}
}

// Flush writes what waits now (tests, benchmarks).
func (s *Store) Flush(ctx context.Context) error {
	for s.pendingLen() > 0 {
		if err := s.flush(ctx); err != nil {
			return err
		}
	}
	return nil
}

type blobKey struct {
	kind uint8
	src  uint32
	hour int64
}

// flush writes one batch in one transaction: raw reports, closed buckets,
// late reports into written buckets, and (when due) retention. The open
// buckets change only once the commit succeeded.
func (s *Store) flush(ctx context.Context) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.pendMu.Lock()
	if s.inflight == nil {
		b := s.pending
		s.inflight = &b
		s.pending = batch{}
		s.inflightUpTo = s.stats.accepted.Load()
		s.syncWanted.Store(false)
	}
	b := s.inflight
	s.room.Broadcast()
	s.pendMu.Unlock()
	if b.len() == 0 {
		s.pendMu.Lock()
		s.inflight = nil
		s.pendMu.Unlock()
		return nil
	}
	start := time.Now()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.failed(fmt.Errorf("traffic: begin batch: %w", err))
	}
	defer tx.Rollback() // after Commit, a no-op
	s.stateMu.RLock()
	wOld := s.w
	s.stateMu.RUnlock()
	wNew := wOld
	for i := range b.stats {
		wNew = max(wNew, b.stats[i].Time)
	}
	for i := range b.hosts {
		wNew = max(wNew, b.hosts[i].Time)
	}
	for i := range b.flows {
		wNew = max(wNew, b.flows[i].Time)
	}
	var cuNew [numTiers]int64
	for t := range numTiers {
		cuNew[t] = closedUntil(wNew, t)
	}

	blobs := map[blobKey]*packer{}
	blob := func(kind uint8, src uint32, t int64) *packer {
		k := blobKey{kind, src, bucketOf(t, tierHour)}
		p := blobs[k]
		if p == nil {
			p = &packer{base: k.hour}
			blobs[k] = p
		}
		return p
	}
	var addS [numTiers]map[aggKey]statAgg
	var addH [numTiers]map[aggKey]hostAgg
	var addF [numTiers]map[aggKey]flowAgg
	for t := range numTiers {
		addS[t], addH[t], addF[t] = map[aggKey]statAgg{}, map[aggKey]hostAgg{}, map[aggKey]flowAgg{}
	}
	fail := func(err error) error {
		s.keys.rollback()
		return s.failed(err)
	}
	// A report that would pass a key table's bound is left out, not the
	// batch: intake checks the bounds against the keys already written, so a
	// batch can bring more new keys than are left, and failing it would
	// retry the same batch forever while everything else waits.
	overBound := 0
	skip := func(err error) bool {
		if errors.Is(err, errTooMany) {
			overBound++
			return true
		}
		return false
	}
	for i := range b.stats {
		r := &b.stats[i]
		src, err := s.keys.source(ctx, tx, sourceKey{r.Probe, r.Source})
		if skip(err) {
			continue
		} else if err != nil {
			return fail(err)
		}
		path, err := s.keys.path(ctx, tx, pathKey{r.Path, r.App}, wNew)
		if skip(err) {
			continue
		} else if err != nil {
			return fail(err)
		}
		blob(probe.FormatStats, src, r.Time).stat(path, r)
		a := statAggOf(r)
		for t := range numTiers {
			k := aggKey{bucketOf(r.Time, t), src, path}
			addS[t][k] = addS[t][k].merge(a)
		}
	}
	for i := range b.hosts {
		r := &b.hosts[i]
		src, err := s.keys.source(ctx, tx, sourceKey{r.Probe, r.Source})
		if skip(err) {
			continue
		} else if err != nil {
			return fail(err)
		}
		host, err := s.keys.host(ctx, tx, hostKey{r.MAC, r.IP}, wNew)
		if skip(err) {
			continue
		} else if err != nil {
			return fail(err)
		}
		blob(probe.FormatHosts, src, r.Time).host(host, r)
		a := hostAggOf(r)
		for t := range numTiers {
			k := aggKey{bucketOf(r.Time, t), src, host}
			addH[t][k] = addH[t][k].merge(a)
		}
	}
	for i := range b.flows {
		r := &b.flows[i]
		src, err := s.keys.source(ctx, tx, sourceKey{r.Probe, r.Source})
		if skip(err) {
			continue
		} else if err != nil {
			return fail(err)
		}
		fk := flowKeyOf(r)
		if len(s.openF[tierDay])+len(addF[tierDay]) >= maxOpenFlowKeys && !s.keys.knownFlow(fk) {
			fk = fk.folded()
			s.stats.folded.Add(1)
		}
		key, err := s.keys.flow(ctx, tx, fk, wNew)
		if skip(err) {
			continue
		} else if err != nil {
			return fail(err)
		}
		blob(r.Format, src, r.Time).flow(key, r)
		a := flowAggOf(r)
		for t := tierHour; t < numTiers; t++ {
			k := aggKey{bucketOf(r.Time, t), src, key}
			addF[t][k] = addF[t][k].merge(a)
		}
	}
	// Raw reports.
	ins, err := tx.PrepareContext(ctx, `INSERT INTO traffic_raw(id, kind, src, last, n, rows) VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fail(fmt.Errorf("traffic: prepare: %w", err))
	}
	defer ins.Close()
	newest := map[[2]uint32]int64{}
	newSeq := map[int64]uint32{}
	for k, p := range blobs {
		nk := [2]uint32{k.src, uint32(k.kind)}
		newest[nk] = max(newest[nk], p.last)
		// The id is the minute of the oldest report; the blob's hour follows.
		minute := bucketOf(p.first, tierMinute)
		seq, err := s.nextSeq(ctx, tx, minute, newSeq)
		if err != nil {
			return fail(err)
		}
		if _, err := ins.ExecContext(ctx, minute<<20|int64(seq), k.kind, k.src, p.last, p.n, p.buf); err != nil {
			return fail(fmt.Errorf("traffic: store reports: %w", err))
		}
	}
	for k, last := range newest {
		if _, err := tx.ExecContext(ctx, `INSERT INTO traffic_newest(src, kind, last) VALUES (?, ?, ?)
			ON CONFLICT(src, kind) DO UPDATE SET last = max(last, excluded.last)`, k[0], k[1], last); err != nil {
			return fail(fmt.Errorf("traffic: store newest: %w", err))
		}
	}
	// Rollups: buckets that close now (the open ones plus this batch), and
	// this batch's reports for buckets already written.
	for t := range numTiers {
		if err := writeRollup(ctx, tx, statRollups[t], t, closing(s.openS[t], addS[t], cuNew[t])); err != nil {
			return fail(err)
		}
		if err := writeRollup(ctx, tx, hostRollups[t], t, closing(s.openH[t], addH[t], cuNew[t])); err != nil {
			return fail(err)
		}
		if t > tierMinute {
			if err := writeRollup(ctx, tx, flowRollups[t], t, closing(s.openF[t], addF[t], cuNew[t])); err != nil {
				return fail(err)
			}
		}
	}
	maintain := s.cfg.Now().Sub(s.lastMaintain) >= time.Hour
	if maintain {
		if err := s.retain(ctx, tx, wNew); err != nil {
			return fail(err)
		}
	}

	s.stateMu.Lock()
	if err := tx.Commit(); err != nil {
		s.stateMu.Unlock()
		return fail(fmt.Errorf("traffic: commit batch: %w", err))
	}
	s.keys.commit()
	s.w = wNew
	for t := range numTiers {
		mergeOpen(s.openS[t], addS[t], cuNew[t])
		mergeOpen(s.openH[t], addH[t], cuNew[t])
		if t > tierMinute {
			mergeOpen(s.openF[t], addF[t], cuNew[t])
		}
	}
	s.pendMu.Lock()
	s.inflight = nil
	s.committed.Store(s.inflightUpTo)
	if s.commitSignal != nil {
		close(s.commitSignal)
		s.commitSignal = nil
	}
	idle := s.pending.len() == 0
	s.room.Broadcast() // the written batch no longer counts against MaxPending
	s.pendMu.Unlock()
	if idle {
		s.keys.unreserve() // reservations of reports dropped while waiting
	}
	s.stateMu.Unlock()

	for m, seq := range newSeq {
		if len(s.seq) > 4096 {
			clear(s.seq)
		}
		s.seq[m] = seq
	}
	if maintain {
		s.lastMaintain = s.cfg.Now()
	}
	n := uint64(b.len() - overBound)
	s.stats.stored.Add(n)
	if overBound > 0 {
		s.stats.invalid.Add(uint64(overBound))
		s.log.Warn("traffic: reports left out, a key table is full", "reports", overBound, "err", errTooMany.Error())
	}
	s.stats.flushes.Add(1)
	s.writeErr.Store(nil)
	s.stats.lastFlushNS.Store(s.cfg.Now().UnixNano())
	s.stats.lastFlushDur.Store(int64(time.Since(start)))
	s.log.Debug("traffic: batch committed", "reports", n, "stored", s.stats.stored.Load(), "took", time.Since(start).String())
	if err := s.st.NoteWrites(ctx); err != nil {
		s.log.Warn("traffic: counting database writes", "err", err)
	}
	s.logWear()
	if s.cfg.MaxDBBytes > 0 {
		if err := s.bound(ctx); err != nil {
			s.log.Warn("traffic: keeping the database bound", "err", err)
		}
	}
	// A batch's maps and SQLite's work are garbage now: give the pages
	// back, so that a small board's RSS stays at its idle level between
	// batches (one collection every few minutes).
	debug.FreeOSMemory()
	if s.cfg.Now().Sub(s.lastSweep) >= 24*time.Hour {
		s.lastSweep = s.cfg.Now()
		if err := s.sweep(ctx); err != nil {
			s.log.Warn("traffic: sweeping unused keys", "err", err)
		}
	}
	return nil
}

func (s *Store) failed(err error) error {
	s.stats.failures.Add(1)
	s.writeErr.Store(&err)
	return err
}

// Health is nil while reports are being written, else the error of the
// latest batch, which failed and has not been written since (a full disk,
// a read-only file system): /healthz says so.
func (s *Store) Health() error {
	if p := s.writeErr.Load(); p != nil {
		return *p
	}
	return nil
}

// logWear logs the day's database writes once per UTC day and hour, the
// flash wear figure a user of an SD card wants to see.
func (s *Store) logWear() {
	w := s.st.Wear()
	mark := w.Day + s.cfg.Now().UTC().Format("15")
	if mark == s.lastWearLog {
		return
	}
	if s.lastWearLog != "" {
		s.log.Info("traffic: database writes", "day", w.Day, "written_today_bytes", w.Today, "since_start_bytes", w.SinceStart, "stored_reports", s.stats.stored.Load())
	}
	s.lastWearLog = mark
}

// nextSeq allocates the next traffic_raw id within a minute.
func (s *Store) nextSeq(ctx context.Context, tx *sql.Tx, minute int64, fresh map[int64]uint32) (uint32, error) {
	seq, ok := fresh[minute]
	if !ok {
		seq, ok = s.seq[minute]
	}
	if !ok {
		var maxID sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT max(id) FROM traffic_raw WHERE id >= ? AND id < ?`, minute<<20, (minute+1)<<20).Scan(&maxID); err != nil {
			return 0, fmt.Errorf("traffic: read sequence: %w", err)
		}
		if maxID.Valid {
			seq = uint32(maxID.Int64&(1<<20-1)) + 1
		}
	}
	if seq >= 1<<20 {
		return 0, fmt.Errorf("traffic: more than %d batches in the minute at %d", 1<<20, minute)
	}
	fresh[minute] = seq + 1
	return seq, nil
}

type mergeable[T any] interface{ merge(T) T }

// closing picks a tier's rows to upsert: this batch's reports for buckets
// written already (late reports), and every bucket that closes now, with
// its open sum and this batch's together. Only the writer changes open, so
// it reads it without the lock.
func closing[T mergeable[T]](open, add map[aggKey]T, cuNew int64) map[aggKey]T {
	out := map[aggKey]T{}
	for k, a := range add {
		if k.bucket < cuNew {
			out[k] = open[k].merge(a)
		}
	}
	for k, a := range open {
		if _, ok := add[k]; !ok && k.bucket < cuNew {
			out[k] = a
		}
	}
	return out
}

// mergeOpen adds this batch to the open buckets and forgets the written
// ones, once the batch is committed.
func mergeOpen[T mergeable[T]](open, add map[aggKey]T, cuNew int64) {
	for k, a := range add {
		if k.bucket >= cuNew {
			open[k] = open[k].merge(a)
		}
	}
	for k := range open {
		if k.bucket < cuNew {
			delete(open, k)
		}
	}
}
