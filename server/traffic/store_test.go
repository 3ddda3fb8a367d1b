package traffic

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"edgestat/probe"
	"edgestat/server/store"
)

func realSchema(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// openStores opens the database in dir and a traffic Store on it; both
// close with the test unless closed before.
func openStores(t testing.TB, dir string, cfg Config) (*store.Store, *Store) {
	t.Helper()
	st, err := store.Open(context.Background(), dir, realSchema(t), "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := Open(context.Background(), st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st, s
}

var day0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).UnixMilli()

// synthStep is the period of synth's reports: longer than a probe's 5 s,
// so that a day of them is tested quickly (under -race too).
const synthStep = 20_000

// synth makes reports every synthStep for span from start: two probes with
// their sources, a few paths, hosts and flows of every format.
func synth(seed uint64, start int64, span time.Duration) []probe.Row {
	rng := rand.New(rand.NewPCG(seed, 1))
	type src struct {
		probe  uint32
		source string
		paths  []string
	}
	srcs := []src{
		{1, "eth0", []string{"99", "99.178", "99.178.354", "99.178.354.153", "99.178.354.341.134", "99.178.376.85", "99.178.376", "99.182.376.218"}},
		{2, "wlan0", []string{"99", "99.178", "99.178.376", "99.178.376.251"}},
		{2, "capture.pcap", []string{"99", "99.30"}},
	}
	servers := []netip.Addr{netip.MustParseAddr("142.250.185.99"), netip.MustParseAddr("2a00:1450::1"), netip.MustParseAddr("151.101.1.1")}
	var rows []probe.Row
	total := map[string]uint64{}
	var flowID uint64
	for t := start; t < start+span.Milliseconds(); t += synthStep {
		for si, s := range srcs {
			tt := t + int64(si)*7 // sources are not in step
			for _, p := range s.paths {
				if rng.IntN(10) == 0 {
					continue // a quiet path
				}
				k := fmt.Sprint(s.probe, s.source, p)
				total[k] += uint64(rng.IntN(3))
				bytes := uint64(rng.IntN(100000))
				ids := strings.Split(p, ".")
				var app uint32
				fmt.Sscan(ids[len(ids)-1], &app)
				rows = append(rows, &probe.StatRow{Probe: s.probe, Source: s.source, Time: tt, App: app, Path: p,
					TotalFlows: total[k], ActiveFlows: uint64(rng.IntN(20)), Bytes: bytes, Payload: bytes / 2, Packets: bytes/500 + 1})
			}
			for h := 0; h < 3; h++ {
				if rng.IntN(4) == 0 {
					continue
				}
				hr := &probe.HostRow{Probe: s.probe, Source: s.source, Time: tt, IP: netip.AddrFrom4([4]byte{192, 168, 1, byte(10 + h)}),
					OutBytes: uint64(rng.IntN(50000)), InBytes: uint64(rng.IntN(50000)), OutPackets: uint64(rng.IntN(100)), InPackets: uint64(rng.IntN(100))}
				if h != 2 {
					hr.MAC = [6]byte{0xf4, 0xf5, 0xd8, 0, byte(si), byte(h)}
				}
				rows = append(rows, hr)
			}
			for f := 0; f < rng.IntN(3); f++ {
				flowID++
				format := uint8(rng.IntN(4))
				srv := servers[rng.IntN(len(servers))]
				ver := uint8(4)
				if srv.Is6() {
					ver = 6
				}
				fr := &probe.FlowRow{Format: format, Probe: s.probe, Source: s.source, Time: tt - int64(rng.IntN(4000)),
					FlowID: flowID, IPVersion: ver, ServerAddr: srv, ClientAddr: netip.AddrFrom4([4]byte{192, 168, 1, byte(10 + rng.IntN(3))}),
					ServerPort: []uint16{80, 443, 5004}[format%3], ClientPort: uint16(40000 + rng.IntN(20000)), Transport: 6,
					ULPackets: uint64(rng.IntN(50)), DLPackets: uint64(rng.IntN(50)), ULBytes: uint64(rng.IntN(90000)), DLBytes: uint64(rng.IntN(900000)),
					TCPRTT: float64(rng.IntN(300000)) / 1000, Retransmissions: uint64(rng.IntN(3)), AppFamily: 1, Path: "99.178.354.153", App: 153}
				fr.StartTime = fr.Time - int64(rng.IntN(60000))
				switch format {
				case probe.FormatHTTP:
					fr.ResponseTime, fr.Transactions, fr.InteractionTime = float64(rng.IntN(900000))/1000, uint64(1+rng.IntN(3)), 1.5
					fr.Hostname, fr.MIME = []string{"example.com", "deb.debian.org"}[rng.IntN(2)], "text/html"
				case probe.FormatTLS:
					fr.ServerName, fr.CDN = "www.google.com", 1
				case probe.FormatRTP:
					fr.LossRate, fr.LossBurstiness, fr.MaxJitter, fr.OrderErrorRate = rng.Float64()/10, 1+rng.Float64(), 12.25, rng.Float64()/100
				}
				rows = append(rows, fr)
			}
		}
	}
	return rows
}

func rowTime(r probe.Row) int64 { return header(r).time }

// expect recomputes the answer to q from every report, the slow and
// obvious way.
func expect(all []probe.Row, q Query) []string {
	var sel []probe.Row
	anchor := int64(-1)
	for _, r := range all {
		h := header(r)
		format := probe.FormatStats
		switch r := r.(type) {
		case *probe.HostRow:
			format = probe.FormatHosts
		case *probe.FlowRow:
			format = int(r.Format)
		}
		if format != q.Format || !q.matches(sourceKey{h.probe, h.source}) {
			continue
		}
		sel = append(sel, r)
		anchor = max(anchor, h.time)
	}
	if anchor < 0 {
		return nil
	}
	var out []probe.Row
	if q.Period.Raw {
		for _, r := range sel {
			if t := rowTime(r); t > anchor-60000 && t <= anchor {
				out = append(out, r)
			}
		}
	} else {
		size := tierSize[q.Period.Tier]
		hi := anchor - anchor%size
		lo := hi - (q.Period.Buckets-1)*size
		groups := map[any]probe.Row{}
		var order []any
		for _, r := range sel {
			b := rowTime(r) - rowTime(r)%size
			if b < lo || b > hi {
				continue
			}
			var key any
			switch r := r.(type) {
			case *probe.StatRow:
				type k struct {
					b     int64
					probe uint32
					src   string
					path  string
					app   uint32
				}
				key = k{b, r.Probe, r.Source, r.Path, r.App}
				g, ok := groups[key].(*probe.StatRow)
				if !ok {
					c := *r
					c.Time = b
					groups[key] = &c
					order = append(order, key)
					continue
				}
				g.TotalFlows, g.ActiveFlows = max(g.TotalFlows, r.TotalFlows), max(g.ActiveFlows, r.ActiveFlows)
				g.Bytes, g.Payload, g.Packets = g.Bytes+r.Bytes, g.Payload+r.Payload, g.Packets+r.Packets
			case *probe.HostRow:
				type k struct {
					b     int64
					probe uint32
					src   string
					mac   [6]byte
					ip    netip.Addr
				}
				key = k{b, r.Probe, r.Source, r.MAC, r.IP}
				g, ok := groups[key].(*probe.HostRow)
				if !ok {
					c := *r
					c.Time = b
					groups[key] = &c
					order = append(order, key)
					continue
				}
				g.OutBytes, g.InBytes, g.OutPackets, g.InPackets = g.OutBytes+r.OutBytes, g.InBytes+r.InBytes, g.OutPackets+r.OutPackets, g.InPackets+r.InPackets
			case *probe.FlowRow:
				type k struct {
					b                int64
					probe            uint32
					src              string
					server, client   netip.Addr
					port             uint16
					host, name, mime string
					version          uint8
				}
				key = k{b, r.Probe, r.Source, r.ServerAddr, r.ClientAddr, r.ServerPort, r.Hostname, r.ServerName, r.MIME, r.IPVersion}
				g, ok := groups[key].(*probe.FlowRow)
				if !ok {
					c := *r
					c.Time, c.FlowID, c.ClientPort = b, 1, 0
					groups[key] = &c
					order = append(order, key)
					continue
				}
				g.FlowID++
				g.StartTime = min(g.StartTime, r.StartTime)
				g.ULPackets, g.DLPackets, g.ULBytes, g.DLBytes = g.ULPackets+r.ULPackets, g.DLPackets+r.DLPackets, g.ULBytes+r.ULBytes, g.DLBytes+r.DLBytes
				g.Retransmissions, g.Transactions = g.Retransmissions+r.Retransmissions, g.Transactions+r.Transactions
				g.TCPRTT, g.ResponseTime, g.InteractionTime = max(g.TCPRTT, r.TCPRTT), max(g.ResponseTime, r.ResponseTime), max(g.InteractionTime, r.InteractionTime)
				g.LossRate, g.LossBurstiness, g.MaxJitter, g.OrderErrorRate = max(g.LossRate, r.LossRate), max(g.LossBurstiness, r.LossBurstiness), max(g.MaxJitter, r.MaxJitter), max(g.OrderErrorRate, r.OrderErrorRate)
			}
		}
		for _, k := range order {
			out = append(out, groups[k])
		}
	}
	sortRows(out)
	return jsonRows(out)
}

func jsonRows(rows []probe.Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = string(r.AppendJSON(nil))
	}
	return out
}

func ingest(t testing.TB, s *Store, rows []probe.Row) {
	t.Helper()
	for _, r := range rows {
		if err := s.Check(r); err != nil {
			t.Fatalf("%s: %v", r.AppendJSON(nil), err)
		}
	}
	if _, err := s.Ingest(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
}

// queries are every format and period with the filter forms.
func queries() []Query {
	var qs []Query
	for _, format := range []int{99, 100, 0, 1, 2, 3} {
		for _, p := range []string{"minute", "hour", "day", "week", "month"} {
			for _, f := range []struct {
				probes  []uint32
				sources []string
			}{{nil, nil}, {[]uint32{1}, nil}, {nil, []string{"wlan0", "capture.pcap"}}, {[]uint32{2}, []string{"wlan0"}}, {[]uint32{7}, nil}} {
				qs = append(qs, Query{Format: format, Probes: f.probes, Sources: f.sources, Period: periods[p], Raw: true})
			}
		}
	}
	return qs
}

func checkQueries(t *testing.T, s *Store, all []probe.Row, what string) {
	t.Helper()
	for i, q := range queries() {
		if raceEnabled && i%10 != 0 {
			continue
		}
		res, err := s.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		got, want := jsonRows(res.Rows), expect(all, q)
		if !slices.Equal(got, want) {
			n := 0
			for n < len(got) && n < len(want) && got[n] == want[n] {
				n++
			}
			g, w := "(end)", "(end)"
			if n < len(got) {
				g = got[n]
			}
			if n < len(want) {
				w = want[n]
			}
			t.Fatalf("%s: format %d %s probes %v sources %v: %d rows, want %d; first difference at %d:\n got %s\nwant %s",
				what, q.Format, q.Period.Name, q.Probes, q.Sources, len(got), len(want), n, g, w)
		}
		if len(want) == 0 && len(q.Probes) == 0 && q.Sources == nil {
			t.Fatalf("%s: format %d %s: no rows at all", what, q.Format, q.Period.Name)
		}
	}
}

// TestPeriodsMatchRecomputation feeds 26 hours of reports (some late, with
// a restart in the middle and reports still in memory) and checks every
// period's answer against a recomputation from the reports.
func TestPeriodsMatchRecomputation(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{FlushRows: 20000, FlushInterval: time.Hour}
	st, s := openStores(t, dir, cfg)
	all := synth(1, day0-3*3_600_000+1234, 26*time.Hour)
	// One report in 50 arrives an hour late.
	var late []probe.Row
	var fed []probe.Row
	half := len(all) / 2
	for i, r := range all {
		if i%50 == 7 {
			late = append(late, r)
			continue
		}
		fed = append(fed, r)
		if i == half {
			ingest(t, s, fed)
			fed = nil
			if err := s.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			// A restart: the open buckets come back from the database.
			st.Close()
			st, s = openStores(t, dir, cfg)
		}
		if len(fed) == 5000 {
			ingest(t, s, fed)
			fed = nil
			if err := s.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			if len(late) > 0 {
				ingest(t, s, late)
				late = nil
			}
		}
	}
	ingest(t, s, fed)
	ingest(t, s, late)
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkQueries(t, s, all, "flushed")

	// Reports in memory count as well.
	more := synth(2, day0+23*3_600_000+1234, 10*time.Minute)
	ingest(t, s, more)
	all = append(all, more...)
	checkQueries(t, s, all, "pending")

	// And after a restart.
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	_, s = openStores(t, dir, cfg)
	checkQueries(t, s, all, "restarted")
}

// TestQueriesDuringIngest queries while reports pour in and batches
// commit, for the race detector: a query sees each batch on one side of
// its commit.
func TestQueriesDuringIngest(t *testing.T) {
	_, s := openStores(t, t.TempDir(), Config{FlushRows: 500, FlushInterval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	rows := synth(3, day0, 3*time.Hour)
	errc := make(chan error, 2)
	go func() {
		for i := 0; i < len(rows); i += 300 {
			if _, err := s.Ingest(ctx, rows[i:min(i+300, len(rows))]); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	go func() {
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				errc <- nil
				return
			default:
			}
			q := queries()[i%len(queries())]
			if _, err := s.Query(ctx, q); err != nil && ctx.Err() == nil {
				errc <- err
				return
			}
		}
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	<-done
	// Run wrote what waited before returning.
	if c := s.Counters(); c.Pending != 0 || c.Stored != uint64(len(rows)) {
		t.Fatalf("after Run: %+v, want %d stored", c, len(rows))
	}
}

// TestFlowKeysFoldPastTheBound: a flood of flows, each with a new pair of
// addresses, past maxOpenFlowKeys keeps the open day bounded; the reports
// past the bound are stored under their application's key, so the day's
// totals stay exact.
func TestFlowKeysFoldPastTheBound(t *testing.T) {
	_, s := openStores(t, t.TempDir(), Config{FlushRows: 20000, FlushInterval: time.Hour})
	const n = maxOpenFlowKeys + 5000
	rows := make([]probe.Row, 0, n)
	var bytes uint64
	for i := range n {
		r := &probe.FlowRow{Format: probe.FormatFlow, Probe: 1, Source: "eth0", Time: day0 + int64(i), FlowID: uint64(i + 1),
			StartTime: day0 + int64(i), IPVersion: 4, ServerAddr: netip.AddrFrom4([4]byte{203, 0, byte(i >> 8), byte(i)}),
			ClientAddr: netip.AddrFrom4([4]byte{192, 168, byte(i >> 16), byte(i)}), ServerPort: uint16(i), ClientPort: 40000,
			Transport: 6, ULPackets: 1, ULBytes: 60 + uint64(i%7), Path: "99.178.354", App: 354}
		bytes += r.ULBytes
		rows = append(rows, r)
	}
	ingest(t, s, rows)
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(s.openF[tierDay]); got > maxOpenFlowKeys+1 {
		t.Errorf("%d open day entries, want at most %d and the folded one", got, maxOpenFlowKeys+1)
	}
	if c := s.Counters(); c.Folded < n-maxOpenFlowKeys || c.Stored != n {
		t.Errorf("folded %d, stored %d: want at least %d folded of %d", c.Folded, c.Stored, n-maxOpenFlowKeys, n)
	}
	res, err := s.Query(context.Background(), Query{Format: probe.FormatFlow, Period: periods["day"], Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	var got, flows uint64
	folded := 0
	for _, r := range res.Rows {
		f := r.(*probe.FlowRow)
		got += f.ULBytes
		flows += f.ULPackets
		if !f.ClientAddr.IsValid() {
			folded++
		}
	}
	if got != bytes || flows != n || folded != 1 {
		t.Errorf("day: %d bytes of %d packets in %d rows (%d folded), want %d bytes of %d packets, one folded row", got, flows, len(res.Rows), folded, bytes, n)
	}
}
