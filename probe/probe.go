package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Options configure a Probe. Zero fields take the defaults.
type Options struct {
	ID        uint32        // probe id, column 1 of every report
	Source    string        // column 2; default the Input's Name
	Period    time.Duration // stats period in packet time; default 5 s
	Timeouts  Timeouts      // flow idle timeouts
	MaxFlows  int           // flow table bound; default 32768; the least recently seen flow is evicted
	MaxPaths  int           // distinct protocol paths; default 4096; deeper paths are cut short
	MaxHosts  int           // LAN hosts; default 1024; the least recently seen is evicted
	LocalNets []netip.Prefix
	// LocalNets are LAN prefixes besides the defaults (10/8, 172.16/12,
	// 192.168/16, 169.254/16, fc00::/7, fe80::/10): a LAN with public
	// addresses (IPv6 global unicast) lists its prefixes here.
	Sink Sink // where reports go; nil drops them (Counters still count)
}

// DefaultMaxFlows is the flow table's default bound. A flow costs 216
// bytes, its slots in the hash table 16 and a quarter of a 400-byte detail
// (the pool for HTTP, TLS and RTP texts and timings is MaxFlows/4): about
// 330 bytes at most, 10.8 MB at this bound, touched only as flows come.
// It is twice the connection tracking bound of a small OpenWrt router.
const DefaultMaxFlows = 32768

// MaxFlowsLimit bounds Options.MaxFlows (about 5.5 GB of tables).
const MaxFlowsLimit = 1 << 24

// CheckMaxFlows says what is wrong with a flow table bound, nil when none.
func CheckMaxFlows(n int) error {
	if n < 16 || n > MaxFlowsLimit {
		return fmt.Errorf("%d flows: want 16 to %d", n, MaxFlowsLimit)
	}
	return nil
}

// Timeouts are the flow idle timeouts by protocol, in packet time.
type Timeouts struct {
	TCP    time.Duration // default 300 s
	UDP    time.Duration // default 60 s
	ICMP   time.Duration // ICMP and ICMPv6; default 30 s
	DNS    time.Duration // UDP port 53, 5353 (mDNS), 5355 (LLMNR); default 10 s
	Other  time.Duration // other IP protocols (SCTP, IGMP ...); default 60 s
	Closed time.Duration // TCP after FIN both ways or RST, for the last ACKs; default 1 s
}

func (o *Options) defaults(in Input) {
	if o.Source == "" {
		o.Source = in.Name()
	}
	if o.Period <= 0 {
		o.Period = 5 * time.Second
	}
	if o.MaxFlows <= 0 {
		o.MaxFlows = DefaultMaxFlows
	}
	if o.MaxPaths <= 0 {
		o.MaxPaths = 4096
	}
	if o.MaxHosts <= 0 {
		o.MaxHosts = 1024
	}
	t := &o.Timeouts
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&t.TCP, 300 * time.Second}, {&t.UDP, 60 * time.Second}, {&t.ICMP, 30 * time.Second},
		{&t.DNS, 10 * time.Second}, {&t.Other, 60 * time.Second}, {&t.Closed, time.Second},
	} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
}

// NumDecodeErrors is the number of DecodeError reasons.
const NumDecodeErrors = int(numDecodeErrors)

// Counters are a probe's running totals, for /metrics and the UI.
type Counters struct {
	Packets       uint64
	Bytes         uint64                  // wire bytes
	DecodeErrors  [NumDecodeErrors]uint64 // by DecodeError
	Drops         uint64                  // kernel drops, for inputs that are DropCounters
	FlowsActive   uint64
	FlowsTotal    uint64
	FlowsEvicted  uint64 // flows ended early because the table was full
	Details       uint64 // flows holding a detail (HTTP, TLS, RTP texts and timings)
	DetailsMissed uint64 // flows that wanted a detail when the pool (MaxFlows/4) was exhausted
	Paths         uint64
	PathsOverflow uint64 // packets or flows whose path was cut short: the path table was full
	Hosts         uint64
	HostsEvicted  uint64
	StatRows      uint64    // format 99 rows reported
	FlowRows      uint64    // flow reports
	HostRows      uint64    // format 100 rows
	PacketTime    time.Time // time of the latest packet
}

// A Sink receives a probe's reports, from the probe's goroutine, one call
// at a time. The slices are reused once the call returns: copy rows to
// keep them (their strings are immutable and may be kept). Flow reports of
// a period come before its Stats and Hosts.
type Sink interface {
	Stats(rows []StatRow) // format 99, every period
	Flows(rows []FlowRow) // formats 0-3, as flows end
	Hosts(rows []HostRow) // format 100, every period
}

// A LiveInput is an Input that can say its packets arrive in real time
// (a capture): then a quiet link still closes its stats periods by the
// wall clock. ReadPacket of a live input may also return an error with
// a Timeout() method reporting true (or os.ErrDeadlineExceeded) when no
// packet came in a while; the probe then goes on reading.
type LiveInput interface {
	Input
	Live() bool
}

// Probe runs the pipeline over one Input.
type Probe struct {
	in   Input
	opts Options
	pl   *pipeline

	mu   sync.Mutex
	snap Counters

	taps   atomic.Pointer[[]*tap] // copy on write; nil when none
	tapsMu sync.Mutex             // serialises Tap and its removal
}

// A TapFunc gets every packet the probe reads, on the probe's goroutine,
// before the packet is decoded. data is valid only during the call: copy
// it to keep it. It must return quickly: a live capture must not wait.
type TapFunc func(data []byte, ci gopacket.CaptureInfo)

type tap struct{ fn TapFunc }

// Tap adds fn to the probe's packet taps (an operator session streaming a
// probe's packets). The returned function removes it; a call already under
// way on the probe's goroutine may still finish after that.
func (p *Probe) Tap(fn TapFunc) (remove func()) {
	t := &tap{fn}
	p.tapsMu.Lock()
	defer p.tapsMu.Unlock()
	var cur []*tap
	if old := p.taps.Load(); old != nil {
		cur = *old
	}
	next := append(append([]*tap(nil), cur...), t)
	p.taps.Store(&next)
	var once sync.Once
	return func() {
		once.Do(func() {
			p.tapsMu.Lock()
			defer p.tapsMu.Unlock()
			var rest []*tap
			if old := p.taps.Load(); old != nil {
				for _, x := range *old {
					if x != t {
						rest = append(rest, x)
					}
				}
			}
			if len(rest) == 0 {
				p.taps.Store(nil)
				return
			}
			p.taps.Store(&rest)
		})
	}
}

// tapped hands a packet to the taps; one atomic load when there are none.
func (p *Probe) tapped(data []byte, ts int64, capLen, wire int) {
	taps := p.taps.Load()
	if taps == nil {
		return
	}
	ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, ts), CaptureLength: capLen, Length: wire}
	for _, t := range *taps {
		t.fn(data, ci)
	}
}

// ErrLinkType is returned by New for a link type the probe cannot decode.
var ErrLinkType = errors.New("probe: unsupported link type")

// New makes a probe reading in. It fails on a link type the probe does not
// decode (Ethernet, Linux cooked capture, raw IP and BSD loopback are).
func New(in Input, opts Options) (*Probe, error) {
	lt := in.LinkType()
	if !supportedLink(lt) {
		return nil, fmt.Errorf("%w %v (%d) on %s", ErrLinkType, lt, int(lt), in.Name())
	}
	opts.defaults(in)
	return &Probe{in: in, opts: opts, pl: newPipeline(lt, &opts)}, nil
}

// ID is the probe's id; Source its reports' source column.
func (p *Probe) ID() uint32 { return p.opts.ID }

// Source is the reports' source column (the interface or file name).
func (p *Probe) Source() string { return p.opts.Source }

// LinkType is the link layer of the probe's packets (for a pcap of them).
func (p *Probe) LinkType() layers.LinkType { return p.in.LinkType() }

// Counters returns the probe's counters, at most a moment old. It may be
// called from any goroutine; it calls the Input's Drops when it has one.
func (p *Probe) Counters() Counters {
	p.mu.Lock()
	c := p.snap
	p.mu.Unlock()
	if dc, ok := p.in.(DropCounter); ok {
		if d, err := dc.Drops(); err == nil {
			c.Drops = d
		}
	}
	return c
}

func (p *Probe) publish() {
	c := p.pl.counters()
	p.mu.Lock()
	p.snap = c
	p.mu.Unlock()
}

// publishEvery is how often (in packets) the counters are published.
const publishEvery = 4096

// Run reads packets until the input ends (io.EOF) or ctx is done, then
// ends every flow and reports the last period, so a replay's reports are
// complete. Run owns the input: it closes it before returning. It returns
// nil at the end of the input or when ctx is done, else the input's error.
func (p *Probe) Run(ctx context.Context) error {
	defer p.in.Close()
	stop := context.AfterFunc(ctx, func() { p.in.Close() })
	defer stop()
	var err error
	if li, ok := p.in.(LiveInput); ok && li.Live() {
		err = p.runLive(ctx)
	} else {
		err = p.runFile(ctx)
	}
	p.pl.finish()
	p.publish()
	if ctx.Err() != nil || errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

func (p *Probe) runFile(ctx context.Context) error {
	pl := p.pl
	published := time.Now()
	for n := 1; ; n++ {
		data, ci, err := p.in.ReadPacket()
		if err != nil {
			if isTimeout(err) && ctx.Err() == nil {
				continue
			}
			return err
		}
		p.tapped(data, ci.Timestamp.UnixNano(), len(data), ci.Length)
		pl.packet(data, ci.Timestamp.UnixNano(), ci.Length)
		// Publish every publishEvery packets, and at least every second
		// for a slow replay (the clock is read every 64 packets only).
		if n%publishEvery == 0 || n%64 == 0 && time.Since(published) >= time.Second {
			p.publish()
			published = time.Now()
			if ctx.Err() != nil {
				return nil
			}
		}
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &t) && t.Timeout()
}

// A batch carries packets copied from a live input to the pipeline.
type batch struct {
	buf  []byte
	pkts []batchPacket
}

type batchPacket struct {
	off, n int
	ts     int64
	wire   int
}

const (
	batchBytes   = 256 << 10
	batchPackets = 1024
)

// liveQueue hands packets from a live input's reader goroutine to the
// pipeline: the reader appends to the current batch, the pipeline swaps it
// for an empty one whenever it is told packets are there.
type liveQueue struct {
	mu    sync.Mutex
	cur   *batch
	spare *batch
	err   error // the reader's final error, once done
	done  bool
	ready chan struct{} // cur has packets, or the reader is done
	space chan struct{} // a batch was taken: a full cur may be swapped soon
}

func newBatch() *batch {
	return &batch{buf: make([]byte, 0, batchBytes), pkts: make([]batchPacket, 0, batchPackets)}
}

// read runs in its own goroutine until the input fails or stop closes.
func (q *liveQueue) read(ctx context.Context, in Input, stop <-chan struct{}) {
	signal := func(c chan struct{}) {
		select {
		case c <- struct{}{}:
		default:
		}
	}
	for {
		data, ci, err := in.ReadPacket()
		if err != nil {
			if isTimeout(err) && ctx.Err() == nil {
				continue
			}
			q.mu.Lock()
			q.err, q.done = err, true
			q.mu.Unlock()
			signal(q.ready)
			return
		}
		for {
			q.mu.Lock()
			b := q.cur
			if len(b.pkts) == 0 || len(b.pkts) < cap(b.pkts) && len(b.buf)+len(data) <= cap(b.buf) {
				if len(data) > cap(b.buf) {
					data = data[:cap(b.buf)]
				}
				off := len(b.buf)
				b.buf = append(b.buf, data...)
				b.pkts = append(b.pkts, batchPacket{off: off, n: len(data), ts: ci.Timestamp.UnixNano(), wire: ci.Length})
				q.mu.Unlock()
				break
			}
			q.mu.Unlock()
			signal(q.ready)
			select { // full: wait until the pipeline takes the batch
			case <-q.space:
			case <-stop:
				return
			}
		}
		signal(q.ready)
	}
}

// runLive reads in a goroutine of its own, so that a quiet link still lets
// the wall clock close stats periods. Packets are copied into batches; a
// lock per packet is cheap next to a capture's system calls.
func (p *Probe) runLive(ctx context.Context) error {
	q := &liveQueue{cur: newBatch(), spare: newBatch(), ready: make(chan struct{}, 1), space: make(chan struct{}, 1)}
	stop := make(chan struct{})
	defer close(stop)
	go q.read(ctx, p.in, stop)
	tick := time.NewTicker(min(p.opts.Period, time.Second))
	defer tick.Stop()
	pl := p.pl
	var n int
	for {
		select {
		case <-q.ready:
			q.mu.Lock()
			b := q.cur
			q.cur, q.spare = q.spare, nil
			done, err := q.done, q.err
			q.mu.Unlock()
			select {
			case q.space <- struct{}{}:
			default:
			}
			for _, k := range b.pkts {
				p.tapped(b.buf[k.off:k.off+k.n], k.ts, k.n, k.wire)
				pl.packet(b.buf[k.off:k.off+k.n], k.ts, k.wire)
				if n++; n%publishEvery == 0 {
					p.publish()
				}
			}
			if len(b.pkts) > 0 {
				p.publish()
			}
			b.buf, b.pkts = b.buf[:0], b.pkts[:0]
			q.mu.Lock()
			q.spare = b
			q.mu.Unlock()
			if done {
				q.mu.Lock()
				rest := len(q.cur.pkts) // appended before done was set: none
				q.mu.Unlock()
				if rest == 0 {
					return err
				}
			}
		case now := <-tick.C:
			pl.idle(now.UnixNano())
			p.publish()
		case <-ctx.Done():
			return nil
		}
	}
}

// WriteReportCSV runs a probe over a finite input (a pcap file) and writes
// every report as an MMT-Probe CSV line: flow reports as flows end, then
// the format 99 and format 100 rows of each period. It closes the input.
// opts.Sink, when set, gets the reports too. When the input fails part way
// (a damaged file), the reports of every packet before the failure are
// written all the same, and the input's error is returned. The counters
// are the probe's at the end.
func WriteReportCSV(w io.Writer, in Input, opts Options) (Counters, error) {
	cs := NewCSVSink(w)
	if opts.Sink != nil {
		opts.Sink = MultiSink(cs, opts.Sink)
	} else {
		opts.Sink = cs
	}
	p, err := New(in, opts)
	if err != nil {
		in.Close()
		return Counters{}, err
	}
	runErr := p.Run(context.Background())
	if err := cs.Flush(); err != nil {
		return p.Counters(), err
	}
	return p.Counters(), runErr
}
