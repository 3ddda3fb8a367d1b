package capture

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/net/bpf"

	"edgestat/probe"
)

// pollTimeout bounds how long a ring reader sleeps in poll(2) before it
// looks whether Close was called: Close waits at most this long.
const pollTimeout = 50 * time.Millisecond

// blockTimeout is how long the kernel fills a TPACKET_V3 block before it
// hands a partly filled one over: the most a packet waits at a low rate.
const blockTimeout = 50 * time.Millisecond

// maxV2Frame is the largest TPACKET_V2 frame.
const maxV2Frame = 16 << 10

// closeGrace is how long Close leaves the ring mapped when it cannot tell
// whether the reader still looks at the last packet (see ringInput.Close).
const closeGrace = time.Second

// OpenLive starts capturing on the network interface iface (needs
// CAP_NET_RAW). Name is iface; the input also implements
// probe.DropCounter, Live() bool (true) and Mode() Mode.
//
// The capture sees both directions, as tcpdump does: frames the host sends
// appear as well as those it receives. On the loopback interface every
// packet is therefore seen twice, once leaving and once arriving; the
// filter "inbound" keeps one copy.
//
// Linux takes the outer 802.1Q tag off a received frame (in the NIC or in
// software) before a packet socket sees it; the capture puts it back
// behind the MAC addresses, so the decoder sees the frame as it was sent
// (the socket mode knows only the VLAN id: it writes TPID 0x8100 and
// priority 0).
//
// With the ring, a packet waits at most 50 ms in a partly filled
// TPACKET_V3 block at low rates. On 32-bit platforms (386, ARMv6/7)
// gopacket's ring crashes, so ModeAuto takes the socket there and
// ModeRing is an error.
//
// The kernel applies the filter from the moment it is attached; the few
// packets that arrive between opening the socket and attaching it (a
// matter of microseconds) are not filtered.
func OpenLive(iface string, opts LiveOptions) (probe.Input, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	link, err := linkTypeOf(ifi)
	if err != nil {
		return nil, err
	}
	snaplen := opts.Snaplen
	if snaplen <= 0 || snaplen > maxSnaplen {
		snaplen = maxSnaplen
	}
	var prog []bpf.RawInstruction
	if opts.Filter != "" || snaplen < maxSnaplen {
		ins, err := CompileFilter(opts.Filter, link, snaplen)
		if err != nil {
			return nil, fmt.Errorf("capture: %s: %w", iface, err)
		}
		if prog, err = bpf.Assemble(ins); err != nil {
			return nil, fmt.Errorf("capture: %s: %w: %v", iface, ErrFilter, err)
		}
	}
	var ringErr error
	if opts.Mode == ModeRing || opts.Mode == ModeAuto {
		in, err := openRing(ifi, link, snaplen, prog, opts)
		if err == nil {
			return in, nil
		}
		if opts.Mode == ModeRing || errors.Is(err, ErrFilter) {
			return nil, err
		}
		ringErr = err
	}
	if opts.Mode == ModeSocket || opts.Mode == ModeAuto {
		in, err := openSocket(ifi, link, snaplen, prog, opts)
		if err != nil {
			return nil, errors.Join(ringErr, err)
		}
		in.ringErr = ringErr
		return in, nil
	}
	return nil, fmt.Errorf("capture: %s: unknown mode %v", iface, opts.Mode)
}

// Hardware types (ARPHRD_*, linux/if_arp.h) and the link layer a packet
// socket delivers for them.
func linkTypeOf(ifi *net.Interface) (layers.LinkType, error) {
	hw, err := hardwareType(ifi.Index)
	if err != nil {
		return 0, fmt.Errorf("capture: %s: %w", ifi.Name, err)
	}
	switch hw {
	case syscall.ARPHRD_ETHER, syscall.ARPHRD_LOOPBACK:
		return layers.LinkTypeEthernet, nil
	case syscall.ARPHRD_NONE, syscall.ARPHRD_PPP, syscall.ARPHRD_TUNNEL, syscall.ARPHRD_TUNNEL6,
		syscall.ARPHRD_SIT, syscall.ARPHRD_IPGRE, 519: // 519: ARPHRD_RAWIP
		return layers.LinkTypeRaw, nil
	case syscall.ARPHRD_IEEE80211:
		return layers.LinkTypeIEEE802_11, nil
	case syscall.ARPHRD_IEEE80211_RADIOTAP:
		return layers.LinkTypeIEEE80211Radio, nil
	}
	return 0, fmt.Errorf("capture: %s: hardware type %d (ARPHRD) is not captured by edgestat", ifi.Name, hw)
}

// hardwareType asks rtnetlink for the interface's ARPHRD type, which
// net.Interface does not carry.
func hardwareType(index int) (uint16, error) {
	rib, err := syscall.NetlinkRIB(syscall.RTM_GETLINK, syscall.AF_UNSPEC)
	if err != nil {
		return 0, fmt.Errorf("netlink: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		return 0, fmt.Errorf("netlink: %w", err)
	}
	for _, m := range msgs {
		if m.Header.Type != syscall.RTM_NEWLINK || len(m.Data) < syscall.SizeofIfInfomsg {
			continue
		}
		ifim := (*syscall.IfInfomsg)(unsafe.Pointer(&m.Data[0]))
		if int(ifim.Index) == index {
			return ifim.Type, nil
		}
	}
	return 0, fmt.Errorf("netlink: no interface with index %d", index)
}

// dropAll is a filter that takes no packet.
var dropAll = []bpf.RawInstruction{{Op: 0x06, K: 0}} // ret #0

// counter32 widens a kernel counter that wraps at 2^32 into a uint64.
type counter32 struct {
	last  uint32
	total uint64
}

func (c *counter32) update(now uint32) uint64 {
	c.total += uint64(now - c.last)
	c.last = now
	return c.total
}

// Reader states of a ring.
const (
	ringIdle    = iota // no ReadPacket has returned a packet yet
	ringReading        // inside ReadPacket
	ringHolding        // a packet was returned; the caller may look at it
	ringClosed         // Close was called
)

// ringInput reads from gopacket's afpacket TPACKET ring.
type ringInput struct {
	name    string
	link    layers.LinkType
	version int
	size    int
	snaplen int
	tp      *afpacket.TPacket

	state atomic.Int32

	mu       sync.Mutex // guards the fields below, and tp against release
	released bool
	drops    counter32
	timer    *time.Timer
	done     chan struct{} // closed once the ring is released
}

var (
	_ probe.Input       = (*ringInput)(nil)
	_ probe.DropCounter = (*ringInput)(nil)
)

// errRing32 refuses the ring on 32-bit platforms: gopacket v1.7.7's
// afpacket.TPacket puts its 64-bit atomic counters after an int, so on
// 386 and 32-bit ARM they are misaligned and the first read panics
// ("unaligned 64-bit atomic operation"). The socket serves there.
var errRing32 = errors.New("gopacket's afpacket ring crashes on 32-bit platforms (misaligned 64-bit atomics in afpacket.TPacket)")

func openRing(ifi *net.Interface, link layers.LinkType, snaplen int, prog []bpf.RawInstruction, opts LiveOptions) (*ringInput, error) {
	size := opts.RingSize
	if size <= 0 {
		size = defaultRingSize
	}
	versions := []int{3, 2}
	switch opts.TPacketVersion {
	case 0:
	case 2, 3:
		versions = []int{opts.TPacketVersion}
	default:
		return nil, fmt.Errorf("capture: %s: TPACKET version %d: want 2 or 3", ifi.Name, opts.TPacketVersion)
	}
	if bits.UintSize == 32 {
		return nil, fmt.Errorf("capture: %s: %w", ifi.Name, errRing32)
	}
	var errs []error
	for _, v := range versions {
		tp, err := newTPacket(ifi, v, size, snaplen)
		if err != nil {
			errs = append(errs, fmt.Errorf("capture: %s: TPACKET_V%d ring: %w", ifi.Name, v, err))
			continue
		}
		if err := setup(tp, prog, opts.Promiscuous); err != nil {
			tp.Close()
			return nil, fmt.Errorf("capture: %s: %w", ifi.Name, err)
		}
		return &ringInput{name: ifi.Name, link: link, version: v, size: size, snaplen: snaplen, tp: tp, done: make(chan struct{})}, nil
	}
	return nil, errors.Join(errs...)
}

// newTPacket maps a ring of about size bytes. V3 packs packets of any
// length into blocks; V2 has one fixed frame per packet, sized for the
// interface's MTU (and the snap length).
func newTPacket(ifi *net.Interface, version, size, snaplen int) (*afpacket.TPacket, error) {
	page := syscall.Getpagesize()
	var frame, block int
	switch version {
	case 3:
		frame, block = 2048, 256<<10
	case 2:
		// The frame holds the tpacket2 header, the sockaddr_ll and the
		// alignment before the MAC header (80 bytes), the frame up to the
		// snap length, and a VLAN tag; at most 16 KiB, so that even lo
		// (MTU 65536) gets hundreds of frames. Longer packets are cut;
		// CaptureInfo.Length still tells their length.
		need := min(snaplen, ifi.MTU+14+4) + 80
		frame = 2048
		for frame < need && frame < maxV2Frame {
			frame *= 2
		}
		block = max(frame, 128<<10)
	}
	block = (block + page - 1) / page * page
	blocks := max(size/block, 2)
	v := afpacket.TPacketVersion3
	if version == 2 {
		v = afpacket.TPacketVersion2
	}
	return afpacket.NewTPacket(
		afpacket.OptInterface(ifi.Name),
		v,
		afpacket.OptFrameSize(frame),
		afpacket.OptBlockSize(block),
		afpacket.OptNumBlocks(blocks),
		afpacket.OptBlockTimeout(blockTimeout),
		afpacket.OptPollTimeout(pollTimeout),
		afpacket.OptAddVLANHeader(true),
	)
}

// setup attaches the filter and sets promiscuous mode on either handle.
func setup(h interface {
	SetBPF([]bpf.RawInstruction) error
	SetPromiscuous(bool) error
}, prog []bpf.RawInstruction, promisc bool) error {
	if len(prog) > 0 {
		if err := h.SetBPF(prog); err != nil {
			return fmt.Errorf("%w: the kernel refused the program: %v", ErrFilter, err)
		}
	}
	if promisc {
		if err := h.SetPromiscuous(true); err != nil {
			return fmt.Errorf("promiscuous mode: %w", err)
		}
	}
	return nil
}

func (r *ringInput) LinkType() layers.LinkType { return r.link }
func (r *ringInput) Name() string              { return r.name }
func (r *ringInput) Live() bool                { return true }
func (r *ringInput) Mode() Mode                { return ModeRing }

func (r *ringInput) String() string {
	return fmt.Sprintf("%s: AF_PACKET TPACKET_V%d ring of %d KiB, snaplen %d", r.name, r.version, r.size>>10, r.snaplen)
}

// ReadPacket waits for the next packet. The data points into the ring and
// is valid until the next ReadPacket or Close. After Close it returns
// io.EOF.
func (r *ringInput) ReadPacket() ([]byte, gopacket.CaptureInfo, error) {
	for {
		s := r.state.Load()
		if s == ringClosed {
			r.release()
			return nil, gopacket.CaptureInfo{}, io.EOF
		}
		if r.state.CompareAndSwap(s, ringReading) {
			break
		}
	}
	for {
		data, ci, err := r.tp.ZeroCopyReadPacketData()
		if err == afpacket.ErrTimeout {
			if r.state.Load() == ringClosed {
				r.release()
				return nil, gopacket.CaptureInfo{}, io.EOF
			}
			continue
		}
		if !r.state.CompareAndSwap(ringReading, ringHolding) {
			r.release() // closed while we waited
			return nil, gopacket.CaptureInfo{}, io.EOF
		}
		if err != nil {
			r.state.CompareAndSwap(ringHolding, ringIdle)
			return nil, gopacket.CaptureInfo{}, fmt.Errorf("capture: %s: %w", r.name, err)
		}
		if len(data) > r.snaplen {
			data = data[:r.snaplen]
			ci.CaptureLength = r.snaplen
		}
		return data, ci, nil
	}
}

// Close stops the capture. A ReadPacket blocked in another goroutine
// returns io.EOF within 50 ms, and Close waits for it. The ring is
// unmapped only when no packet of it can be in use: at once when Close
// comes from the reading goroutine, or at the reader's next ReadPacket;
// should the reader never call again, one second after Close (meanwhile a
// filter that takes nothing keeps the kernel from filling it).
func (r *ringInput) Close() error {
	switch r.state.Swap(ringClosed) {
	case ringIdle:
		r.release()
	case ringReading:
		<-r.done
	case ringHolding:
		r.mu.Lock()
		if !r.released {
			r.tp.SetBPF(dropAll)
			r.timer = time.AfterFunc(closeGrace, r.release)
		}
		r.mu.Unlock()
	}
	return nil
}

// release unmaps the ring and closes the socket, once; the drop count
// from then on is the last one read.
func (r *ringInput) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.released {
		return
	}
	r.readDropsLocked()
	r.tp.Close()
	r.released = true
	if r.timer != nil {
		r.timer.Stop()
	}
	close(r.done)
}

// Drops is the number of packets the kernel dropped because the ring was
// full (PACKET_STATISTICS), since the capture opened. After Close it is the
// count at Close.
func (r *ringInput) Drops() (uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.released {
		return r.drops.total, nil
	}
	return r.readDropsLocked()
}

func (r *ringInput) readDropsLocked() (uint64, error) {
	s2, s3, err := r.tp.SocketStats()
	if err != nil {
		return r.drops.total, fmt.Errorf("capture: %s: PACKET_STATISTICS: %w", r.name, err)
	}
	d := s2.Drops()
	if r.version == 3 {
		d = s3.Drops()
	}
	return r.drops.update(uint32(d)), nil
}

// socketInput reads with gopacket's pcapgo.EthernetHandle.
type socketInput struct {
	name    string
	link    layers.LinkType
	snaplen int
	h       *pcapgo.EthernetHandle
	ringErr error // why ModeAuto did not get a ring

	closed atomic.Bool
	mu     sync.Mutex // guards drops and h against a concurrent Close
	drops  uint64
	final  bool
}

var (
	_ probe.Input       = (*socketInput)(nil)
	_ probe.DropCounter = (*socketInput)(nil)
)

func openSocket(ifi *net.Interface, link layers.LinkType, snaplen int, prog []bpf.RawInstruction, opts LiveOptions) (*socketInput, error) {
	h, err := pcapgo.NewEthernetHandle(ifi.Name)
	if err != nil {
		return nil, fmt.Errorf("capture: %s: packet socket: %w", ifi.Name, err)
	}
	// Room for a VLAN tag put back in front of a full snap length.
	if err := h.SetCaptureLength(snaplen + 4); err != nil {
		h.Close()
		return nil, fmt.Errorf("capture: %s: %w", ifi.Name, err)
	}
	if err := setup(h, prog, opts.Promiscuous); err != nil {
		h.Close()
		return nil, fmt.Errorf("capture: %s: %w", ifi.Name, err)
	}
	s := &socketInput{name: ifi.Name, link: link, snaplen: snaplen, h: h}
	if _, err := s.Drops(); err != nil { // the kernel's counters start now
		h.Close()
		return nil, err
	}
	s.drops = 0
	return s, nil
}

func (s *socketInput) LinkType() layers.LinkType { return s.link }
func (s *socketInput) Name() string              { return s.name }
func (s *socketInput) Live() bool                { return true }
func (s *socketInput) Mode() Mode                { return ModeSocket }

// String describes the capture, and why it is not a ring when ModeAuto
// fell back to the socket.
func (s *socketInput) String() string {
	d := fmt.Sprintf("%s: AF_PACKET socket, one recvmsg per packet, snaplen %d", s.name, s.snaplen)
	if s.ringErr != nil {
		d += fmt.Sprintf(" (no ring: %v)", s.ringErr)
	}
	return d
}

// ReadPacket waits for the next packet. The data is valid until the next
// ReadPacket. After Close it returns io.EOF.
func (s *socketInput) ReadPacket() ([]byte, gopacket.CaptureInfo, error) {
	if s.closed.Load() {
		return nil, gopacket.CaptureInfo{}, io.EOF
	}
	data, ci, err := s.h.ZeroCopyReadPacketData()
	if err != nil {
		if s.closed.Load() {
			return nil, gopacket.CaptureInfo{}, io.EOF
		}
		return nil, gopacket.CaptureInfo{}, fmt.Errorf("capture: %s: %w", s.name, err)
	}
	if len(ci.AncillaryData) > 0 {
		// The kernel took the tag off; EthernetHandle reports its id.
		if vid, ok := ci.AncillaryData[0].(int); ok && s.link == layers.LinkTypeEthernet && len(data) >= 12 && len(data)+4 <= cap(data) {
			data = data[:len(data)+4]
			copy(data[16:], data[12:])
			data[12], data[13], data[14], data[15] = 0x81, 0x00, byte(vid>>8)&0x0f, byte(vid)
			ci.Length += 4
			ci.CaptureLength = len(data)
		}
	}
	if len(data) > s.snaplen {
		data = data[:s.snaplen]
		ci.CaptureLength = s.snaplen
	}
	return data, ci, nil
}

// Close stops the capture; a ReadPacket blocked in another goroutine
// returns io.EOF.
func (s *socketInput) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.Drops()
	s.mu.Lock()
	s.final = true
	s.mu.Unlock()
	return s.h.Close()
}

// Drops is the number of packets the kernel dropped because the socket's
// receive buffer was full (PACKET_STATISTICS), since the capture opened.
// After Close it is the count at Close.
func (s *socketInput) Drops() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.final {
		return s.drops, nil
	}
	st, err := s.h.Stats() // counts since the last call
	if err != nil {
		return s.drops, fmt.Errorf("capture: %s: PACKET_STATISTICS: %w", s.name, err)
	}
	s.drops += uint64(st.Drops)
	return s.drops, nil
}
