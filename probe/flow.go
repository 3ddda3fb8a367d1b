package probe

// Flow timeout classes: each has its idle timeout and its LRU list.
const (
	classTCP = iota
	classUDP
	classICMP
	classDNS
	classOther
	classClosing // TCP after FIN both ways or RST: a short linger for the last ACKs
	numClasses
)

// flowKey is a bidirectional 5-tuple: the lower (address, port) first.
// Words 0-1 and 2-3 are the addresses (IPv4 in the low 32 bits of word 0),
// word 4 packs the ports, the IP protocol and the IP version.
type flowKey [5]uint64

func (k *flowKey) hash() uint64 {
	h := (k[0]^k[1]<<1)*0x9e3779b97f4a7c15 ^ (k[2]^k[3]<<1)*0xc2b2ae3d27d4eb4f ^ k[4]*0x165667b19e3779f9
	h ^= h >> 31
	h *= 0xbf58476d1ce4e5b9
	return h ^ h>>29
}

func (k *flowKey) equal(o *flowKey) bool {
	return k[0] == o[0] && k[1] == o[1] && k[2] == o[2] && k[3] == o[3] && k[4] == o[4]
}

// makeKey builds the key of a packet; lo reports whether the packet's
// source is the key's first endpoint. It is branch-free: the direction of
// consecutive packets is unpredictable.
func makeKey(p *packet) (k flowKey, lo bool) {
	a0, a1, b0, b1 := p.src[0], p.src[1], p.dst[0], p.dst[1]
	pa, pb := uint64(p.sport), uint64(p.dport)
	l := b2u(a0 < b0) | b2u(a0 == b0)&(b2u(a1 < b1)|b2u(a1 == b1)&b2u(pa <= pb))
	m := l - 1 // 0: keep the order, all ones: swap
	x0, x1, xp := (a0^b0)&m, (a1^b1)&m, (pa^pb)&m
	k = flowKey{a0 ^ x0, a1 ^ x1, b0 ^ x0, b1 ^ x1,
		(pa^xp)<<48 | (pb^xp)<<32 | uint64(p.proto)<<8 | uint64(p.ipVer)}
	return k, l == 1
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// Lengths of the texts a flow keeps (longer ones are cut).
const (
	flowNameLen    = 96
	flowRefererLen = 96
	flowMIMELen    = 40
)

// flow is one entry of the flow table: what every flow needs, 200 bytes.
// What only HTTP, TLS and RTP flows need is in a flowDetail of its own.
// It holds no pointers: the pool lives outside the Go heap (reserve).
type flow struct {
	key        flowKey
	hash       uint32
	prev, next int32 // the LRU list of its class; next also links the free list
	detail     int32 // index in the detail pool, -1 when none
	hdr        int32 // path node of the headers (link to transport)
	leaf       int32 // path node of the whole path

	// hosts (index and generation in the host table per key side)
	hostIdx [2]int32
	hostGen [2]uint32

	appProto  uint16 // 153 HTTP, 341 SSL ... 0 unknown
	app       uint16 // 134 GOOGLE ... 0 unknown
	class     uint8
	inUse     bool
	clientLo  bool  // the first packet's source is the key's first endpoint
	ulClient  bool  // upload (LAN side) is the client's direction
	local     uint8 // bit 0: key side 0 is a LAN address, bit 1: side 1
	fin       uint8 // bit per direction (0 client, 1 server) that sent FIN
	proto     uint8
	ipVer     uint8
	inspected uint8
	guessed   bool // appProto from a port only
	final     bool // classification settled
	cdn       uint8
	synAck    bool
	seqValid  [2]bool
	noDetail  bool // the detail pool was exhausted when this flow wanted one

	id          uint64
	first, last int64 // ns
	ulPackets   uint64
	dlPackets   uint64
	ulBytes     uint64
	dlBytes     uint64

	// TCP
	synTime int64
	rtt     int64
	retrans uint64
	nextSeq [2]uint32 // by direction (0 client, 1 server)

	rtpCand rtpCandidate
}

// rtpCandidate is the first RTP-shaped packet of a UDP flow; a second one
// of the same stream makes the flow RTP (and gives it a flowDetail).
type rtpCandidate struct {
	arrival int64
	ssrc    uint32
	ts      uint32
	seq     uint16
	pt      uint8
	dir     uint8 // 0 client, 1 server; 0xff: no candidate
}

// flowDetail is what HTTP, TLS and RTP flows keep besides their flow entry.
// Details come from a pool a quarter of the flow table's size: when it is
// exhausted, a flow is still classified and counted, without its texts and
// timings (Counters.DetailsMissed).
type flowDetail struct {
	// HTTP
	reqTime      int64 // pending request's time, 0 when none
	firstReq     int64
	respSum      int64
	responses    uint64
	transactions uint64
	os           uint8
	contentClass uint8
	nameLen      uint8
	refererLen   uint8
	mimeLen      uint8
	name         [flowNameLen]byte // HTTP host or TLS SNI
	referer      [flowRefererLen]byte
	mime         [flowMIMELen]byte
	tls          tlsHello
	nextFree     int32
	rtp          rtpStats
}

// rtpStats follows one RTP stream (the first SSRC seen) of a flow.
type rtpStats struct {
	ssrc       uint32
	pt         uint8
	dir        uint8
	baseSeq    uint16
	maxSeq     uint16
	cycles     uint32
	received   uint64
	outOfOrder uint64
	lossEvents uint64
	lostInGaps uint64
	firstTS    uint32
	firstArr   int64
	lastTS     uint32
	lastArr    int64
	clock      float64
	jitter     float64 // in timestamp units
	maxJitter  float64 // ms
}

type flowSlot struct {
	hash uint32
	idx  int32 // pool index + 1; 0 is an empty slot
}

// lruList is a list of flows through flow.prev and flow.next, least
// recently seen at the head.
type lruList struct{ head, tail int32 }

// flowTable is an open-addressing hash table (linear probing, deletion by
// backward shift) over a pool of flows, with one LRU list per timeout
// class. Every operation is O(1) whatever the load:
//
//   - A flow's class fixes its idle timeout, so within a class the least
//     recently seen flow is also the next to time out. A packet moves its
//     flow to the tail of its class's list.
//   - Expiry pops the heads that are due, earliest expiry first across the
//     classes: constant work per expired flow, none when nothing is due.
//   - When the table is full, a new flow evicts the least recently seen
//     flow: the oldest of the six heads. A flood of new flows thus pushes
//     out the flows idle the longest (often the flood's own, seen once),
//     never walks the table, and keeps the flows that are busy.
//
// The pool and the slots are reserved whole for the bound, outside the Go
// heap: memory is the bound's, touched as flows come, and no insert copies.
type flowTable struct {
	slots    []flowSlot
	mask     uint64
	pool     []flow
	max      int
	free     int32 // free list through flow.next, -1 when empty
	used     int32 // pool entries ever handed out (the rest are untouched)
	active   int
	timeouts [numClasses]int64
	lru      [numClasses]lruList

	details    []flowDetail
	detailFree int32 // free list through flowDetail.nextFree, -1 when empty
	detailUsed int32
	detailsOut int // details held by flows
}

func newFlowTable(bound int, timeouts [numClasses]int64) *flowTable {
	n := 1
	for n < 2*bound {
		n <<= 1
	}
	t := &flowTable{
		mask:       uint64(n - 1),
		max:        bound,
		free:       -1,
		detailFree: -1,
		timeouts:   timeouts,
	}
	t.slots = reserve[flowSlot](t, n)
	t.pool = reserve[flow](t, bound)
	t.details = reserve[flowDetail](t, max(bound/4, 1))
	for c := range t.lru {
		t.lru[c] = lruList{-1, -1}
	}
	return t
}

func (t *flowTable) full() bool { return t.active == t.max }

// lookup returns the pool index of the flow with key k, or -1.
func (t *flowTable) lookup(k *flowKey, h uint64) int32 {
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := t.slots[i]
		if s.idx == 0 {
			return -1
		}
		if s.hash == uint32(h) && t.pool[s.idx-1].key.equal(k) {
			return s.idx - 1
		}
	}
}

// insert takes a free pool entry for k, first seen at now, in class c, and
// returns its index. The table must not be full.
func (t *flowTable) insert(k *flowKey, h uint64, c uint8, now int64) int32 {
	idx := t.free
	if idx >= 0 {
		t.free = t.pool[idx].next
	} else {
		idx = t.used
		t.used++
	}
	f := &t.pool[idx]
	// Field by field: a literal would be built on the stack and copied.
	*f = flow{}
	f.key, f.hash, f.inUse, f.class, f.first, f.last, f.detail = *k, uint32(h), true, c, now, now, -1
	f.rtpCand.dir = 0xff
	i := h & t.mask
	for t.slots[i].idx != 0 {
		i = (i + 1) & t.mask
	}
	t.slots[i] = flowSlot{hash: uint32(h), idx: idx + 1}
	t.active++
	t.pushTail(idx)
	return idx
}

// remove deletes flow idx from the table and its list, and frees its detail.
func (t *flowTable) remove(idx int32) {
	f := &t.pool[idx]
	t.unlink(idx)
	if f.detail >= 0 {
		t.details[f.detail].nextFree = t.detailFree
		t.detailFree = f.detail
		t.detailsOut--
	}
	f.inUse = false
	f.next = t.free
	t.free = idx
	t.active--
	i := uint64(f.hash) & t.mask
	for t.slots[i].idx != idx+1 {
		i = (i + 1) & t.mask
	}
	// Backward shift: move later entries of the probe sequence into the hole.
	for {
		t.slots[i] = flowSlot{}
		j := i
		for {
			j = (j + 1) & t.mask
			s := t.slots[j]
			if s.idx == 0 {
				return
			}
			ideal := uint64(s.hash) & t.mask
			// s stays if its ideal slot is cyclically within (i, j].
			if i <= j && (ideal <= i || ideal > j) || i > j && ideal <= i && ideal > j {
				t.slots[i] = s
				i = j
				break
			}
		}
	}
}

// detail returns flow f's detail, taking one from the pool on first use;
// nil when the pool is exhausted.
func (t *flowTable) detail(f *flow) *flowDetail {
	if f.detail >= 0 {
		return &t.details[f.detail]
	}
	d := t.detailFree
	if d >= 0 {
		t.detailFree = t.details[d].nextFree
	} else if int(t.detailUsed) < len(t.details) {
		d = t.detailUsed
		t.detailUsed++
	} else {
		return nil
	}
	t.details[d] = flowDetail{}
	f.detail = d
	t.detailsOut++
	return &t.details[d]
}

// detailOf is flow f's detail, nil when it has none.
func (t *flowTable) detailOf(f *flow) *flowDetail {
	if f.detail < 0 {
		return nil
	}
	return &t.details[f.detail]
}

func (t *flowTable) pushTail(idx int32) {
	f := &t.pool[idx]
	l := &t.lru[f.class]
	f.prev, f.next = l.tail, -1
	if l.tail >= 0 {
		t.pool[l.tail].next = idx
	} else {
		l.head = idx
	}
	l.tail = idx
}

func (t *flowTable) unlink(idx int32) {
	f := &t.pool[idx]
	l := &t.lru[f.class]
	if f.prev >= 0 {
		t.pool[f.prev].next = f.next
	} else {
		l.head = f.next
	}
	if f.next >= 0 {
		t.pool[f.next].prev = f.prev
	} else {
		l.tail = f.prev
	}
	f.prev, f.next = -1, -1
}

// seen records a packet of flow idx at now (packet time never steps back,
// so each list stays in order of last packet).
func (t *flowTable) seen(idx int32, now int64) {
	f := &t.pool[idx]
	f.last = now
	if t.lru[f.class].tail != idx {
		t.unlink(idx)
		t.pushTail(idx)
	}
}

// setClass changes the timeout class of flow idx on a packet at now: the
// flow joins the tail of its new list, which stays in order of last packet.
func (t *flowTable) setClass(idx int32, c uint8, now int64) {
	t.unlink(idx)
	f := &t.pool[idx]
	f.class, f.last = c, now
	t.pushTail(idx)
}

// expired calls end for every flow timed out at now, earliest expiry first,
// with its expiry; end must remove the flow.
func (t *flowTable) expired(now int64, end func(idx int32, at int64)) {
	for {
		best, at := int32(-1), now+1
		for c := range t.lru {
			if h := t.lru[c].head; h >= 0 {
				if e := t.pool[h].last + t.timeouts[c]; e < at {
					best, at = h, e
				}
			}
		}
		if best < 0 {
			return
		}
		end(best, at)
	}
}

// oldest is the least recently seen flow, -1 when none.
func (t *flowTable) oldest() int32 {
	best := int32(-1)
	for c := range t.lru {
		if h := t.lru[c].head; h >= 0 && (best < 0 || t.pool[h].last < t.pool[best].last) {
			best = h
		}
	}
	return best
}
