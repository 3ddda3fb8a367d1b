package traffic

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

const dayMS = 86_400_000

// tierTables are the tables of each tier, raw reports first.
var tierTables = [4][]string{
	{"traffic_raw"},
	{"stats_minute", "hosts_minute"},
	{"stats_hour", "hosts_hour", "flows_hour"},
	{"stats_day", "hosts_day", "flows_day"},
}

// deleteBefore deletes a tier's rows older than cut (ms).
func deleteBefore(ctx context.Context, tx *sql.Tx, level int, cut int64) (int64, error) {
	var n int64
	for _, table := range tierTables[level] {
		var res sql.Result
		var err error
		if level == 0 {
			// A blob goes when its newest report is older (it spans less
			// than an hour from the minute of its id).
			res, err = tx.ExecContext(ctx, `DELETE FROM traffic_raw WHERE id < ? AND last < ?`, bucketOf(cut, tierMinute)<<20, cut)
		} else {
			res, err = tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE id < ?`, bucketID(max(cut, 0), tier(level-1)))
		}
		if err != nil {
			return n, fmt.Errorf("traffic: prune %s: %w", table, err)
		}
		d, _ := res.RowsAffected()
		n += d
	}
	return n, nil
}

func (r Retention) levels() [4]time.Duration { return [4]time.Duration{r.Raw, r.Minute, r.Hour, r.Day} }

// retain deletes what is older than each tier's retention, counted back
// from the newest report (so an old capture replayed today is kept).
func (s *Store) retain(ctx context.Context, tx *sql.Tx, w int64) error {
	if w < 0 {
		return nil
	}
	for level, keep := range s.cfg.Retention.levels() {
		if _, err := deleteBefore(ctx, tx, level, w-keep.Milliseconds()); err != nil {
			return err
		}
	}
	return nil
}

// oldest is the start of the oldest row of a tier, or false when empty.
func oldest(ctx context.Context, q queryer, level int) (int64, bool, error) {
	var best int64
	found := false
	for _, table := range tierTables[level] {
		rows, err := q.QueryContext(ctx, `SELECT min(id) FROM `+table)
		if err != nil {
			return 0, false, fmt.Errorf("traffic: oldest of %s: %w", table, err)
		}
		var v sql.NullInt64
		if rows.Next() {
			err = rows.Scan(&v)
		}
		rows.Close()
		if err != nil {
			return 0, false, fmt.Errorf("traffic: oldest of %s: %w", table, err)
		}
		if !v.Valid {
			continue
		}
		start := v.Int64 >> 20
		if level > 0 {
			start = idBucket(v.Int64, tier(level-1))
		}
		if !found || start < best {
			best, found = start, true
		}
	}
	return best, found, nil
}

// bound keeps the database under MaxDBBytes: while it is over, the most
// detailed tier that still spans more than its minimum loses its oldest
// tenth. Detail goes first because the tiers above still summarise it.
func (s *Store) bound(ctx context.Context) error {
	for range 50 {
		used, _, err := s.st.Size(ctx)
		if err != nil {
			return err
		}
		if used <= s.cfg.MaxDBBytes {
			return nil
		}
		s.stateMu.RLock()
		w := s.w
		s.stateMu.RUnlock()
		pruned := false
		for level, floor := range MinRetention.levels() {
			old, ok, err := oldest(ctx, s.db, level)
			if err != nil {
				return err
			}
			limit := w - floor.Milliseconds()
			if !ok || old >= limit {
				continue
			}
			cut := min(old+max((w-old)/10, tierSize[tierMinute]), limit)
			tx, err := s.db.BeginTx(ctx, nil)
			if err != nil {
				return fmt.Errorf("traffic: begin prune: %w", err)
			}
			n, err := deleteBefore(ctx, tx, level, cut)
			if err == nil {
				err = tx.Commit()
			}
			if err != nil {
				tx.Rollback()
				return err
			}
			s.stats.pruned.Add(1)
			s.log.Info("traffic: pruned for the database bound", "tier", []string{"raw", "minute", "hour", "day"}[level],
				"before", time.UnixMilli(cut).UTC().Format(time.RFC3339), "rows", n, "used_bytes", used, "bound_bytes", s.cfg.MaxDBBytes)
			if err := s.st.NoteWrites(ctx); err != nil {
				s.log.Warn("traffic: counting database writes", "err", err)
			}
			pruned = true
			break
		}
		if !pruned {
			return fmt.Errorf("database uses %d bytes, over the bound of %d, and every tier is at its minimum retention", used, s.cfg.MaxDBBytes)
		}
	}
	return nil
}

// sweep deletes keys that are two days old and that no day rollup (which
// outlives every other tier, see Retention.Validate) and no open bucket
// refers to. It runs on the writer's goroutine, between batches.
func (s *Store) sweep(ctx context.Context) error {
	s.stateMu.RLock()
	w := s.w
	s.stateMu.RUnlock()
	if w < 0 {
		return nil
	}
	cut := w - 2*dayMS
	// The writer is the only one that changes the open maps.
	usedS, usedH, usedF := openKeys(s.openS[tierDay]), openKeys(s.openH[tierDay]), openKeys(s.openF[tierDay])
	var removed [3][]uint32
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("traffic: begin sweep: %w", err)
	}
	defer tx.Rollback()
	for i, t := range []struct {
		keys, day, col string
		open           map[uint32]bool
	}{
		{"traffic_paths", "stats_day", "path", usedS},
		{"traffic_hosts", "hosts_day", "host", usedH},
		{"traffic_flowkeys", "flows_day", "flow", usedF},
	} {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM `+t.keys+` WHERE created < ? AND id NOT IN (SELECT `+t.col+` FROM `+t.day+`)`, cut)
		if err != nil {
			return fmt.Errorf("traffic: sweep %s: %w", t.keys, err)
		}
		var ids []any
		for rows.Next() {
			var id uint32
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("traffic: sweep %s: %w", t.keys, err)
			}
			if !t.open[id] {
				ids = append(ids, id)
				removed[i] = append(removed[i], id)
			}
		}
		rows.Close()
		for len(ids) > 0 {
			n := min(len(ids), 500)
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+t.keys+` WHERE id IN (?`+strings.Repeat(",?", n-1)+`)`, ids[:n]...); err != nil {
				return fmt.Errorf("traffic: sweep %s: %w", t.keys, err)
			}
			ids = ids[n:]
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("traffic: commit sweep: %w", err)
	}
	k := s.keys
	k.mu.Lock()
	for _, id := range removed[0] {
		delete(k.paths, k.pathByID[id])
		delete(k.pathByID, id)
	}
	for _, id := range removed[1] {
		delete(k.hosts, k.hostByID[id])
		delete(k.hostByID, id)
	}
	if len(removed[2]) > 0 {
		clear(k.flows)
		clear(k.oldFlows)
		clear(k.flowByID)
	}
	k.mu.Unlock()
	if n := len(removed[0]) + len(removed[1]) + len(removed[2]); n > 0 {
		s.log.Info("traffic: swept unused keys", "paths", len(removed[0]), "hosts", len(removed[1]), "flows", len(removed[2]))
	}
	return s.st.NoteWrites(ctx)
}

func openKeys[T any](open map[aggKey]T) map[uint32]bool {
	m := make(map[uint32]bool, len(open))
	for k := range open {
		m[k.key] = true
	}
	return m
}
