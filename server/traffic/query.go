package traffic

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"

	"edgestat/probe"
)

// A Result is the answer to a Query: rows ordered by time, and the window
// they cover (From and To in ms, both inclusive; bucket starts for
// bucketed periods). Rows is empty and the window zero when nothing
// matched.
type Result struct {
	Rows     []probe.Row
	From, To int64
	Anchor   int64 // the newest matching report
}

// Query answers q: raw reports of the last minute or bucket rows, over a
// window that ends at the newest matching report.
func (s *Store) Query(ctx context.Context, q Query) (Result, error) {
	srcs := s.sourceIDs(&q)
	anchor, ok, err := s.anchor(ctx, &q, srcs)
	if err != nil || !ok {
		return Result{}, err
	}
	res := Result{Anchor: anchor}
	if q.Period.Raw {
		res.From, res.To = anchor-tierSize[tierMinute]+1, anchor
	} else {
		size := tierSize[q.Period.Tier]
		res.To = bucketOf(anchor, q.Period.Tier)
		res.From = res.To - (q.Period.Buckets-1)*size
	}
	switch {
	case q.Format == probe.FormatStats:
		err = s.queryStats(ctx, &q, srcs, &res)
	case q.Format == probe.FormatHosts:
		err = s.queryHosts(ctx, &q, srcs, &res)
	default:
		err = s.queryFlows(ctx, &q, srcs, &res)
	}
	if err != nil {
		return Result{}, err
	}
	sortRows(res.Rows)
	return res, nil
}

// sourceIDs are the ids of the stored sources q selects; nil selects all.
func (s *Store) sourceIDs(q *Query) []uint32 {
	if q.Probes == nil && q.Sources == nil {
		return nil
	}
	s.keys.mu.RLock()
	defer s.keys.mu.RUnlock()
	ids := []uint32{}
	for sk, id := range s.keys.sources {
		if q.matches(sk) {
			ids = append(ids, id)
		}
	}
	return ids
}

// anchor is the newest report of q's format from q's sources: in memory
// for every source that has raw reports; from the rollups for one whose
// raw reports are gone.
func (s *Store) anchor(ctx context.Context, q *Query, srcs []uint32) (int64, bool, error) {
	best, found := int64(math.MinInt64), false
	s.pendMu.Lock()
	for nk, t := range s.newest {
		if int(nk.format) == q.Format && q.matches(nk.src) && t > best {
			best, found = t, true
		}
	}
	s.pendMu.Unlock()
	if found {
		return best, true, nil
	}
	tables := tablesOf(q.Format)
	// The newest day bucket, then the newest row of the tiers below in it.
	cond, args := srcFilter(srcs, nil)
	found = false
	for t := tierDay; t >= tierMinute; t-- {
		if tables[t] == "" {
			continue
		}
		var id int64
		err := s.db.QueryRowContext(ctx, `SELECT id FROM `+tables[t]+` WHERE 1`+cond+` ORDER BY id DESC LIMIT 1`, args...).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return 0, false, fmt.Errorf("traffic: newest report: %w", err)
		}
		if b := idBucket(id, t); !found || b > best {
			best, found = b, true
		}
	}
	if !found {
		return 0, false, nil
	}
	return best, true, nil
}

// snapshot holds what a query reads from memory, taken under stateMu
// together with its database reads.
func (s *Store) pendingSnapshot(q *Query, from, to int64) (stats []probe.StatRow, hosts []probe.HostRow, flows []probe.FlowRow) {
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	for _, b := range []*batch{&s.pending, s.inflight} {
		if b == nil {
			continue
		}
		switch {
		case q.Format == probe.FormatStats:
			for i := range b.stats {
				r := &b.stats[i]
				if r.Time >= from && r.Time <= to && q.matches(sourceKey{r.Probe, r.Source}) {
					stats = append(stats, *r)
				}
			}
		case q.Format == probe.FormatHosts:
			for i := range b.hosts {
				r := &b.hosts[i]
				if r.Time >= from && r.Time <= to && q.matches(sourceKey{r.Probe, r.Source}) {
					hosts = append(hosts, *r)
				}
			}
		default:
			for i := range b.flows {
				r := &b.flows[i]
				if int(r.Format) == q.Format && r.Time >= from && r.Time <= to && q.matches(sourceKey{r.Probe, r.Source}) {
					flows = append(flows, *r)
				}
			}
		}
	}
	return
}

// inSet reports whether src passes a source id filter (nil: all).
func inSet(srcs []uint32, src uint32) bool { return srcs == nil || slices.Contains(srcs, src) }

// timeRange is the report times a window covers: for buckets, from the
// first bucket's start to the end of the last.
func (r *Result) timeRange(p Period) (int64, int64) {
	if p.Raw {
		return r.From, r.To
	}
	return r.From, r.To + tierSize[p.Tier] - 1
}

type statMerge struct {
	bucket int64
	src    sourceKey
	path   pathKey
}

func (s *Store) queryStats(ctx context.Context, q *Query, srcs []uint32, res *Result) error {
	from, to := res.timeRange(q.Period)
	if q.Period.Raw {
		type stored struct {
			src, path uint32
			r         probe.StatRow
		}
		var got []stored
		s.stateMu.RLock()
		err := s.scanRaw(ctx, s.db, from, to, srcs, probe.FormatStats, func(_ uint8, src uint32, blob []byte, base int64) error {
			return unpackStats(blob, base, func(path uint32, r *probe.StatRow) {
				if r.Time >= from && r.Time <= to {
					got = append(got, stored{src, path, *r})
				}
			})
		})
		pend, _, _ := s.pendingSnapshot(q, from, to)
		s.stateMu.RUnlock()
		if err != nil {
			return err
		}
		s.keys.mu.RLock()
		for _, g := range got {
			sk, ok1 := s.keys.sourceByID[g.src]
			pk, ok2 := s.keys.pathByID[g.path]
			if !ok1 || !ok2 {
				continue // a key swept from under an unreadable row
			}
			r := g.r
			r.Probe, r.Source, r.Path, r.App = sk.probe, sk.source, pk.path, pk.app
			res.Rows = append(res.Rows, &r)
		}
		s.keys.mu.RUnlock()
		for i := range pend {
			res.Rows = append(res.Rows, &pend[i])
		}
		return nil
	}
	t := q.Period.Tier
	// Written buckets and open ones are disjoint, and each holds a key
	// once: only reports still waiting need merging.
	type kv struct {
		k aggKey
		a statAgg
	}
	var stored []kv
	s.stateMu.RLock()
	err := s.readStatTier(ctx, t, res.From, res.To, srcs, func(k aggKey, a statAgg) { stored = append(stored, kv{k, a}) })
	for k, a := range s.openS[t] {
		if k.bucket >= res.From && k.bucket <= res.To && inSet(srcs, k.src) {
			stored = append(stored, kv{k, a})
		}
	}
	pend, _, _ := s.pendingSnapshot(q, from, to)
	s.stateMu.RUnlock()
	if err != nil {
		return err
	}
	known := map[aggKey]statAgg{}    // waiting reports of stored keys
	fresh := map[statMerge]statAgg{} // and of keys not stored yet
	s.keys.mu.RLock()
	defer s.keys.mu.RUnlock()
	for i := range pend {
		r := &pend[i]
		src, ok1 := s.keys.sources[sourceKey{r.Probe, r.Source}]
		path, ok2 := s.keys.paths[pathKey{r.Path, r.App}]
		if ok1 && ok2 {
			k := aggKey{bucketOf(r.Time, t), src, path}
			known[k] = known[k].merge(statAggOf(r))
		} else {
			mk := statMerge{bucketOf(r.Time, t), sourceKey{r.Probe, r.Source}, pathKey{r.Path, r.App}}
			fresh[mk] = fresh[mk].merge(statAggOf(r))
		}
	}
	for k, a := range known {
		stored = append(stored, kv{k, a}) // merged below when stored has k
	}
	out := make([]probe.StatRow, 0, len(stored)+len(fresh))
	at := make(map[aggKey]int, len(known))
	for _, e := range stored {
		sk, ok1 := s.keys.sourceByID[e.k.src]
		pk, ok2 := s.keys.pathByID[e.k.key]
		if !ok1 || !ok2 {
			continue
		}
		if _, waiting := known[e.k]; waiting {
			if i, ok := at[e.k]; ok {
				out[i] = statRowOf(e.k.bucket, sk, pk, statAggOf(&out[i]).merge(e.a))
				continue
			}
			at[e.k] = len(out)
		}
		out = append(out, statRowOf(e.k.bucket, sk, pk, e.a))
	}
	for mk, a := range fresh {
		out = append(out, statRowOf(mk.bucket, mk.src, mk.path, a))
	}
	for i := range out {
		res.Rows = append(res.Rows, &out[i])
	}
	return nil
}

func statRowOf(bucket int64, sk sourceKey, pk pathKey, a statAgg) probe.StatRow {
	return probe.StatRow{
		Probe: sk.probe, Source: sk.source, Time: bucket, App: pk.app, Path: pk.path,
		TotalFlows: uint64(a.total), ActiveFlows: uint64(a.active), Bytes: uint64(a.bytes), Payload: uint64(a.payload), Packets: uint64(a.packets),
	}
}

type hostMerge struct {
	bucket int64
	src    sourceKey
	host   hostKey
}

func (s *Store) queryHosts(ctx context.Context, q *Query, srcs []uint32, res *Result) error {
	from, to := res.timeRange(q.Period)
	if q.Period.Raw {
		type stored struct {
			src, host uint32
			r         probe.HostRow
		}
		var got []stored
		s.stateMu.RLock()
		err := s.scanRaw(ctx, s.db, from, to, srcs, probe.FormatHosts, func(_ uint8, src uint32, blob []byte, base int64) error {
			return unpackHosts(blob, base, func(host uint32, r *probe.HostRow) {
				if r.Time >= from && r.Time <= to {
					got = append(got, stored{src, host, *r})
				}
			})
		})
		_, pend, _ := s.pendingSnapshot(q, from, to)
		s.stateMu.RUnlock()
		if err != nil {
			return err
		}
		s.keys.mu.RLock()
		for _, g := range got {
			sk, ok1 := s.keys.sourceByID[g.src]
			hk, ok2 := s.keys.hostByID[g.host]
			if !ok1 || !ok2 {
				continue
			}
			r := g.r
			r.Probe, r.Source, r.MAC, r.IP = sk.probe, sk.source, hk.mac, hk.ip
			res.Rows = append(res.Rows, &r)
		}
		s.keys.mu.RUnlock()
		for i := range pend {
			res.Rows = append(res.Rows, &pend[i])
		}
		return nil
	}
	t := q.Period.Tier
	type kv struct {
		k aggKey
		a hostAgg
	}
	var stored []kv
	s.stateMu.RLock()
	err := s.readHostTier(ctx, t, res.From, res.To, srcs, func(k aggKey, a hostAgg) { stored = append(stored, kv{k, a}) })
	for k, a := range s.openH[t] {
		if k.bucket >= res.From && k.bucket <= res.To && inSet(srcs, k.src) {
			stored = append(stored, kv{k, a})
		}
	}
	_, pend, _ := s.pendingSnapshot(q, from, to)
	s.stateMu.RUnlock()
	if err != nil {
		return err
	}
	known := map[aggKey]hostAgg{}
	fresh := map[hostMerge]hostAgg{}
	s.keys.mu.RLock()
	defer s.keys.mu.RUnlock()
	for i := range pend {
		r := &pend[i]
		src, ok1 := s.keys.sources[sourceKey{r.Probe, r.Source}]
		host, ok2 := s.keys.hosts[hostKey{r.MAC, r.IP}]
		if ok1 && ok2 {
			k := aggKey{bucketOf(r.Time, t), src, host}
			known[k] = known[k].merge(hostAggOf(r))
		} else {
			mk := hostMerge{bucketOf(r.Time, t), sourceKey{r.Probe, r.Source}, hostKey{r.MAC, r.IP}}
			fresh[mk] = fresh[mk].merge(hostAggOf(r))
		}
	}
	for k, a := range known {
		stored = append(stored, kv{k, a})
	}
	out := make([]probe.HostRow, 0, len(stored)+len(fresh))
	at := make(map[aggKey]int, len(known))
	for _, e := range stored {
		sk, ok1 := s.keys.sourceByID[e.k.src]
		hk, ok2 := s.keys.hostByID[e.k.key]
		if !ok1 || !ok2 {
			continue
		}
		if _, waiting := known[e.k]; waiting {
			if i, ok := at[e.k]; ok {
				out[i] = hostRowOf(e.k.bucket, sk, hk, hostAggOf(&out[i]).merge(e.a))
				continue
			}
			at[e.k] = len(out)
		}
		out = append(out, hostRowOf(e.k.bucket, sk, hk, e.a))
	}
	for mk, a := range fresh {
		out = append(out, hostRowOf(mk.bucket, mk.src, mk.host, a))
	}
	for i := range out {
		res.Rows = append(res.Rows, &out[i])
	}
	return nil
}

func hostRowOf(bucket int64, sk sourceKey, hk hostKey, a hostAgg) probe.HostRow {
	return probe.HostRow{
		Probe: sk.probe, Source: sk.source, Time: bucket, MAC: hk.mac, IP: hk.ip,
		OutBytes: uint64(a.outBytes), InBytes: uint64(a.inBytes), OutPackets: uint64(a.outPackets), InPackets: uint64(a.inPackets),
	}
}

type flowMerge struct {
	bucket int64
	src    sourceKey
	key    flowKey
}

// queryFlows answers the flow formats: raw reports for a minute; for an
// hour, minute buckets grouped from the raw reports (there is no minute
// tier of flows); hour and day rollups beyond.
func (s *Store) queryFlows(ctx context.Context, q *Query, srcs []uint32, res *Result) error {
	from, to := res.timeRange(q.Period)
	format := uint8(q.Format)
	type stored struct {
		src, key uint32
		r        probe.FlowRow
	}
	var got []stored
	var sums map[aggKey]flowAgg
	var pend []probe.FlowRow
	var err error
	fromRaw := q.Period.Raw || q.Period.Tier == tierMinute
	s.stateMu.RLock()
	if fromRaw {
		err = s.scanRaw(ctx, s.db, from, to, srcs, int(format), func(_ uint8, src uint32, blob []byte, base int64) error {
			return unpackFlows(blob, base, format, func(key uint32, r *probe.FlowRow) {
				if r.Time >= from && r.Time <= to {
					got = append(got, stored{src, key, *r})
				}
			})
		})
	} else {
		t := q.Period.Tier
		sums = map[aggKey]flowAgg{}
		err = s.readFlowTier(ctx, t, res.From, res.To, srcs, func(k aggKey, a flowAgg) { sums[k] = sums[k].merge(a) })
		for k, a := range s.openF[t] {
			if k.bucket >= res.From && k.bucket <= res.To && inSet(srcs, k.src) {
				sums[k] = sums[k].merge(a)
			}
		}
	}
	_, _, pend = s.pendingSnapshot(q, from, to)
	s.stateMu.RUnlock()
	if err != nil {
		return err
	}
	// Flow keys may have to come from the database.
	ids := map[uint32]flowKey{}
	for _, g := range got {
		ids[g.key] = flowKey{}
	}
	for k := range sums {
		ids[k.key] = flowKey{}
	}
	if err := s.keys.flowKeysByID(ctx, s.db, ids); err != nil {
		return err
	}
	s.keys.mu.RLock()
	sources := make(map[uint32]sourceKey, len(s.keys.sourceByID))
	for id, sk := range s.keys.sourceByID {
		sources[id] = sk
	}
	s.keys.mu.RUnlock()
	if q.Period.Raw {
		for _, g := range got {
			fk, ok := ids[g.key]
			sk, ok2 := sources[g.src]
			if !ok || !ok2 || fk.format != format {
				continue
			}
			r := g.r
			r.Probe, r.Source = sk.probe, sk.source
			fk.fill(&r)
			res.Rows = append(res.Rows, &r)
		}
		for i := range pend {
			res.Rows = append(res.Rows, &pend[i])
		}
		return nil
	}
	t := q.Period.Tier
	merged := map[flowMerge]flowAgg{}
	for _, g := range got { // the hour period: minutes from raw reports
		fk, ok := ids[g.key]
		sk, ok2 := sources[g.src]
		if ok && ok2 && fk.format == format {
			mk := flowMerge{bucketOf(g.r.Time, t), sk, fk}
			merged[mk] = merged[mk].merge(flowAggOf(&g.r))
		}
	}
	for k, a := range sums {
		fk, ok := ids[k.key]
		sk, ok2 := sources[k.src]
		if ok && ok2 && fk.format == format {
			mk := flowMerge{k.bucket, sk, fk}
			merged[mk] = merged[mk].merge(a)
		}
	}
	for i := range pend {
		r := &pend[i]
		mk := flowMerge{bucketOf(r.Time, t), sourceKey{r.Probe, r.Source}, flowKeyOf(r)}
		merged[mk] = merged[mk].merge(flowAggOf(r))
	}
	for mk, a := range merged {
		r := &probe.FlowRow{Probe: mk.src.probe, Source: mk.src.source, Time: mk.bucket}
		mk.key.fill(r)
		a.fill(r)
		res.Rows = append(res.Rows, r)
	}
	return nil
}

// sortRows orders rows by time, then probe, source and key, so equal
// queries give equal answers; duplicates keep their stored order. The keys
// are taken out once: comparing through the Row interface cost a quarter
// of a week's query.
func sortRows(rows []probe.Row) {
	type keyed struct {
		time  int64
		probe uint32
		src   string
		key   string // path, or a host's address and MAC
		app   uint32
		flow  *probe.FlowRow
		row   probe.Row
	}
	ks := make([]keyed, len(rows))
	for i, r := range rows {
		switch r := r.(type) {
		case *probe.StatRow:
			ks[i] = keyed{r.Time, r.Probe, r.Source, r.Path, r.App, nil, r}
		case *probe.HostRow:
			ip := r.IP.As16()
			ks[i] = keyed{r.Time, r.Probe, r.Source, string(ip[:]) + string(r.MAC[:]), 0, nil, r}
		case *probe.FlowRow:
			ks[i] = keyed{r.Time, r.Probe, r.Source, "", 0, r, r}
		}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int {
		if c := cmp.Or(cmp.Compare(a.time, b.time), cmp.Compare(a.probe, b.probe), cmp.Compare(a.src, b.src),
			cmp.Compare(a.key, b.key), cmp.Compare(a.app, b.app)); c != 0 || a.flow == nil || b.flow == nil {
			return c
		}
		return compareFlows(a.flow, b.flow)
	})
	for i := range ks {
		rows[i] = ks[i].row
	}
}

func compareFlows(a, b *probe.FlowRow) int {
	return cmp.Or(
		cmp.Compare(a.FlowID, b.FlowID),
		a.ClientAddr.Compare(b.ClientAddr),
		a.ServerAddr.Compare(b.ServerAddr),
		cmp.Compare(a.ServerPort, b.ServerPort),
		cmp.Compare(a.Transport, b.Transport),
		cmp.Compare(a.Path, b.Path),
		cmp.Compare(a.App, b.App),
		cmp.Compare(a.Hostname, b.Hostname),
		cmp.Compare(a.ServerName, b.ServerName),
		cmp.Compare(a.MIME, b.MIME),
		cmp.Compare(a.Referer, b.Referer),
		cmp.Compare(a.DeviceOS, b.DeviceOS),
		cmp.Compare(a.IPVersion, b.IPVersion),
		cmp.Compare(a.AppFamily, b.AppFamily),
		cmp.Compare(a.ContentClass, b.ContentClass),
		cmp.Compare(a.CDN, b.CDN),
	)
}

type rowHeader struct {
	time   int64
	probe  uint32
	source string
}

func header(r probe.Row) rowHeader {
	switch r := r.(type) {
	case *probe.StatRow:
		return rowHeader{r.Time, r.Probe, r.Source}
	case *probe.HostRow:
		return rowHeader{r.Time, r.Probe, r.Source}
	case *probe.FlowRow:
		return rowHeader{r.Time, r.Probe, r.Source}
	}
	return rowHeader{}
}

// tablesOf are the rollup tables of a format, by tier.
func tablesOf(format int) [numTiers]string {
	switch format {
	case probe.FormatStats:
		return statTables
	case probe.FormatHosts:
		return hostTables
	}
	return flowTables
}
