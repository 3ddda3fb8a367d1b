package metrics

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"edgestat/proc"
	"edgestat/server/operator"
	"edgestat/server/probes"
	"edgestat/server/rtstat"
	"edgestat/server/sshmon"
	"edgestat/server/store"
	"edgestat/server/traffic"
)

// fakes of everything the edgestat collectors read.
type (
	fakeRegistry []probes.Status
	fakeReports  struct {
		c        traffic.Counters
		apps     []traffic.AppBytes
		overflow uint64
	}
	fakeDB struct {
		wear store.Wear
		err  error
	}
	fakeHub      struct{}
	fakeRtStat   rtstat.Stats
	fakeSessions operator.Stats
	fakeMonitor  sshmon.Stats
)

func (f fakeRegistry) Snapshot(dst []probes.Status) []probes.Status { return append(dst, f...) }
func (f *fakeReports) Counters() traffic.Counters                   { return f.c }
func (f *fakeReports) AppBytes(dst []traffic.AppBytes) ([]traffic.AppBytes, uint64) {
	return append(dst, f.apps...), f.overflow
}
func (f *fakeDB) Wear() store.Wear { return f.wear }
func (f *fakeDB) Size(context.Context) (int64, int64, error) {
	return 118784, 131072, f.err
}
func (fakeHub) Stats() traffic.HubStats {
	return traffic.HubStats{Published: 10, Sent: 20, Slow: 1, Rejected: 2}
}
func (fakeHub) Clients() (int, int)          { return 3, 4 }
func (f fakeRtStat) Stats() rtstat.Stats     { return rtstat.Stats(f) }
func (f fakeSessions) Stats() operator.Stats { return operator.Stats(f) }
func (f fakeMonitor) Stats() sshmon.Stats    { return sshmon.Stats(f) }

// appIDs are what the emulator's probe reports (about 20 applications,
// the protocols on their paths included).
var appIDs = []uint32{99, 178, 354, 376, 341, 134, 124, 153, 5, 62, 181, 182, 183, 184, 185, 186, 187, 188, 189, 190, 191, 192}

// fakeServices wires every edgestat collector to fakes: one running
// emulator probe, one ended replay of a file with an awkward name.
func fakeServices(h *Handler, dbErr error) {
	reg := fakeRegistry{
		{ID: 2, Kind: "replay", Source: `cap "one"\new.pcap`, State: probes.Ended, Packets: 7, Bytes: 900},
		{ID: 1, Kind: "emulator", Source: "emulator", State: probes.Running, Packets: 1234, Bytes: 567890, Drops: 1,
			DecodeErrors: 2, FlowsActive: 30, FlowsTotal: 400, FlowsEvicted: 3, DetailsMissed: 6, Paths: 50, PathsOverflow: 4, Hosts: 12, HostsEvicted: 5,
			PacketTime: 1795327200123},
	}
	rep := &fakeReports{c: traffic.Counters{Accepted: 100, Stored: 80, Pending: 20, Flushes: 2, LastFlush: 1795327200000, LastFlushMS: 15, Newest: 1795327200000}}
	for i, id := range appIDs {
		rep.apps = append(rep.apps, traffic.AppBytes{Probe: 1, App: id, Bytes: uint64(1000 * (i + 1))})
	}
	rep.apps = append(rep.apps, traffic.AppBytes{Probe: 1, App: 8, Bytes: 1}, traffic.AppBytes{Probe: 1, App: 888, Bytes: 2}) // both named "888"
	h.Add("probes", Probes(reg, rep))
	h.Add("traffic", Traffic(rep, fakeHub{}))
	h.Add("database", DatabaseCollector(&fakeDB{wear: store.Wear{Today: 5000, SinceStart: 4000, WALBytes: 100, Checkpoints: 1}, err: dbErr}, 256<<20))
	mon := fakeMonitor{PoolStats: sshmon.PoolStats{Open: 1, Dials: 3, Failures: 2}, Targets: 1, Clients: 2}
	h.Add("connections", Connections(fakeRtStat{Raw: 1, WebSocket: 2, Pushes: 50, PushesDropped: 5, Intervals: 1, Collections: 60}, fakeHub{}, mon))
	h.Add("sessions", SessionsCollector(fakeSessions{ByState: [len(operator.States)]int{0, 1, 2}, Started: 3, StreamClients: 1, FileBytes: 4096}))
	h.Add("sshmon", SSHMonitor(mon))
}

// TestEdgestatCollectors checks the service families against the fakes'
// figures, and the whole exposition (the runtime's included) with promtool.
func TestEdgestatCollectors(t *testing.T) {
	h := NewHandler(nil)
	h.Add("runtime", NewRuntime("1.2.3"))
	fakeServices(h, nil)
	out, err := h.Scrape(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkPromtool(t, out)
	m := samples(t, out)
	const emu = `probe="1",source="emulator",kind="emulator"`
	for series, want := range map[string]float64{
		`edgestat_probe_running{` + emu + `}`:                                            1,
		`edgestat_probe_running{probe="2",source="cap \"one\"\\new.pcap",kind="replay"}`: 0,
		`edgestat_probe_packets_total{` + emu + `}`:                                      1234,
		`edgestat_probe_bytes_total{` + emu + `}`:                                        567890,
		`edgestat_probe_drops_total{` + emu + `}`:                                        1,
		`edgestat_probe_decode_errors_total{` + emu + `}`:                                2,
		`edgestat_probe_flows_active{` + emu + `}`:                                       30,
		`edgestat_probe_flows_total{` + emu + `}`:                                        400,
		`edgestat_probe_flows_evicted_total{` + emu + `}`:                                3,
		`edgestat_probe_flow_details_missed_total{` + emu + `}`:                          6,
		`edgestat_probe_paths{` + emu + `}`:                                              50,
		`edgestat_probe_paths_overflow_total{` + emu + `}`:                               4,
		`edgestat_probe_hosts{` + emu + `}`:                                              12,
		`edgestat_probe_hosts_evicted_total{` + emu + `}`:                                5,
		`edgestat_probe_packet_time_seconds{` + emu + `}`:                                1795327200.123,
		`edgestat_probe_app_bytes_total{probe="1",app_id="134",app="GOOGLE"}`:            6000,
		`edgestat_probe_app_bytes_total{probe="1",app_id="8",app="888"}`:                 1,
		`edgestat_probe_app_bytes_total{probe="1",app_id="888",app="888"}`:               2,
		`edgestat_probe_app_overflow_total`:                                              0,
		`edgestat_traffic_reports_accepted_total`:                                        100,
		`edgestat_traffic_reports_pending`:                                               20,
		`edgestat_traffic_last_flush_duration_seconds`:                                   0.015,
		`edgestat_traffic_live_slow_clients_total`:                                       1,
		`edgestat_database_size_bytes`:                                                   118784,
		`edgestat_database_max_bytes`:                                                    256 << 20,
		`edgestat_database_written_bytes_total`:                                          4000,
		`edgestat_database_written_today_bytes`:                                          5000,
		`edgestat_connections{protocol="rtstat_raw"}`:                                    1,
		`edgestat_connections{protocol="rtstat_ws"}`:                                     2,
		`edgestat_connections{protocol="traffic_live"}`:                                  3,
		`edgestat_connections{protocol="socketio"}`:                                      4,
		`edgestat_connections{protocol="monitor"}`:                                       2,
		`edgestat_rtstat_pushes_sent_total`:                                              50,
		`edgestat_rtstat_pushes_dropped_total`:                                           5,
		`edgestat_sessions{state="running"}`:                                             1,
		`edgestat_sessions{state="finished"}`:                                            2,
		`edgestat_sessions{state="aborted"}`:                                             0,
		`edgestat_sessions_started_total`:                                                3,
		`edgestat_session_files_bytes`:                                                   4096,
		`edgestat_session_stream_clients`:                                                1,
		`edgestat_sshmon_targets`:                                                        1,
		`edgestat_sshmon_connections`:                                                    1,
		`edgestat_sshmon_connects_total`:                                                 3,
		`edgestat_sshmon_connect_failures_total`:                                         2,
		`edgestat_build_info{version="1.2.3"}`:                                           1,
	} {
		if got := value(t, m, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	value(t, m, "go_gc_duration_seconds_count") // there, if maybe 0 in a young process
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "go_memstats_sys_bytes",
		"process_resident_memory_bytes", "process_open_fds", "process_start_time_seconds", "process_cpu_seconds_total"} {
		if value(t, m, name) <= 0 {
			t.Errorf("%s is not positive", name)
		}
	}
	// Probes in id order, then each family grouped.
	s := string(out)
	if strings.Index(s, `edgestat_probe_running{probe="1"`) > strings.Index(s, `edgestat_probe_running{probe="2"`) {
		t.Error("probes not in id order")
	}
}

// TestDatabaseFailureKeepsTheRest: the database failing (a locked file, a
// full disk) cuts its families only.
func TestDatabaseFailureKeepsTheRest(t *testing.T) {
	h := NewHandler(nil)
	fakeServices(h, errors.New("database is locked"))
	out, err := h.Scrape(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := samples(t, out)
	if _, ok := m["edgestat_database_size_bytes"]; ok {
		t.Error("database families served after its failure")
	}
	if value(t, m, `edgestat_scrape_collector_success{collector="database"}`) != 0 ||
		value(t, m, `edgestat_scrape_collector_success{collector="sessions"}`) != 1 ||
		value(t, m, "edgestat_traffic_reports_stored_total") != 80 {
		t.Errorf("exposition:\n%s", out)
	}
}

// TestRuntimeOpenFDs: the count follows descriptors opened and closed.
func TestRuntimeOpenFDs(t *testing.T) {
	r := NewRuntime("x")
	before, err := r.openFDs()
	if err != nil {
		t.Fatal(err)
	}
	var files []*httptest.Server
	for range 3 {
		files = append(files, httptest.NewServer(http.NotFoundHandler())) // a listener each
	}
	during, err := r.openFDs()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range files {
		s.Close()
	}
	if during < before+3 {
		t.Errorf("open fds %d, then %d with 3 more listeners", before, during)
	}
}

func TestParseStatm(t *testing.T) {
	for in, want := range map[string][3]uint64{
		"2952 1173 720 196 0 368 0\n": {2952, 1173, 1},
		"10 20":                       {10, 20, 1},
		"10":                          {0, 0, 0},
		"":                            {0, 0, 0},
		"1 x 3":                       {0, 0, 0},
	} {
		size, rss, ok := parseStatm([]byte(in))
		got := [3]uint64{size, rss, 1}
		if !ok {
			got = [3]uint64{} // the values mean nothing then
		}
		if got != want {
			t.Errorf("parseStatm(%q) = %v, want %v", in, got, want)
		}
	}
}

// discard is a ResponseWriter that keeps nothing, so the benchmark
// measures the scrape and not a recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkScrape is one scrape of GET /metrics as the appliance serves it:
// this machine's /proc and /sys, the Go runtime, and services the size of
// the emulator's (one probe, two dozen applications).
//
//	go test -run '^$' -bench Scrape -benchmem ./server/metrics/
func BenchmarkScrape(b *testing.B) {
	for _, enc := range []string{"identity", "gzip"} {
		b.Run(enc, func(b *testing.B) {
			h := NewHandler(nil)
			for _, c := range HostCollectors(proc.FS("/")) {
				h.Add(c.Name, c.Collector)
			}
			h.Add("runtime", NewRuntime("bench"))
			fakeServices(h, nil)
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			req.Header.Set("Accept-Encoding", enc)
			w := &discard{h: http.Header{}}
			h.ServeHTTP(w, req) // warm the buffers
			size := len(h.w.Bytes())
			if enc == "gzip" {
				size = h.zbuf.Len()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, req)
			}
			b.ReportMetric(float64(size), "sent_bytes/scrape")
		})
	}
}
