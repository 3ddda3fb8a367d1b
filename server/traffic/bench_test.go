package traffic

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"edgestat/probe"
	"edgestat/probe/emulator"
)

// quiet drops the hourly write log of simulated days.
var quiet = slog.New(slog.DiscardHandler)

// paths100 are 100 protocol paths, as a busy LAN has.
func paths100() []string {
	var ps []string
	for i := 0; len(ps) < 100; i++ {
		ps = append(ps, fmt.Sprintf("99.178.354.%d", 100+i))
	}
	return ps
}

// statRows makes n 5-second reports of 100 paths from start.
func statRows(start int64, periods int) []probe.Row {
	ps := paths100()
	rows := make([]probe.Row, 0, periods*len(ps))
	for p := 0; p < periods; p++ {
		for i, path := range ps {
			rows = append(rows, &probe.StatRow{Probe: 1, Source: "eth0", Time: start + int64(p)*5000, App: uint32(100 + i), Path: path,
				TotalFlows: uint64(p + i), ActiveFlows: uint64(i % 7), Bytes: uint64(1000 + p%977*i), Payload: 500, Packets: uint64(3 + i%5)})
		}
	}
	return rows
}

// BenchmarkIngest stores 5-second reports of 100 paths with the rollups
// maintained: reports/s is the figure. BenchmarkIngestBaseline is the same
// reports as plain batched INSERTs of one row each, nothing else.
func BenchmarkIngest(b *testing.B) {
	rows := statRows(day0, 500) // 50,000 reports, a batch
	_, s := openStores(b, b.TempDir(), Config{FlushRows: len(rows), FlushInterval: time.Hour, MaxPending: 2 * len(rows)})
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i > 0 { // the next 500 periods, so buckets close as in real life
			b.StopTimer()
			rows = statRows(day0+int64(i)*500*5000, 500)
			b.StartTimer()
		}
		if _, err := s.Ingest(ctx, rows); err != nil {
			b.Fatal(err)
		}
		if err := s.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(rows))/b.Elapsed().Seconds(), "reports/s")
}

func BenchmarkIngestBaseline(b *testing.B) {
	rows := statRows(day0, 500)
	st, _ := openStores(b, b.TempDir(), Config{})
	db := st.DB()
	if _, err := db.Exec(`CREATE TABLE plain (time INTEGER, probe INTEGER, source TEXT, app INTEGER, path TEXT,
		total_flows INTEGER, active_flows INTEGER, bytes INTEGER, payload INTEGER, packets INTEGER)`); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tx, err := db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		ins, err := tx.Prepare(`INSERT INTO plain VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range rows {
			r := r.(*probe.StatRow)
			if _, err := ins.Exec(r.Time, r.Probe, r.Source, r.App, r.Path, r.TotalFlows, r.ActiveFlows, r.Bytes, r.Payload, r.Packets); err != nil {
				b.Fatal(err)
			}
		}
		ins.Close()
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(rows))/b.Elapsed().Seconds(), "reports/s")
}

var month struct {
	once sync.Once
	dir  string
	err  error
}

// monthDB is 30 days of 5-second reports for 100 paths, stored through
// the real path with retention at its defaults (the clock follows the
// reports), built once per run.
func monthDB(b *testing.B) *Store {
	month.once.Do(func() {
		month.dir, month.err = os.MkdirTemp("", "edgestat-month-")
		if month.err != nil {
			return
		}
		end := time.Now().UnixMilli() / 5000 * 5000
		start := end - 30*dayMS
		var now time.Time
		_, s := openStores(b, month.dir, Config{FlushRows: 100_000, FlushInterval: time.Hour, Now: func() time.Time { return now }, Log: quiet})
		ctx := context.Background()
		const chunk = 1000 // periods per batch: 100,000 reports
		for p := int64(0); p < 30*dayMS/5000; p += chunk {
			rows := statRows(start+p*5000, chunk)
			now = time.UnixMilli(start + (p+chunk)*5000)
			if _, err := s.Ingest(ctx, rows); err != nil {
				month.err = err
				return
			}
			if err := s.Flush(ctx); err != nil {
				month.err = err
				return
			}
		}
	})
	if month.err != nil {
		b.Fatal(month.err)
	}
	_, s := openStores(b, month.dir, Config{})
	return s
}

// BenchmarkQueryMonthDB answers /traffic/data for each period over 30 days
// of 5-second reports for 100 paths, encoding the JSON as the API does.
// Run it with -benchtime=20x: building the database takes a minute.
func BenchmarkQueryMonthDB(b *testing.B) {
	s := monthDB(b)
	var sizes string
	_ = s.db.QueryRow(`SELECT (SELECT count(*) FROM traffic_raw) || ' raw blobs, ' || (SELECT count(*) FROM stats_minute) || ' minute rows, ' || (SELECT count(*) FROM stats_hour) || ' hour rows, ' || (SELECT count(*) FROM stats_day) || ' day rows'`).Scan(&sizes)
	b.Log(sizes)
	for _, p := range []string{"minute", "hour", "day", "week", "month"} {
		b.Run(p, func(b *testing.B) {
			q, err := ParseQuery(url.Values{"period": {p}})
			if err != nil {
				b.Fatal(err)
			}
			var out []byte
			rows := 0
			for i := 0; i < b.N; i++ {
				res, err := s.Query(context.Background(), q)
				if err != nil {
					b.Fatal(err)
				}
				out = out[:0]
				for _, r := range res.Rows {
					out = r.AppendJSON(out)
				}
				rows = len(res.Rows)
			}
			b.ReportMetric(float64(rows), "rows")
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/query")
		})
	}
}

// fakeClock is a Store's clock following the reports (retention and
// maintenance run on report time in a simulation).
type fakeClock struct{ ms atomic.Int64 }

func (c *fakeClock) Now() time.Time { return time.UnixMilli(c.ms.Load()) }

// BenchmarkWearPerDay runs the probe over two days of the default
// emulator (100 packets/s, 12 hosts, 5 s stats) into a Store flushed
// every FLUSH of packet time (default 5m, as the appliance), and reports the
// bytes the database wrote on the second day (retention deletes by then).
// Run it with -benchtime=1x.
func BenchmarkWearPerDay(b *testing.B) {
	flush := 5 * time.Minute
	if v := os.Getenv("FLUSH"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatal(err)
		}
		flush = d
	}
	for i := 0; i < b.N; i++ {
		start := time.Now().Add(-49 * time.Hour)
		clock := &fakeClock{}
		clock.ms.Store(start.UnixMilli())
		_, s := openStores(b, b.TempDir(), Config{FlushInterval: flush, Now: clock.Now, Log: quiet})
		em := emulator.New(emulator.Options{Rate: 100, Start: start, Seed: 7, Count: 2 * 86400 * 100})
		w := &wearSink{s: s, clock: clock, flush: flush.Milliseconds(), dayEnd: start.UnixMilli() + dayMS}
		p, err := probe.New(em, probe.Options{ID: 1, Sink: w})
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
		if err := s.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
		second := s.st.Wear().SinceStart - w.firstDay
		used, file, _ := s.st.Size(context.Background())
		b.ReportMetric(float64(second)/1e6, "MB/day")
		b.ReportMetric(float64(w.reports)/2, "reports/day")
		b.ReportMetric(float64(used)/1e6, "db-MB")
		b.Logf("flush every %v: day 1 wrote %.1f MB, day 2 %.1f MB; %d reports; database %.1f MB used, file %.1f MB",
			flush, float64(w.firstDay)/1e6, float64(second)/1e6, w.reports, float64(used)/1e6, float64(file)/1e6)
	}
}

// wearSink feeds a Store from a probe and flushes it on packet time, as
// the writer does on the wall clock.
type wearSink struct {
	s        *Store
	clock    *fakeClock
	flush    int64
	next     int64
	dayEnd   int64
	firstDay uint64
	reports  int
}

func (w *wearSink) tick(t int64) {
	w.clock.ms.Store(t)
	if w.next == 0 {
		w.next = t + w.flush
	}
	if t >= w.next {
		if err := w.s.Flush(context.Background()); err != nil {
			panic(err)
		}
		w.next = t + w.flush
	}
	if w.firstDay == 0 && t >= w.dayEnd {
		w.firstDay = w.s.st.Wear().SinceStart
	}
}

func (w *wearSink) Stats(rows []probe.StatRow) {
	w.reports += len(rows)
	w.s.Stats(rows)
	if len(rows) > 0 {
		w.tick(rows[0].Time)
	}
}

func (w *wearSink) Flows(rows []probe.FlowRow) { w.reports += len(rows); w.s.Flows(rows) }
func (w *wearSink) Hosts(rows []probe.HostRow) { w.reports += len(rows); w.s.Hosts(rows) }
