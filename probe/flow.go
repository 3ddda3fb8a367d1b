package probe

// Flow timeout classes. A flow sits in the timing wheel bucket of the
// moment it would time out (its last packet plus its class's timeout); a
// packet moves it only when that bucket changes, about once a second.
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

// flow is one entry of the flow table. It holds no pointers, so the pool
// is not scanned by the garbage collector.
type flow struct {
	key        flowKey
	hash       uint64
	prev, next int32 // list of the wheel bucket
	bucket     int64 // expiry >> wheelShift
	class      uint8
	inUse      bool
	clientLo   bool  // the first packet's source is the key's first endpoint
	ulClient   bool  // upload (LAN side) is the client's direction
	local      uint8 // bit 0: key side 0 is a LAN address, bit 1: side 1
	fin        uint8 // bit per direction (0 client, 1 server) that sent FIN
	proto      uint8
	ipVer      uint8

	id          uint64
	first, last int64 // ns
	ulPackets   uint64
	dlPackets   uint64
	ulBytes     uint64
	dlBytes     uint64

	hdr  int32 // path node of the headers (link to transport)
	leaf int32 // path node of the whole path

	// classification
	appProto  uint16 // 153 HTTP, 341 SSL ... 0 unknown
	app       uint16 // 134 GOOGLE ... 0 unknown
	inspected uint8
	guessed   bool // appProto from a port only
	final     bool // classification settled
	tls       tlsHello

	// hosts (index and generation in the host table per key side)
	hostIdx [2]int32
	hostGen [2]uint32

	// TCP
	synTime  int64
	synAck   int64
	rtt      int64
	retrans  uint64
	nextSeq  [2]uint32 // by direction (0 client, 1 server)
	seqValid [2]bool

	// HTTP
	reqTime      int64 // pending request's time, 0 when none
	firstReq     int64
	respSum      int64
	responses    uint64
	transactions uint64
	os           uint8
	cdn          uint8
	contentClass uint8
	nameLen      uint8
	refererLen   uint8
	mimeLen      uint8
	name         [flowNameLen]byte // HTTP host or TLS SNI
	referer      [flowRefererLen]byte
	mime         [flowMIMELen]byte

	rtp rtpStats
}

// rtpStats follows one RTP stream (the first SSRC seen) of a flow.
type rtpStats struct {
	ssrc       uint32
	candidates uint8 // consecutive packets that looked like this stream
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

// wheelShift sets the wheel's bucket width: 2^30 ns, about 1.07 s.
const wheelShift = 30

// flowTable is an open-addressing hash table (linear probing, deletion by
// backward shift) over a pool of flows (grown as flows come), with a timing wheel
// for expiry.
type flowTable struct {
	slots    []flowSlot
	mask     uint64
	pool     []flow // grows to max
	max      int
	free     []int32
	used     int32 // pool entries ever handed out (the rest are untouched)
	active   int
	timeouts [numClasses]int64
	wheel    []int32 // first flow of each bucket, -1 when empty
	cursor   int64   // buckets before it have been expired
}

func newFlowTable(max int, timeouts [numClasses]int64) *flowTable {
	n := 1
	for n < 2*max {
		n <<= 1
	}
	w := int64(1)
	for _, d := range timeouts {
		for w < d>>wheelShift+3 {
			w <<= 1
		}
	}
	t := &flowTable{
		slots:    make([]flowSlot, n),
		mask:     uint64(n - 1),
		pool:     make([]flow, 0, min(max, 1024)), // grows to max as flows come
		max:      max,
		free:     make([]int32, 0, max),
		timeouts: timeouts,
		wheel:    make([]int32, w),
	}
	for i := range t.wheel {
		t.wheel[i] = -1
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
	var idx int32
	if n := len(t.free); n > 0 {
		idx = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		idx = t.used
		t.used++
		if int(idx) == len(t.pool) {
			// The pool grows as flows come instead of being allocated whole:
			// 65,536 flows are 38 MB that the GC would count as live heap,
			// and let the heap grow to twice that. Callers take pointers
			// into the pool only after insert.
			t.pool = append(t.pool, flow{})
		}
	}
	f := &t.pool[idx]
	*f = flow{key: *k, hash: h, inUse: true, class: c, first: now, last: now}
	i := h & t.mask
	for t.slots[i].idx != 0 {
		i = (i + 1) & t.mask
	}
	t.slots[i] = flowSlot{hash: uint32(h), idx: idx + 1}
	t.active++
	f.bucket = t.expiry(f) >> wheelShift
	t.link(idx)
	return idx
}

// remove deletes flow idx from the table and the wheel.
func (t *flowTable) remove(idx int32) {
	f := &t.pool[idx]
	t.unlink(idx)
	i := f.hash & t.mask
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
				f.inUse = false
				t.free = append(t.free, idx)
				t.active--
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

// expiry is when flow f times out.
func (t *flowTable) expiry(f *flow) int64 { return f.last + t.timeouts[f.class] }

func (t *flowTable) link(idx int32) {
	f := &t.pool[idx]
	head := &t.wheel[f.bucket&int64(len(t.wheel)-1)]
	f.prev, f.next = -1, *head
	if *head >= 0 {
		t.pool[*head].prev = idx
	}
	*head = idx
}

func (t *flowTable) unlink(idx int32) {
	f := &t.pool[idx]
	if f.prev >= 0 {
		t.pool[f.prev].next = f.next
	} else {
		t.wheel[f.bucket&int64(len(t.wheel)-1)] = f.next
	}
	if f.next >= 0 {
		t.pool[f.next].prev = f.prev
	}
	f.prev, f.next = -1, -1
}

// schedule moves flow idx to the bucket of its expiry after a packet or a
// class change; most packets leave it where it is.
func (t *flowTable) schedule(idx int32) {
	f := &t.pool[idx]
	if b := t.expiry(f) >> wheelShift; b != f.bucket {
		t.unlink(idx)
		f.bucket = b
		t.link(idx)
	}
}

// setClass changes the timeout class of flow idx.
func (t *flowTable) setClass(idx int32, c uint8) {
	t.pool[idx].class = c
	t.schedule(idx)
}

// expired calls end for every flow timed out at now, with its expiry.
func (t *flowTable) expired(now int64, end func(idx int32, at int64)) {
	nb := now >> wheelShift
	from := t.cursor
	if n := int64(len(t.wheel)); nb-from >= n {
		from = nb - n + 1
	}
	for b := from; b <= nb; b++ {
		i := t.wheel[b&int64(len(t.wheel)-1)]
		for i >= 0 {
			f := &t.pool[i]
			next := f.next
			if e := t.expiry(f); e <= now {
				end(i, e)
			}
			i = next
		}
	}
	t.cursor = nb
}

// oldest is the flow that would time out first, -1 when none.
func (t *flowTable) oldest() int32 {
	n := int64(len(t.wheel))
	for b := t.cursor; b < t.cursor+n; b++ {
		best := int32(-1)
		for i := t.wheel[b&(n-1)]; i >= 0; i = t.pool[i].next {
			if best < 0 || t.expiry(&t.pool[i]) < t.expiry(&t.pool[best]) {
				best = i
			}
		}
		if best >= 0 {
			return best
		}
	}
	return -1
}
