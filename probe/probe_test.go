package probe

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TestWriteReportCSV replays a pcap written with pcapgo and checks the CSV.
func TestWriteReportCSV(t *testing.T) {
	tl := &timeline{}
	k := newConn(t, lanA, remote("142.250.1.1", 80))
	tl.at(0, k.handshake()...)
	tl.at(time.Second, k.data(true, httpGet("www.google.com")), k.data(false, httpResponse("text/html", 100)))
	tl.at(7*time.Second, k.close()...)
	var out bytes.Buffer
	if _, err := WriteReportCSV(&out, openPcap(t, writePcap(t, tl.frames), "capture.pcap"), Options{ID: 5}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var n99, n100, n1 int
	for _, l := range lines {
		r, err := ParseRow([]byte(l))
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		if !bytes.Equal(r.AppendCSV(nil), []byte(l)) {
			t.Errorf("not canonical: %s", l)
		}
		switch r := r.(type) {
		case *StatRow:
			n99++
			if r.Source != "capture.pcap" || r.Probe != 5 {
				t.Errorf("row %+v", r)
			}
		case *HostRow:
			n100++
		case *FlowRow:
			n1++
			if r.Format != FormatHTTP || r.Hostname != "www.google.com" {
				t.Errorf("flow %+v", r)
			}
		}
	}
	if n1 != 1 || n100 != 2 || n99 < 10 {
		t.Errorf("%d flow, %d host, %d stat lines:\n%s", n1, n100, n99, out.String())
	}
	if !strings.HasPrefix(lines[0], `99,5,"capture.pcap",1700000005.000,99,"99",1,1,`) {
		t.Errorf("first line %s", lines[0])
	}
}

func TestFlowTableBound(t *testing.T) {
	var frames []frame
	for i := range 10 {
		frames = append(frames, frame{udpFrame(t, withPort(lanA, uint16(1000+i)), remote("203.0.113.1", 9999), []byte("x")), t0.Add(time.Duration(i) * time.Millisecond)})
	}
	s, c := runFrames(t, frames, Options{MaxFlows: 4})
	if c.FlowsEvicted != 6 || c.FlowsTotal != 10 || len(s.flows) != 10 {
		t.Errorf("evicted %d total %d reports %d", c.FlowsEvicted, c.FlowsTotal, len(s.flows))
	}
	// The oldest go first.
	for i, r := range s.flows[:6] {
		if r.ClientPort != uint16(1000+i) {
			t.Errorf("eviction %d: port %d", i, r.ClientPort)
		}
	}
}

func TestTimeoutsPerProtocol(t *testing.T) {
	tl := &timeline{}
	d := remote("8.8.8.8", 53)
	tl.at(0, udpFrame(t, lanA, d, dnsMsg(t, 1, "example.org", nil)))
	tl.at(0, udpFrame(t, withPort(lanA, 4000), remote("203.0.113.1", 4000), []byte("udp")))
	tl.at(0, newConn(t, lanA, remote("203.0.113.2", 22)).handshake()...)
	ends := func(opts Options, at time.Duration) map[uint16]int64 {
		tl2 := *tl
		tl2.frames = append([]frame(nil), tl.frames...)
		tl2.at(at, arpFrame(t, lanA))
		tl2.at(at+time.Hour, arpFrame(t, lanA)) // the end: ends whatever is left
		s, _ := runFrames(t, tl2.frames, opts)
		m := map[uint16]int64{}
		for _, r := range s.flows {
			m[r.ServerPort] = r.Time - ms(t0.UnixNano())
		}
		return m
	}
	// Expiry runs on packet time: the ARP at 61 s ends the DNS (10 s) and
	// UDP (60 s) flows, the last one an hour later the TCP flow (300 s);
	// each ends when it timed out, not when that was noticed.
	m := ends(Options{}, 61*time.Second)
	if m[53] != 10000 || m[4000] != 60000 || m[22] != 300002 {
		t.Errorf("ends %v", m)
	}
	m = ends(Options{Timeouts: Timeouts{DNS: 2 * time.Second, UDP: 3 * time.Second, TCP: 4 * time.Second}, Period: time.Second}, 9*time.Second)
	if m[53] != 2000 || m[4000] != 3000 || m[22] != 4002 {
		t.Errorf("ends %v", m)
	}
}

// liveInput delivers frames slowly, with read timeouts, like a quiet link.
type liveInput struct {
	mu     sync.Mutex
	frames []frame
	closed chan struct{}
	once   sync.Once
}

func (l *liveInput) Live() bool { return true }
func (l *liveInput) ReadPacket() ([]byte, gopacket.CaptureInfo, error) {
	l.mu.Lock()
	if len(l.frames) > 0 {
		f := l.frames[0]
		l.frames = l.frames[1:]
		l.mu.Unlock()
		return f.data, gopacket.CaptureInfo{Timestamp: f.ts, CaptureLength: len(f.data), Length: len(f.data)}, nil
	}
	l.mu.Unlock()
	select {
	case <-l.closed:
		return nil, gopacket.CaptureInfo{}, io.EOF
	case <-time.After(20 * time.Millisecond):
		return nil, gopacket.CaptureInfo{}, os.ErrDeadlineExceeded
	}
}
func (l *liveInput) LinkType() layers.LinkType { return layers.LinkTypeEthernet }
func (l *liveInput) Name() string              { return "live0" }
func (l *liveInput) Close() error              { l.once.Do(func() { close(l.closed) }); return nil }

type chanSink struct {
	memSink
	stats chan []StatRow
}

func (c *chanSink) Stats(r []StatRow) { c.stats <- append([]StatRow(nil), r...) }

// TestLiveQuietLink: with no packets after the first, the wall clock still
// closes the period; ctx ends the run with a final flush.
func TestLiveQuietLink(t *testing.T) {
	now := time.Now()
	in := &liveInput{closed: make(chan struct{}), frames: []frame{{arpFrame(t, lanA), now}}}
	s := &chanSink{stats: make(chan []StatRow, 10)}
	p, err := New(in, Options{Sink: s, Period: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	select {
	case rows := <-s.stats:
		if len(rows) != 2 || rows[0].Packets != 1 {
			t.Errorf("rows %+v", rows)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no period closed on a quiet live link")
	}
	if c := p.Counters(); c.Packets != 1 {
		t.Errorf("counters %+v", c)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestLogSink(t *testing.T) {
	var buf bytes.Buffer
	ls := &LogSink{Logger: slog.New(slog.NewTextHandler(&buf, nil)), Top: 2}
	tl := &timeline{}
	k := newConn(t, lanA, remote("142.250.1.1", 80))
	tl.at(0, k.handshake()...)
	tl.at(time.Second, k.data(true, httpGet("www.google.com")))
	m := &memSink{}
	if _, err := New(&memInput{}, Options{}); err != nil {
		t.Fatal(err)
	}
	p, _ := New(&memInput{frames: tl.frames}, Options{Sink: MultiSink(ls, m)})
	if err := p.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"probe stats", "ETHERNET.IP.TCP.HTTP.GOOGLE=", "probe flows", "http=1", "probe hosts", "192.168.1.10="} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if len(m.stats) == 0 || len(m.flows) != 1 {
		t.Errorf("multi sink: %d stats, %d flows", len(m.stats), len(m.flows))
	}
}

func TestRetransmissionsAndHostBound(t *testing.T) {
	tl := &timeline{}
	k := newConn(t, lanA, remote("203.0.113.9", 8080))
	tl.at(0, k.handshake()...)
	seg := k.data(true, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	tl.at(time.Second, seg, seg, k.ack(false))
	for i, h := range []ep{lanB, withPort(ep{mac: "02:00:00:00:00:0c", ip: "192.168.1.12"}, 1), withPort(ep{mac: "02:00:00:00:00:0d", ip: "10.1.1.1"}, 2)} {
		tl.at(2*time.Second+time.Duration(i)*time.Millisecond, udpFrame(t, h, remote("203.0.113.1", 9), []byte("x")))
	}
	s, c := runFrames(t, tl.frames, Options{MaxHosts: 2})
	var f *FlowRow
	for i := range s.flows {
		if s.flows[i].ServerPort == 8080 {
			f = &s.flows[i]
		}
	}
	if f == nil || f.Retransmissions != 1 || f.Transactions != 1 {
		t.Errorf("flow %+v", f)
	}
	if c.HostsEvicted != 2 || c.Hosts != 2 {
		t.Errorf("hosts %d evicted %d", c.Hosts, c.HostsEvicted)
	}
}
