// Package emulator generates realistic LAN traffic for the probe: a router
// (192.168.1.1, also the DNS and DHCP server) and N hosts (laptops, phones,
// a TV, a NAS, a printer ...) with vendor MACs, IPv4 addresses in
// 192.168.1.0/24 and IPv6 link-local and unique local addresses.
//
// The hosts resolve real service names over DNS (A and AAAA, CNAME chains,
// some over IPv6, some NXDOMAIN), then browse: HTTPS (a Chrome-shaped TLS
// ClientHello with SNI, the server's TLS 1.2 flight, application data
// records), QUIC version 1 (Initial packets really protected with the
// keys of their connection ID, so the SNI can be decrypted, then
// short-header packets), plain HTTP (request line and Host, responses with
// Content-Type and Content-Length). They also keep time with NTP, lease
// addresses with DHCP, find each other with ARP, NDP, mDNS and SSDP, ping,
// and work on the NAS (or fetch from github.com) over SSH.
//
// Packets are built with gopacket's layers, lengths and checksums computed
// by gopacket.SerializeLayers. TCP connections have real lifecycles: the
// three-way handshake, data both ways with consistent sequence and
// acknowledgement numbers (delayed ACKs every second segment), FIN/ACK
// close (3% end with RST). Frame sizes are bimodal as on real links: a
// third of the frames are ACKs and small requests of at most 100 bytes,
// a third are full-size data segments of 1400 bytes and more.
//
// TCP HTTPS flows negotiate TLS 1.2 and send every record in one segment:
// gopacket's TLS decoder rejects a plaintext handshake record that holds
// only a ServerHello (as TLS 1.3 sends it) and records split over
// segments, and every packet is meant to decode.
//
// An Emulator is a probe.Input. Output is deterministic: the same Options
// give byte-identical packets and timestamps. In steady state generating a
// packet allocates nothing.
package emulator

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

const (
	// DefaultRate is the packet rate (packets per second of packet time)
	// when Options.Rate is zero.
	DefaultRate = 1000
	// DefaultHosts is the LAN size when Options.Hosts is zero.
	DefaultHosts = 12
	// DefaultName is the source name when Options.Name is empty.
	DefaultName = "emulator"
	// maxHosts bounds Options.Hosts: the hosts share 192.168.1.0/24 with
	// the router and the broadcast address.
	maxHosts = 250
	// maxSessions bounds the conversations in progress at once.
	maxSessions = 64
)

// DefaultStart is the time of the first packet when Options.Start is zero,
// fixed so that the output is reproducible.
var DefaultStart = time.Date(2025, time.January, 6, 9, 0, 0, 0, time.UTC)

// Options configure an Emulator. The zero value is valid: 12 hosts, seed
// 0, 1000 packets per second of packet time generated as fast as
// possible, without end, starting at DefaultStart.
type Options struct {
	// Hosts is the number of LAN hosts besides the router (1-250;
	// default 12).
	Hosts int
	// Seed seeds the generator (PCG). The same Options give the same bytes.
	Seed uint64
	// Rate is the mean packet rate in packets per second: packet
	// timestamps advance by exponentially distributed gaps (Poisson
	// arrivals) of mean 1/Rate. Default DefaultRate.
	Rate float64
	// Paced makes ReadPacket wait so that packets are delivered at Rate
	// in real time. Otherwise packets come as fast as they are read, with
	// timestamps still advancing at Rate.
	Paced bool
	// Count is the number of packets before io.EOF; 0 means no end.
	Count int
	// Start is the timestamp of the first packet; zero means DefaultStart.
	// A live (paced) probe usually passes time.Now().
	Start time.Time
	// Name is the source name reported by Name (default "emulator").
	Name string
	// Scan is the share of packets (0-1) that each open a new flow (see
	// scanStep); the rest are the realistic mix. 0, the default, is the
	// realistic mix alone.
	Scan float64
}

// An Emulator generates packets. ReadPacket must not be called
// concurrently; Close may be called from any goroutine.
type Emulator struct {
	opts  Options
	rng   *rand.Rand
	start time.Time
	rate  float64
	vt    time.Duration // packet time of the next packet, from start
	n     int           // packets delivered

	closed    atomic.Bool
	done      chan struct{}
	closeOnce sync.Once
	timer     *time.Timer
	wall0     time.Time // wall clock of packet time 0 (paced)

	gw    *host
	hosts []host
	// hosts by role, for picking peers
	nas, laptops, responders []*host

	sess   [maxSessions]session
	free   []*session
	active []*session
	last   *session
	target int

	// serialization state, reused for every packet
	buf     gopacket.SerializeBuffer
	sopt    gopacket.SerializeOptions
	emitted bool
	err     error
	eth     layers.Ethernet
	ip4     layers.IPv4
	ip6     layers.IPv6
	tcp     layers.TCP
	udp     layers.UDP
	arp     layers.ARP
	icmp4   layers.ICMPv4
	icmp6   layers.ICMPv6
	ns      layers.ICMPv6NeighborSolicitation
	na      layers.ICMPv6NeighborAdvertisement
	dns     layers.DNS
	dhcp    layers.DHCPv4
	ntp     layers.NTP
	payload gopacket.Payload
	pay     [2048]byte
	tcpOpt  [5]layers.TCPOption
	optData [16]byte // MSS, window scale and timestamp option values
	ndpOpt  [1]layers.ICMPv6Option
	dnsQ    [1]layers.DNSQuestion
	dnsRR   [12]layers.DNSResourceRecord
	dhcpOpt [16]layers.DHCPOption
	ob      [256]byte // DHCP option values
	obn     int
	noise   []byte     // random bytes standing in for ciphertext and media
	ik      initialKey // QUIC Initial protection, derived per packet
	scanIP  [16]byte   // the peer of a flow-opening packet
}

// New returns an Emulator for opts.
func New(opts Options) *Emulator {
	if opts.Hosts <= 0 {
		opts.Hosts = DefaultHosts
	}
	if opts.Hosts > maxHosts {
		opts.Hosts = maxHosts
	}
	if opts.Rate <= 0 {
		opts.Rate = DefaultRate
	}
	if opts.Start.IsZero() {
		opts.Start = DefaultStart
	}
	if opts.Name == "" {
		opts.Name = DefaultName
	}
	opts.Scan = min(max(opts.Scan, 0), 1)
	buildCerts()
	e := &Emulator{
		opts:  opts,
		rng:   rand.New(rand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15^opts.Seed)),
		start: opts.Start,
		rate:  opts.Rate,
		done:  make(chan struct{}),
		buf:   gopacket.NewSerializeBufferExpectedSize(2048, 128),
		sopt:  gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
	}
	e.gw, e.hosts = newLAN(e.rng, opts.Hosts)
	for i := range e.hosts {
		h := &e.hosts[i]
		switch h.role {
		case roleNAS:
			e.nas = append(e.nas, h)
		case roleLaptop, roleDesktop:
			e.laptops = append(e.laptops, h)
		}
		if h.mdnsType != nil {
			e.responders = append(e.responders, h)
		}
	}
	e.noise = make([]byte, 1<<16)
	e.fillRandom(e.noise)
	e.free = make([]*session, 0, maxSessions)
	for i := maxSessions - 1; i >= 0; i-- {
		e.free = append(e.free, &e.sess[i])
	}
	e.active = make([]*session, 0, maxSessions)
	e.target = min(maxSessions, 6+opts.Hosts)
	if opts.Paced {
		e.timer = time.NewTimer(time.Hour)
		e.timer.Stop()
	}
	return e
}

// LinkType is Ethernet.
func (e *Emulator) LinkType() layers.LinkType { return layers.LinkTypeEthernet }

// Name is the source name of the reports (Options.Name, default "emulator").
func (e *Emulator) Name() string { return e.opts.Name }

// Live reports whether packets come in real time (Paced): the probe then
// closes its stats periods on the clock too, like a live capture's.
func (e *Emulator) Live() bool { return e.opts.Paced }

// Close stops the emulator: a ReadPacket waiting for its time returns
// io.EOF at once, and so do later calls.
func (e *Emulator) Close() error {
	e.closeOnce.Do(func() {
		e.closed.Store(true)
		close(e.done)
	})
	return nil
}

// ReadPacket returns the next packet. The data is valid until the next
// call. It returns io.EOF after Count packets and after Close.
func (e *Emulator) ReadPacket() ([]byte, gopacket.CaptureInfo, error) {
	if e.closed.Load() || (e.opts.Count > 0 && e.n >= e.opts.Count) {
		return nil, gopacket.CaptureInfo{}, io.EOF
	}
	if e.opts.Paced {
		if err := e.wait(); err != nil {
			return nil, gopacket.CaptureInfo{}, err
		}
	}
	data, err := e.generate()
	if err != nil {
		return nil, gopacket.CaptureInfo{}, err
	}
	ci := gopacket.CaptureInfo{Timestamp: e.start.Add(e.vt), CaptureLength: len(data), Length: len(data)}
	e.n++
	e.vt += time.Duration(e.rng.ExpFloat64() / e.rate * 1e9)
	return data, ci, nil
}

// paceAhead is how early a paced packet may be delivered. Waking once per
// packet would cost the idle appliance more CPU than the packets
// themselves (the scheduler's wake-ups, at 200 pps, were ~4 % of a core);
// delivering what is due in the next 100 ms together keeps timestamps exact
// and wakes the reader ten times a second.
const paceAhead = 100 * time.Millisecond

// wait sleeps until the wall-clock time of the next packet, less paceAhead.
// A reader more than a second late restarts the schedule instead of
// bursting.
func (e *Emulator) wait() error {
	now := time.Now()
	if e.n == 0 {
		e.wall0 = now
	}
	d := e.wall0.Add(e.vt).Sub(now)
	if d < -time.Second {
		e.wall0 = now.Add(-e.vt)
		return nil
	}
	if d < paceAhead {
		return nil
	}
	e.timer.Reset(d)
	select {
	case <-e.timer.C:
		return nil
	case <-e.done:
		e.timer.Stop()
		return io.EOF
	}
}

// errNoPacket means the sessions produced nothing, which is a bug.
var errNoPacket = errors.New("emulator: no session produced a packet")

// generate makes the next packet in e.buf.
func (e *Emulator) generate() ([]byte, error) {
	e.emitted = false
	if e.opts.Scan > 0 && e.rng.Float64() < e.opts.Scan {
		e.scanStep()
	}
	for tries := 0; !e.emitted; tries++ {
		if tries > 4*maxSessions {
			return nil, errNoPacket
		}
		for len(e.active) < e.target && len(e.free) > 0 {
			e.startSession()
		}
		var s *session
		// conversations come in bursts: often the last one goes on
		if e.last != nil && e.rng.IntN(8) < 3 {
			s = e.last
		} else {
			s = e.active[e.rng.IntN(len(e.active))]
		}
		e.step(s)
		e.last = s
		if s.done {
			e.finish(s)
		}
	}
	if e.err != nil {
		err := e.err
		e.err = nil
		return nil, fmt.Errorf("emulator: %w", err)
	}
	return e.buf.Bytes(), nil
}

// finish moves a finished session back to the free list.
func (e *Emulator) finish(s *session) {
	for i, a := range e.active {
		if a == s {
			last := len(e.active) - 1
			e.active[i] = e.active[last]
			e.active[last] = nil
			e.active = e.active[:last]
			break
		}
	}
	e.free = append(e.free, s)
	if e.last == s {
		e.last = nil
	}
}

// serialize writes the layers into e.buf as the packet of this step.
func (e *Emulator) serialize(ls ...gopacket.SerializableLayer) {
	if err := gopacket.SerializeLayers(e.buf, e.sopt, ls...); err != nil && e.err == nil {
		e.err = err
	}
	e.emitted = true
}

// noiseBytes returns n random-looking bytes (ciphertext, compressed media).
func (e *Emulator) noiseBytes(n int) []byte {
	off := e.rng.IntN(len(e.noise) - n)
	return e.noise[off : off+n]
}
