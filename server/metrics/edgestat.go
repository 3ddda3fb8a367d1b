package metrics

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"edgestat/probe"
	"edgestat/server/operator"
	"edgestat/server/probes"
	"edgestat/server/rtstat"
	"edgestat/server/sshmon"
	"edgestat/server/store"
	"edgestat/server/traffic"
)

// What the edgestat collectors read, each implemented by the package named
// in its comment; main wires the real ones, tests may fake them.
type (
	// ProbeRegistry is *probes.Registry.
	ProbeRegistry interface {
		Snapshot(dst []probes.Status) []probes.Status
	}
	// ReportStore is *traffic.Store.
	ReportStore interface {
		Counters() traffic.Counters
		AppBytes(dst []traffic.AppBytes) ([]traffic.AppBytes, uint64)
	}
	// Database is *store.Store.
	Database interface {
		Wear() store.Wear
		Size(ctx context.Context) (used, file int64, err error)
	}
	// LiveHub is *traffic.Hub.
	LiveHub interface {
		Stats() traffic.HubStats
		Clients() (live, socketio int)
	}
	// RtStat is *rtstat.Service.
	RtStat interface{ Stats() rtstat.Stats }
	// Sessions is *operator.Manager.
	Sessions interface{ Stats() operator.Stats }
	// Monitor is *sshmon.RPC.
	Monitor interface{ Stats() sshmon.Stats }
)

// The real implementations, checked at compile time.
var (
	_ ProbeRegistry = (*probes.Registry)(nil)
	_ ReportStore   = (*traffic.Store)(nil)
	_ Database      = (*store.Store)(nil)
	_ LiveHub       = (*traffic.Hub)(nil)
	_ RtStat        = (*rtstat.Service)(nil)
	_ Sessions      = (*operator.Manager)(nil)
	_ Monitor       = (*sshmon.RPC)(nil)
)

// probeFamilies are the per-probe families; every sample carries the
// labels probe, source and kind.
var probeFamilies = [...]struct {
	name, help string
	t          Type
	get        func(*probes.Status) uint64
}{
	{"edgestat_probe_packets_total", "Packets the probe read.", Counter, func(s *probes.Status) uint64 { return s.Packets }},
	{"edgestat_probe_bytes_total", "Bytes (on the wire) of the packets the probe read.", Counter, func(s *probes.Status) uint64 { return s.Bytes }},
	{"edgestat_probe_drops_total", "Packets the kernel dropped before the probe read them (live captures).", Counter, func(s *probes.Status) uint64 { return s.Drops }},
	{"edgestat_probe_decode_errors_total", "Packets the probe could not decode fully (truncated, malformed), all reasons.", Counter, func(s *probes.Status) uint64 { return s.DecodeErrors }},
	{"edgestat_probe_flows_active", "Flows in the probe's flow table now.", Gauge, func(s *probes.Status) uint64 { return s.FlowsActive }},
	{"edgestat_probe_flows_total", "Flows the probe has seen.", Counter, func(s *probes.Status) uint64 { return s.FlowsTotal }},
	{"edgestat_probe_flows_evicted_total", "Flows ended early because the flow table was full.", Counter, func(s *probes.Status) uint64 { return s.FlowsEvicted }},
	{"edgestat_probe_flow_details_missed_total", "HTTP, TLS and RTP flows counted without their texts and timings: the detail pool (a quarter of the flow table) was full.", Counter, func(s *probes.Status) uint64 { return s.DetailsMissed }},
	{"edgestat_probe_paths", "Distinct protocol paths the probe knows.", Gauge, func(s *probes.Status) uint64 { return s.Paths }},
	{"edgestat_probe_paths_overflow_total", "Packets or flows whose path was cut short: the path table was full.", Counter, func(s *probes.Status) uint64 { return s.PathsOverflow }},
	{"edgestat_probe_hosts", "LAN hosts the probe tracks now.", Gauge, func(s *probes.Status) uint64 { return s.Hosts }},
	{"edgestat_probe_hosts_evicted_total", "LAN hosts forgotten because the host table was full.", Counter, func(s *probes.Status) uint64 { return s.HostsEvicted }},
}

var appOverflowHelp = fmt.Sprintf("Format 99 reports left out of edgestat_probe_app_bytes_total: %d probe and application pairs were counted already.", traffic.MaxAppSeries)

// Probes collects the probes' counters from reg and, from the report
// store, the bytes of each probe's applications.
func Probes(reg ProbeRegistry, reports ReportStore) Collector {
	return &probesCollector{reg: reg, reports: reports}
}

type probesCollector struct {
	reg     ProbeRegistry
	reports ReportStore
	list    []probes.Status
	apps    []traffic.AppBytes
}

func (c *probesCollector) Collect(_ context.Context, w *Writer) error {
	c.list = c.reg.Snapshot(c.list[:0])
	slices.SortFunc(c.list, func(a, b probes.Status) int { return cmp.Compare(a.ID, b.ID) })
	labels := func(s *probes.Status) {
		w.Sample("")
		w.LabelUint("probe", uint64(s.ID))
		w.Label("source", s.Source)
		w.Label("kind", s.Kind)
	}
	w.Family("edgestat_probe_running", "1 while the probe reads its input, 0 once it ended (a replay done, a session's count sent).", Gauge)
	for i := range c.list {
		labels(&c.list[i])
		if c.list[i].State == probes.Running {
			w.Uint(1)
		} else {
			w.Uint(0)
		}
	}
	for _, f := range probeFamilies {
		w.Family(f.name, f.help, f.t)
		for i := range c.list {
			labels(&c.list[i])
			w.Uint(f.get(&c.list[i]))
		}
	}
	w.Family("edgestat_probe_packet_time_seconds", "Time of the latest packet the probe read (a replay's is the capture's).", Gauge)
	for i := range c.list {
		if s := &c.list[i]; s.PacketTime != 0 {
			labels(s)
			w.Float(float64(s.PacketTime) / 1e3)
		}
	}
	clear(c.list) // drop the strings until the next scrape

	if c.reports == nil {
		return nil
	}
	var overflow uint64
	c.apps, overflow = c.reports.AppBytes(c.apps[:0])
	slices.SortFunc(c.apps, func(a, b traffic.AppBytes) int {
		return cmp.Or(cmp.Compare(a.Probe, b.Probe), cmp.Compare(a.App, b.App))
	})
	w.Family("edgestat_probe_app_bytes_total", "Bytes of each application (MMT id and name, the last protocol of the path) by probe, from the format 99 reports the store accepted since start, other probes' included.", Counter)
	for _, a := range c.apps {
		w.Sample("")
		w.LabelUint("probe", uint64(a.Probe))
		// app_id too: names are not unique ids (an id without a name is
		// shown as its number, and MMT has a protocol called "888").
		w.LabelUint("app_id", uint64(a.App))
		w.Label("app", probe.ProtocolName(a.App))
		w.Uint(a.Bytes)
	}
	w.Counter("edgestat_probe_app_overflow_total", appOverflowHelp, overflow)
	return nil
}

// Traffic collects the report store's and the live hub's counters.
func Traffic(reports ReportStore, hub LiveHub) Collector {
	return CollectorFunc(func(_ context.Context, w *Writer) error {
		c := reports.Counters()
		w.Counter("edgestat_traffic_reports_accepted_total", "Reports taken in for storage (the probes' and POST /traffic/reports').", c.Accepted)
		w.Counter("edgestat_traffic_reports_stored_total", "Reports committed to the database.", c.Stored)
		w.GaugeUint("edgestat_traffic_reports_pending", "Reports waiting in memory for the next write.", uint64(max(c.Pending, 0)))
		w.Counter("edgestat_traffic_reports_dropped_total", "Probe reports dropped because too many waited (the database did not keep up).", c.Dropped)
		w.Counter("edgestat_traffic_reports_invalid_total", "Probe reports refused by validation or the bounds of distinct keys.", c.Invalid)
		w.Counter("edgestat_traffic_flows_folded_total", "Flow reports stored under their application's key, without addresses: the open day held too many distinct flow keys.", c.Folded)
		w.Counter("edgestat_traffic_flushes_total", "Batches of reports committed to the database.", c.Flushes)
		w.Counter("edgestat_traffic_flush_failures_total", "Batches that failed to commit (they are retried).", c.Failures)
		w.Counter("edgestat_traffic_prunes_total", "Prunings of old reports to keep the database under --max-db-mb.", c.Pruned)
		if c.LastFlush > 0 {
			w.Gauge("edgestat_traffic_last_flush_timestamp_seconds", "When the last batch was committed, seconds since the epoch.", float64(c.LastFlush)/1e3)
			w.Gauge("edgestat_traffic_last_flush_duration_seconds", "How long the last batch took to commit.", float64(c.LastFlushMS)/1e3)
		}
		if c.Newest > 0 {
			w.Gauge("edgestat_traffic_newest_report_timestamp_seconds", "Time of the newest report written (packet time: a replay's is old).", float64(c.Newest)/1e3)
		}
		if hub != nil {
			h := hub.Stats()
			w.Counter("edgestat_traffic_live_published_total", "Reports pushed to at least one live client (/traffic/live, socket.io).", h.Published)
			w.Counter("edgestat_traffic_live_sent_total", "Messages queued for live clients (one per event per client).", h.Sent)
			w.Counter("edgestat_traffic_live_slow_clients_total", "Live clients dropped because their queue overflowed.", h.Slow)
			w.Counter("edgestat_traffic_live_rejected_total", "Live connections refused over the client bound.", h.Rejected)
		}
		return nil
	})
}

// DatabaseCollector collects the SQLite database's size and writes;
// maxBytes is --max-db-mb in bytes (0: none).
func DatabaseCollector(db Database, maxBytes int64) Collector {
	return CollectorFunc(func(ctx context.Context, w *Writer) error {
		used, file, err := db.Size(ctx)
		if err != nil {
			return fmt.Errorf("metrics: database size: %w", err)
		}
		wear := db.Wear()
		w.GaugeUint("edgestat_database_size_bytes", "Bytes of the database's pages in use (what --max-db-mb bounds).", uint64(max(used, 0)))
		w.GaugeUint("edgestat_database_file_bytes", "Bytes of the database file, free pages included.", uint64(max(file, 0)))
		if maxBytes > 0 {
			w.GaugeUint("edgestat_database_max_bytes", "The bound --max-db-mb sets.", uint64(maxBytes))
		}
		w.GaugeUint("edgestat_database_wal_bytes", "Bytes of the write-ahead log now.", uint64(max(wear.WALBytes, 0)))
		w.Counter("edgestat_database_written_bytes_total", "Bytes the database wrote to storage since start (WAL appends and checkpoint copies: the flash wear).", wear.SinceStart)
		w.GaugeUint("edgestat_database_written_today_bytes", "Bytes the database wrote to storage today (UTC), earlier runs of the day included.", wear.Today)
		w.Counter("edgestat_database_checkpoints_total", "WAL checkpoints run since start.", wear.Checkpoints)
		return nil
	})
}

// Connections collects the long-lived connections by protocol, and the
// Rt-Stat service's counters. Any of the three may be nil.
func Connections(rt RtStat, hub LiveHub, mon Monitor) Collector {
	return CollectorFunc(func(_ context.Context, w *Writer) error {
		var st rtstat.Stats
		if rt != nil {
			st = rt.Stats()
		}
		w.Family("edgestat_connections", "Long-lived connections open now, by protocol (plain HTTP requests are not counted).", Gauge)
		if rt != nil {
			w.Value(float64(st.Raw), "protocol", "rtstat_raw")
			w.Value(float64(st.WebSocket), "protocol", "rtstat_ws")
		}
		if hub != nil {
			live, sio := hub.Clients()
			w.Value(float64(live), "protocol", "traffic_live")
			w.Value(float64(sio), "protocol", "socketio")
		}
		if mon != nil {
			w.Value(float64(mon.Stats().Clients), "protocol", "monitor")
		}
		if rt == nil {
			return nil
		}
		w.Counter("edgestat_rtstat_pushes_sent_total", "Rt-Stat pushes queued for clients.", st.Pushes)
		w.Counter("edgestat_rtstat_pushes_dropped_total", "Rt-Stat pushes a client missed: its queue was full (it reads too slowly) or it was closing.", st.PushesDropped)
		w.Counter("edgestat_rtstat_clients_refused_total", "Rt-Stat clients closed because of --max-clients.", st.Refused)
		w.Counter("edgestat_rtstat_clients_displaced_total", "Rt-Stat clients that had not started and gave their slot to a newcomer when --max-clients was reached.", st.Displaced)
		w.GaugeUint("edgestat_rtstat_intervals", "Distinct push intervals being collected now.", uint64(max(st.Intervals, 0)))
		w.Counter("edgestat_rtstat_collections_total", "Rt-Stat collections since start, over every interval.", st.Collections)
		w.Counter("edgestat_rtstat_plugin_errors_total", "Rt-Stat plugin failures since start (each gave an error value in its push).", st.PluginErrors)
		return nil
	})
}

// SessionsCollector collects the operator sessions.
func SessionsCollector(s Sessions) Collector {
	return CollectorFunc(func(_ context.Context, w *Writer) error {
		st := s.Stats()
		w.Family("edgestat_sessions", "Operator sessions listed now, by state.", Gauge)
		for i, name := range operator.States {
			w.Value(float64(st.ByState[i]), "state", name)
		}
		w.Counter("edgestat_sessions_started_total", "Operator sessions started since start.", st.Started)
		w.GaugeUint("edgestat_session_files_bytes", "Bytes of the sessions' segment files on disk (at most 10 s old).", uint64(max(st.FileBytes, 0)))
		w.GaugeUint("edgestat_session_stream_clients", "Clients of the sessions' pcap streams now.", uint64(max(st.StreamClients, 0)))
		return nil
	})
}

// SSHMonitor collects the SSH monitor's figures; its /monitor clients are
// in edgestat_connections{protocol="monitor"}.
func SSHMonitor(m Monitor) Collector {
	return CollectorFunc(func(_ context.Context, w *Writer) error {
		st := m.Stats()
		w.GaugeUint("edgestat_sshmon_targets", "Hosts the SSH monitor watches now.", uint64(max(st.Targets, 0)))
		w.GaugeUint("edgestat_sshmon_connections", "SSH connections open now (one per user@host:port, shared by its watchers).", uint64(max(st.Open, 0)))
		w.Counter("edgestat_sshmon_connects_total", "SSH connections made since start.", st.Dials)
		w.Counter("edgestat_sshmon_connect_failures_total", "SSH connections that failed (network, login, host key) since start.", st.Failures)
		return nil
	})
}
