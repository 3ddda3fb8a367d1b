package probe

import (
	"net/netip"
	"strconv"
)

// pathNode is one node of the protocol path tree with its format 99
// counters. Nodes are never removed: total_flows is cumulative.
type pathNode struct {
	parent  int32
	id      uint16
	depth   uint8
	touched bool
	total   uint64
	active  int64
	bytes   uint64
	payload uint64
	packets uint64
	path    string // dotted ids, built once
}

// pathTable is the bounded tree of protocol paths.
type pathTable struct {
	nodes    []pathNode
	children map[uint64]int32 // parent+1 << 16 | id -> node
	touched  []int32
	max      int
	overflow uint64 // paths cut short because the table was full
}

func newPathTable(max int) *pathTable {
	return &pathTable{
		nodes:    make([]pathNode, 0, max),
		children: make(map[uint64]int32, max),
		touched:  make([]int32, 0, max),
		max:      max,
	}
}

// child returns the node for id under parent (-1: a root), creating it.
// When the table is full it returns parent, so the path is cut short.
func (t *pathTable) child(parent int32, id uint16) int32 {
	k := uint64(parent+1)<<16 | uint64(id)
	if n, ok := t.children[k]; ok {
		return n
	}
	if len(t.nodes) >= t.max {
		t.overflow++
		return parent
	}
	n := pathNode{parent: parent, id: id}
	if parent >= 0 {
		pn := &t.nodes[parent]
		n.depth = pn.depth + 1
		n.path = pn.path + "." + strconv.Itoa(int(id))
	} else {
		n.path = strconv.Itoa(int(id))
	}
	idx := int32(len(t.nodes))
	t.nodes = append(t.nodes, n)
	t.children[k] = idx
	return idx
}

func (t *pathTable) touch(n *pathNode, idx int32) {
	if !n.touched {
		n.touched = true
		t.touched = append(t.touched, idx)
	}
}

// onChain reports whether node n is leaf or one of its ancestors.
func (t *pathTable) onChain(leaf, n int32) bool {
	d := t.nodes[n].depth
	for leaf >= 0 && t.nodes[leaf].depth >= d {
		if leaf == n {
			return true
		}
		leaf = t.nodes[leaf].parent
	}
	return false
}

// hostKey is an IP address as in flowKey plus its version.
type hostKey struct {
	a   [2]uint64
	ver uint8
}

func (k hostKey) addr() netip.Addr { return makeAddr(k.ver, k.a) }

func makeAddr(ver uint8, a [2]uint64) netip.Addr {
	if ver == 4 {
		v := uint32(a[0])
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	var b [16]byte
	for i := range 8 {
		b[i] = byte(a[0] >> (56 - 8*i))
		b[8+i] = byte(a[1] >> (56 - 8*i))
	}
	return netip.AddrFrom16(b)
}

// host is one LAN host's counters.
type host struct {
	key        hostKey
	mac        [6]byte
	gen        uint32
	inUse      bool
	touched    bool
	last       int64
	outBytes   uint64
	inBytes    uint64
	outPackets uint64
	inPackets  uint64
}

// hostTable holds the LAN hosts, bounded; the least recently seen host is
// evicted for a new one.
type hostTable struct {
	hosts   []host
	index   map[hostKey]int32
	touched []int32
	evicted uint64
}

func newHostTable(max int) *hostTable {
	return &hostTable{
		hosts:   make([]host, 0, max),
		index:   make(map[hostKey]int32, max),
		touched: make([]int32, 0, max),
	}
}

// get returns the index of host k; with create, it adds it (evicting the
// least recently seen host when full), else it returns -1 when absent.
func (t *hostTable) get(k hostKey, create bool, now int64) int32 {
	if i, ok := t.index[k]; ok {
		return i
	}
	if !create {
		return -1
	}
	var i int32
	if len(t.hosts) < cap(t.hosts) {
		i = int32(len(t.hosts))
		t.hosts = append(t.hosts, host{})
	} else {
		i = 0
		for j := range t.hosts {
			if t.hosts[j].last < t.hosts[i].last {
				i = int32(j)
			}
		}
		delete(t.index, t.hosts[i].key)
		t.evicted++
		if t.hosts[i].touched {
			// Its counters of this period are lost with it; keep the
			// touched list consistent.
			t.hosts[i].touched = false
			for j, v := range t.touched {
				if v == i {
					t.touched = append(t.touched[:j], t.touched[j+1:]...)
					break
				}
			}
		}
	}
	h := &t.hosts[i]
	*h = host{key: k, gen: h.gen + 1, inUse: true, last: now}
	t.index[k] = i
	return i
}

func (t *hostTable) touch(h *host, idx int32) {
	if !h.touched {
		h.touched = true
		t.touched = append(t.touched, idx)
	}
}

// interner turns the bytes of repeated texts (host names, MIME types)
// into strings without allocating for values seen before; bounded.
type interner struct {
	m   map[string]string
	max int
}

func newInterner(max int) *interner {
	return &interner{m: make(map[string]string, min(max, 256)), max: max}
}

func (in *interner) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := in.m[string(b)]; ok {
		return s
	}
	if len(in.m) >= in.max {
		clear(in.m)
	}
	s := string(b)
	in.m[s] = s
	return s
}

// dnsCache remembers which application a server address belongs to, from
// DNS answers for known names; it names the application of flows without
// an HTTP Host or TLS SNI (QUIC, TLS without SNI). Direct-mapped, fixed.
type dnsCache struct {
	entries [4096]struct {
		key hostKey
		app uint16
	}
}

func (c *dnsCache) slot(k hostKey) int {
	h := (k.a[0] ^ k.a[1]*0x9e3779b97f4a7c15 ^ uint64(k.ver)) * 0xbf58476d1ce4e5b9
	return int(h >> 52)
}

func (c *dnsCache) put(k hostKey, app uint16) {
	e := &c.entries[c.slot(k)]
	e.key, e.app = k, app
}

func (c *dnsCache) get(k hostKey) uint16 {
	if e := &c.entries[c.slot(k)]; e.key == k {
		return e.app
	}
	return 0
}
