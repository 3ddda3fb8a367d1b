package traffic

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

var (
	statTables = [numTiers]string{"stats_minute", "stats_hour", "stats_day"}
	hostTables = [numTiers]string{"hosts_minute", "hosts_hour", "hosts_day"}
	flowTables = [numTiers]string{"", "flows_hour", "flows_day"}
)

// Row ids of the rollup tables: the bucket's number shifted left
// idShift bits plus the row's place in the bucket.
const idShift = 24

func bucketID(bucket int64, t tier) int64 { return bucket / tierSize[t] << idShift }
func idBucket(id int64, t tier) int64     { return id >> idShift * tierSize[t] }

// A rollupTable describes one rollup table for the writer: its key column,
// and its measure columns with how a late report merges into each.
type rollupTable struct {
	name, key         string
	maxs, sums, mins  []string
	insertSQL, update string
}

func newRollupTable(name, key string, maxs, sums, mins []string) *rollupTable {
	t := &rollupTable{name: name, key: key, maxs: maxs, sums: sums, mins: mins}
	cols := append(append(append([]string{"id", "src", key}, maxs...), sums...), mins...)
	t.insertSQL = "INSERT INTO " + name + "(" + strings.Join(cols, ", ") + ") VALUES (?" + strings.Repeat(", ?", len(cols)-1) + ")"
	var set []string
	for _, c := range maxs {
		set = append(set, fmt.Sprintf("%[1]s = max(%[1]s, ?)", c))
	}
	for _, c := range sums {
		// An SQLite integer that overflows turns into a float: saturate.
		set = append(set, fmt.Sprintf("%[1]s = min(%[1]s + ?, 9223372036854775807)", c))
	}
	for _, c := range mins {
		set = append(set, fmt.Sprintf("%[1]s = min(%[1]s, ?)", c))
	}
	t.update = "UPDATE " + name + " SET " + strings.Join(set, ", ") + " WHERE id = ?"
	return t
}

var statRollups, hostRollups, flowRollups [numTiers]*rollupTable

func init() {
	for t := range numTiers {
		statRollups[t] = newRollupTable(statTables[t], "path", []string{"total_flows", "active_flows"}, []string{"bytes", "payload", "packets"}, nil)
		hostRollups[t] = newRollupTable(hostTables[t], "host", nil, []string{"out_bytes", "in_bytes", "out_packets", "in_packets"}, nil)
		if t > tierMinute {
			flowRollups[t] = newRollupTable(flowTables[t], "flow",
				[]string{"tcp_rtt", "response_time", "interaction_time", "loss_rate", "loss_burstiness", "max_jitter", "order_error_rate"},
				[]string{"flows", "ul_packets", "dl_packets", "ul_bytes", "dl_bytes", "retransmissions", "transactions"},
				[]string{"start_time"})
		}
	}
}

// Measure values in a rollupTable's column order: maxs, sums, mins.
func (a statAgg) values() []any { return []any{a.total, a.active, a.bytes, a.payload, a.packets} }
func (a hostAgg) values() []any { return []any{a.outBytes, a.inBytes, a.outPackets, a.inPackets} }
func (a flowAgg) values() []any {
	return []any{a.rtt, a.response, a.interact, a.loss, a.burst, a.jitter, a.order,
		a.flows, a.ulPackets, a.dlPackets, a.ulBytes, a.dlBytes, a.retrans, a.trans, a.start}
}

// writeRollup writes rows into a tier's table, bucket by bucket in time
// order: new rows are appended; a row that exists (a late report for a
// written bucket) is merged in place.
func writeRollup[T interface{ values() []any }](ctx context.Context, tx *sql.Tx, tbl *rollupTable, t tier, rows map[aggKey]T) error {
	if len(rows) == 0 {
		return nil
	}
	keys := make([]aggKey, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b aggKey) int {
		return cmp.Or(cmp.Compare(a.bucket, b.bucket), cmp.Compare(a.src, b.src), cmp.Compare(a.key, b.key))
	})
	ins, err := tx.PrepareContext(ctx, tbl.insertSQL)
	if err != nil {
		return fmt.Errorf("traffic: prepare %s: %w", tbl.name, err)
	}
	defer ins.Close()
	var upd *sql.Stmt
	for i := 0; i < len(keys); {
		bucket := keys[i].bucket
		lo := bucketID(bucket, t)
		// What the bucket holds already: nothing, unless reports are late.
		var maxID sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT max(id) FROM `+tbl.name+` WHERE id >= ? AND id < ?`, lo, lo+1<<idShift).Scan(&maxID); err != nil {
			return fmt.Errorf("traffic: read %s: %w", tbl.name, err)
		}
		next := lo
		var have map[[2]uint32]int64
		if maxID.Valid {
			next = maxID.Int64 + 1
			have = map[[2]uint32]int64{}
			rs, err := tx.QueryContext(ctx, `SELECT id, src, `+tbl.key+` FROM `+tbl.name+` WHERE id >= ? AND id < ?`, lo, lo+1<<idShift)
			if err != nil {
				return fmt.Errorf("traffic: read %s: %w", tbl.name, err)
			}
			for rs.Next() {
				var id int64
				var src, key uint32
				if err := rs.Scan(&id, &src, &key); err != nil {
					rs.Close()
					return fmt.Errorf("traffic: read %s: %w", tbl.name, err)
				}
				have[[2]uint32{src, key}] = id
			}
			rs.Close()
			if upd == nil {
				if upd, err = tx.PrepareContext(ctx, tbl.update); err != nil {
					return fmt.Errorf("traffic: prepare %s: %w", tbl.name, err)
				}
				defer upd.Close()
			}
		}
		for ; i < len(keys) && keys[i].bucket == bucket; i++ {
			k := keys[i]
			vals := rows[k].values()
			if id, ok := have[[2]uint32{k.src, k.key}]; ok {
				if _, err := upd.ExecContext(ctx, append(vals, id)...); err != nil {
					return fmt.Errorf("traffic: merge into %s: %w", tbl.name, err)
				}
				continue
			}
			if next >= lo+1<<idShift {
				return fmt.Errorf("traffic: more than %d rows in one bucket of %s", 1<<idShift, tbl.name)
			}
			if _, err := ins.ExecContext(ctx, append([]any{next, k.src, k.key}, vals...)...); err != nil {
				return fmt.Errorf("traffic: write %s: %w", tbl.name, err)
			}
			next++
		}
	}
	return nil
}

// srcFilter is an SQL condition on src for a set of source ids; nil
// means every source.
func srcFilter(srcs []uint32, args []any) (string, []any) {
	if srcs == nil {
		return "", args
	}
	if len(srcs) == 0 {
		return " AND 0", args
	}
	for _, id := range srcs {
		args = append(args, id)
	}
	return " AND src IN (?" + strings.Repeat(",?", len(srcs)-1) + ")", args
}

// readTier calls scan for each of a tier's rows with buckets in [from,
// to]: id, src, then cols. It reads through the driver, because
// database/sql's Scan costs more than SQLite itself on the 16,800 rows of a
// week of 100 paths.
func readTier(ctx context.Context, db *sql.DB, table string, cols string, t tier, from, to int64, srcs []uint32, scan func(v []driver.Value)) error {
	cond, args := srcFilter(srcs, []any{bucketID(max(from, 0), t), bucketID(max(to, 0), t) | (1<<idShift - 1)})
	query := `SELECT id, src, ` + cols + ` FROM ` + table + ` WHERE id >= ? AND id <= ?` + cond + ` ORDER BY id`
	named := make([]driver.NamedValue, len(args))
	for i, a := range args {
		switch a := a.(type) {
		case uint32:
			named[i] = driver.NamedValue{Ordinal: i + 1, Value: int64(a)}
		default:
			named[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
		}
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("traffic: read %s: %w", table, err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		qc, ok := dc.(driver.QueryerContext)
		if !ok {
			return errors.New("the SQLite driver cannot query")
		}
		rows, err := qc.QueryContext(ctx, query, named)
		if err != nil {
			return err
		}
		defer rows.Close()
		dest := make([]driver.Value, len(rows.Columns()))
		for {
			if err := rows.Next(dest); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			scan(dest)
		}
	})
	if err != nil {
		return fmt.Errorf("traffic: read %s: %w", table, err)
	}
	return nil
}

// vi and vf read a driver value as an integer or a float.
func vi(v driver.Value) int64 {
	switch v := v.(type) {
	case int64:
		return v
	case float64:
		return int64(v)
	}
	return 0
}

func vf(v driver.Value) float64 {
	switch v := v.(type) {
	case int64:
		return float64(v)
	case float64:
		return v
	}
	return 0
}

// readStatTier calls fn for the rows of a stats tier with buckets in
// [from, to].
func (s *Store) readStatTier(ctx context.Context, t tier, from, to int64, srcs []uint32, fn func(aggKey, statAgg)) error {
	return readTier(ctx, s.db, statTables[t], "path, total_flows, active_flows, bytes, payload, packets", t, from, to, srcs, func(v []driver.Value) {
		fn(aggKey{idBucket(vi(v[0]), t), uint32(vi(v[1])), uint32(vi(v[2]))}, statAgg{vi(v[3]), vi(v[4]), vi(v[5]), vi(v[6]), vi(v[7])})
	})
}

func (s *Store) readHostTier(ctx context.Context, t tier, from, to int64, srcs []uint32, fn func(aggKey, hostAgg)) error {
	return readTier(ctx, s.db, hostTables[t], "host, out_bytes, in_bytes, out_packets, in_packets", t, from, to, srcs, func(v []driver.Value) {
		fn(aggKey{idBucket(vi(v[0]), t), uint32(vi(v[1])), uint32(vi(v[2]))}, hostAgg{vi(v[3]), vi(v[4]), vi(v[5]), vi(v[6])})
	})
}

func (s *Store) readFlowTier(ctx context.Context, t tier, from, to int64, srcs []uint32, fn func(aggKey, flowAgg)) error {
	return readTier(ctx, s.db, flowTables[t], `flow, flows, start_time, ul_packets, dl_packets, ul_bytes, dl_bytes,
		tcp_rtt, retransmissions, response_time, transactions, interaction_time, loss_rate, loss_burstiness, max_jitter, order_error_rate`,
		t, from, to, srcs, func(v []driver.Value) {
			fn(aggKey{idBucket(vi(v[0]), t), uint32(vi(v[1])), uint32(vi(v[2]))}, flowAgg{
				flows: vi(v[3]), start: vi(v[4]), ulPackets: vi(v[5]), dlPackets: vi(v[6]), ulBytes: vi(v[7]), dlBytes: vi(v[8]),
				rtt: vi(v[9]), retrans: vi(v[10]), response: vi(v[11]), trans: vi(v[12]), interact: vi(v[13]),
				loss: vf(v[14]), burst: vf(v[15]), jitter: vi(v[16]), order: vf(v[17]),
			})
		})
}

// scanRaw calls fn for every blob of traffic_raw that may hold reports
// with times in [from, to], of one kind (or all when kind < 0). A blob's
// id is the minute of its oldest report and it spans less than an hour,
// so the id range looks an hour back and `last` drops what ends too early.
func (s *Store) scanRaw(ctx context.Context, q queryer, from, to int64, srcs []uint32, kind int, fn func(kind uint8, src uint32, blob []byte, base int64) error) error {
	lo := bucketOf(max(from-blobSpan, 0), tierMinute) << 20
	hi := int64(1<<63 - 1)
	if to < maxTime {
		hi = (bucketOf(to, tierMinute)+tierSize[tierMinute])<<20 - 1
	}
	args := []any{lo, hi, from}
	cond := ""
	if kind >= 0 {
		cond, args = " AND kind = ?", append(args, kind)
	}
	c2, args := srcFilter(srcs, args)
	rows, err := q.QueryContext(ctx, `SELECT id, kind, src, rows FROM traffic_raw WHERE id >= ? AND id <= ? AND last >= ?`+cond+c2+` ORDER BY id`, args...)
	if err != nil {
		return fmt.Errorf("traffic: read reports: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var k uint8
		var src uint32
		var blob []byte
		if err := rows.Scan(&id, &k, &src, &blob); err != nil {
			return fmt.Errorf("traffic: read reports: %w", err)
		}
		if err := fn(k, src, blob, bucketOf(id>>20, tierHour)); err != nil {
			// A damaged blob loses its own reports, not the answer.
			s.log.Warn("traffic: unreadable stored reports skipped", "id", id, "err", err)
		}
	}
	return rows.Err()
}
