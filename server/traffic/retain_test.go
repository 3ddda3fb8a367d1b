package traffic

import (
	"context"
	"testing"
	"time"

	"edgestat/probe"
)

// feedDays ingests synthetic reports over span, flushing every 10 minutes
// of report time with the clock following the reports, as the appliance
// does on the wall clock.
func feedDays(t *testing.T, s *Store, clock *fakeClock, start int64, span time.Duration) []probe.Row {
	t.Helper()
	rows := synth(5, start, span)
	next := start + 600_000
	var batch []probe.Row
	for _, r := range rows {
		tm := rowTime(r)
		if tm >= next {
			ingest(t, s, batch)
			batch = batch[:0]
			clock.ms.Store(tm)
			if err := s.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			next = tm + 600_000
		}
		batch = append(batch, r)
	}
	ingest(t, s, batch)
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	return rows
}

func oldestOf(t *testing.T, s *Store, level int) int64 {
	t.Helper()
	v, ok, err := oldest(context.Background(), s.db, level)
	if err != nil || !ok {
		t.Fatalf("oldest of level %d: %v %v", level, ok, err)
	}
	return v
}

// TestRetention keeps each tier for its time, counted back from the newest
// report, and no longer.
func TestRetention(t *testing.T) {
	clock := &fakeClock{}
	start := time.Now().Add(-4 * 24 * time.Hour).UnixMilli()
	clock.ms.Store(start)
	keep := Retention{Raw: 3 * time.Hour, Minute: 5 * time.Hour, Hour: 8 * 24 * time.Hour, Day: 30 * 24 * time.Hour}
	_, s := openStores(t, t.TempDir(), Config{FlushInterval: time.Hour, Retention: keep, Now: clock.Now, Log: quiet})
	feedDays(t, s, clock, start, 50*time.Hour)
	w := s.Counters().Newest
	// Maintenance runs hourly, and a raw blob spans up to an hour.
	if got := oldestOf(t, s, 0); got < w-keep.Raw.Milliseconds()-2*blobSpan || got > w-keep.Raw.Milliseconds() {
		t.Errorf("oldest raw report %d h before the newest, want about %v", (w-got)/3_600_000, keep.Raw)
	}
	if got := oldestOf(t, s, 1); got < w-keep.Minute.Milliseconds()-2*3_600_000 || got > w-keep.Minute.Milliseconds() {
		t.Errorf("oldest minute %d h before the newest, want about %v", (w-got)/3_600_000, keep.Minute)
	}
	if got := oldestOf(t, s, 2); got != bucketOf(start, tierHour) {
		t.Errorf("the hour tier lost %d h", (got-start)/3_600_000)
	}
	// Every period still answers.
	for _, p := range []string{"minute", "hour", "day", "week", "month"} {
		res, err := s.Query(context.Background(), Query{Format: 99, Period: periods[p], Raw: true})
		if err != nil || len(res.Rows) == 0 {
			t.Errorf("%s: %d rows, %v", p, len(res.Rows), err)
		}
	}
}

// TestSizeBound keeps the database under --max-db-mb by pruning the most
// detailed tier first, never below the windows the periods need.
func TestSizeBound(t *testing.T) {
	clock := &fakeClock{}
	start := time.Now().Add(-4 * 24 * time.Hour).UnixMilli()
	clock.ms.Store(start)
	dir := t.TempDir()
	st, s := openStores(t, dir, Config{FlushInterval: time.Hour, Now: clock.Now, Log: quiet})
	feedDays(t, s, clock, start, 40*time.Hour)
	full, _, err := st.Size(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	bound := full * 2 / 3
	st, s = openStores(t, dir, Config{FlushInterval: time.Hour, Now: clock.Now, MaxDBBytes: bound, Log: quiet})
	before := oldestOf(t, s, 0)
	feedDays(t, s, clock, clock.ms.Load()+1000, 20*time.Minute)
	used, _, err := st.Size(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	w := s.Counters().Newest
	raw := oldestOf(t, s, 0)
	t.Logf("database %d bytes, bound %d, now %d; raw reports from %d h before the newest (were %d h)", full, bound, used, (w-raw)/3_600_000, (w-before)/3_600_000)
	if used > bound {
		t.Fatalf("database uses %d bytes, over its bound %d", used, bound)
	}
	if raw <= before || w-raw < MinRetention.Raw.Milliseconds() {
		t.Fatalf("raw reports kept from %d h before the newest", (w-raw)/3_600_000)
	}
	if got := oldestOf(t, s, 3); got != bucketOf(start, tierDay) {
		t.Fatalf("the day tier was pruned while raw reports were left")
	}
	if s.Counters().Pruned == 0 {
		t.Fatal("no pruning counted")
	}
}
