package capture

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// This file compiles the subset of the pcap-filter language described in
// the package documentation. The expression is parsed into a tree of
// and/or/not over comparisons (load a field, optionally mask it, compare
// with a constant); the tree is then emitted as straight-line classic BPF
// with forward jumps to a true and a false label, as libpcap does before
// its optimiser runs. Where a primitive exists in libpcap, its meaning is
// libpcap's (the tests run both programs over the same packets).

// A cond is a node of the filter's tree.
type cond interface{ isCond() }

type andCond struct{ a, b cond }
type orCond struct{ a, b cond }
type notCond struct{ a cond }

// constCond is always true or always false (e.g. "arp" on a raw IP link).
type constCond bool

// load kinds of a comparison.
const (
	loadAbs    = iota // absolute offset in the packet
	loadIPv4L4        // offset from the end of the IPv4 header (ldxb 4*([n]&0xf))
	loadExt           // a Linux ancillary field (SKF_AD_*)
)

// cmpCond loads a field, masks it when mask is not 0, and compares it.
type cmpCond struct {
	kind int
	size int    // 1, 2 or 4 bytes (loadAbs, loadIPv4L4)
	off  uint32 // offset (loadAbs); for loadIPv4L4, added to the IPv4 header length
	hdr  uint32 // loadIPv4L4: offset of the IPv4 header
	ext  bpf.Extension
	mask uint32
	test bpf.JumpTest // JumpEqual, JumpGreaterThan, JumpGreaterOrEqual or JumpBitsSet
	val  uint32
}

func (andCond) isCond()   {}
func (orCond) isCond()    {}
func (notCond) isCond()   {}
func (constCond) isCond() {}
func (cmpCond) isCond()   {}

func and(cs ...cond) cond {
	var out cond = constCond(true)
	for _, c := range cs {
		switch {
		case c == constCond(false) || out == constCond(false):
			out = constCond(false)
		case c == constCond(true):
		case out == constCond(true):
			out = c
		default:
			out = andCond{out, c}
		}
	}
	return out
}

func or(cs ...cond) cond {
	var out cond = constCond(false)
	for _, c := range cs {
		switch {
		case c == constCond(true) || out == constCond(true):
			out = constCond(true)
		case c == constCond(false):
		case out == constCond(false):
			out = c
		default:
			out = orCond{out, c}
		}
	}
	return out
}

func not(c cond) cond {
	switch c := c.(type) {
	case constCond:
		return !c
	case notCond:
		return c.a
	}
	return notCond{c}
}

func eq(size int, off uint32, val uint32) cond {
	return cmpCond{kind: loadAbs, size: size, off: off, test: bpf.JumpEqual, val: val}
}

func maskEq(size int, off, mask, val uint32) cond {
	return cmpCond{kind: loadAbs, size: size, off: off, mask: mask, test: bpf.JumpEqual, val: val}
}

// link describes where the network layer starts.
type link struct {
	ethernet bool   // 14-byte Ethernet header; else the packet is an IP packet
	net      uint32 // offset of the network header
}

func (l link) etherType(t uint32) cond {
	if !l.ethernet {
		return constCond(false)
	}
	return eq(2, 12, t)
}

func (l link) ipv4() cond {
	if l.ethernet {
		return eq(2, 12, 0x0800)
	}
	return maskEq(1, 0, 0xf0, 0x40)
}

func (l link) ipv6() cond {
	if l.ethernet {
		return eq(2, 12, 0x86dd)
	}
	return maskEq(1, 0, 0xf0, 0x60)
}

// ipProto: IPv4 with this protocol.
func (l link) ipProto(p uint32) cond {
	return and(l.ipv4(), eq(1, l.net+9, p))
}

// ip6Proto: IPv6 whose next header is p, directly or after a fragment
// header, as libpcap tests it.
func (l link) ip6Proto(p uint32) cond {
	nh := eq(1, l.net+6, p)
	if p == 44 {
		return and(l.ipv6(), nh)
	}
	return and(l.ipv6(), or(nh, and(eq(1, l.net+6, 44), eq(1, l.net+40, p))))
}

// port tests the source or destination port (dir) of TCP, UDP or SCTP
// (protos) with test and val, over IPv4 (first fragments only) and IPv6
// (ports right after the fixed header), as libpcap does.
func (l link) port(protos []uint32, dir string, test func(c cmpCond) cond) cond {
	var v4p, v6p []cond
	for _, p := range protos {
		v4p = append(v4p, eq(1, l.net+9, p))
		v6p = append(v6p, eq(1, l.net+6, p))
	}
	ports := func(kind int, base uint32) cond {
		src := test(cmpCond{kind: kind, size: 2, off: base, hdr: l.net})
		dst := test(cmpCond{kind: kind, size: 2, off: base + 2, hdr: l.net})
		switch dir {
		case "src":
			return src
		case "dst":
			return dst
		}
		return or(src, dst)
	}
	notFragment := not(cmpCond{kind: loadAbs, size: 2, off: l.net + 6, test: bpf.JumpBitsSet, val: 0x1fff})
	v4 := and(l.ipv4(), or(v4p...), notFragment, ports(loadIPv4L4, l.net))
	v6 := and(l.ipv6(), or(v6p...), ports(loadAbs, l.net+40))
	return or(v6, v4)
}

// parser is a recursive-descent parser over the expression's tokens.
type parser struct {
	toks []string
	pos  int
	link link
}

func compileExpr(text string, lt layers.LinkType, snaplen int) ([]bpf.Instruction, error) {
	var l link
	switch lt {
	case layers.LinkTypeEthernet:
		l = link{ethernet: true, net: 14}
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		l = link{net: 0}
	default:
		return nil, fmt.Errorf("%w: expressions are compiled for Ethernet and raw IP links, not %v; give the output of tcpdump -dd instead", ErrFilter, lt)
	}
	toks, err := tokenize(text)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, link: l}
	c, err := p.expr()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, p.errorf("unexpected %q", p.toks[p.pos])
	}
	return emit(c, uint32(snaplen))
}

func tokenize(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')' || c == '!':
			toks = append(toks, s[i:i+1])
			i++
		case c == '&' || c == '|':
			if i+1 >= len(s) || s[i+1] != c {
				return nil, fmt.Errorf("%w: %q: lone %q (use %c%c)", ErrFilter, s, c, c, c)
			}
			toks = append(toks, s[i:i+2])
			i += 2
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r()!&|", rune(s[j])) {
				j++
			}
			toks = append(toks, strings.ToLower(s[i:j]))
			i = j
		}
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("%w: empty expression", ErrFilter)
	}
	return toks, nil
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %q: %s", ErrFilter, strings.Join(p.toks, " "), fmt.Sprintf(format, args...))
}

func (p *parser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *parser) next() string {
	t := p.peek()
	if t != "" {
		p.pos++
	}
	return t
}

func (p *parser) expr() (cond, error) {
	c, err := p.andExpr()
	if err != nil {
		return nil, err
	}
	for p.peek() == "or" || p.peek() == "||" {
		p.next()
		d, err := p.andExpr()
		if err != nil {
			return nil, err
		}
		c = or(c, d)
	}
	return c, nil
}

func (p *parser) andExpr() (cond, error) {
	c, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.peek() == "and" || p.peek() == "&&" {
		p.next()
		d, err := p.unary()
		if err != nil {
			return nil, err
		}
		c = and(c, d)
	}
	return c, nil
}

func (p *parser) unary() (cond, error) {
	switch p.peek() {
	case "not", "!":
		p.next()
		c, err := p.unary()
		if err != nil {
			return nil, err
		}
		return not(c), nil
	case "(":
		p.next()
		c, err := p.expr()
		if err != nil {
			return nil, err
		}
		if p.next() != ")" {
			return nil, p.errorf("missing )")
		}
		return c, nil
	case "":
		return nil, p.errorf("expression ends too early")
	}
	return p.primitive()
}

// ipProtocols are the protocol names and their IP protocol numbers.
var ipProtocols = map[string]uint32{
	"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "gre": 47, "icmp6": 58, "sctp": 132,
}

func (p *parser) primitive() (cond, error) {
	l := p.link
	tok := p.next()
	switch tok {
	case "inbound", "outbound":
		out := cmpCond{kind: loadExt, ext: bpf.ExtType, test: bpf.JumpEqual, val: 4} // PACKET_OUTGOING
		if tok == "inbound" {
			return not(out), nil
		}
		return out, nil
	case "vlan":
		return p.vlan()
	case "less", "greater":
		n, err := p.number(0xffffffff)
		if err != nil {
			return nil, err
		}
		gt := cmpCond{kind: loadExt, ext: bpf.ExtLen, test: bpf.JumpGreaterThan, val: n}
		if tok == "less" {
			return not(gt), nil
		}
		gt.test = bpf.JumpGreaterOrEqual
		return gt, nil
	case "ether":
		return p.ether()
	case "ip", "ip6", "arp", "rarp":
		switch p.peek() {
		case "proto":
			p.next()
			return p.proto(tok)
		case "src", "dst", "host", "net":
			return p.hostNet(tok)
		}
		switch tok {
		case "ip":
			return l.ipv4(), nil
		case "ip6":
			return l.ipv6(), nil
		case "arp":
			return l.etherType(0x0806), nil
		}
		return l.etherType(0x8035), nil
	case "proto":
		return p.proto("")
	case "tcp", "udp", "sctp":
		switch p.peek() {
		case "src", "dst", "port", "portrange":
			return p.port([]uint32{ipProtocols[tok]})
		}
		n := ipProtocols[tok]
		return or(l.ip6Proto(n), l.ipProto(n)), nil
	case "icmp", "igmp":
		return l.ipProto(ipProtocols[tok]), nil
	case "icmp6":
		return l.ip6Proto(58), nil
	case "src", "dst", "host", "net", "port", "portrange":
		p.pos--
		if dir := p.peek(); dir == "src" || dir == "dst" {
			if k := p.peekAt(1); k == "port" || k == "portrange" {
				return p.port([]uint32{6, 17, 132})
			}
		}
		if tok == "port" || tok == "portrange" {
			return p.port([]uint32{6, 17, 132})
		}
		return p.hostNet("")
	case "":
		return nil, p.errorf("expression ends too early")
	}
	return nil, p.errorf("%q is not a primitive edgestat compiles (give the output of tcpdump -dd for the full language)", tok)
}

func (p *parser) peekAt(i int) string {
	if p.pos+i < len(p.toks) {
		return p.toks[p.pos+i]
	}
	return ""
}

func (p *parser) number(max uint64) (uint32, error) {
	tok := p.next()
	n, err := strconv.ParseUint(tok, 0, 32)
	if err != nil || n > max {
		return 0, p.errorf("want a number up to %d, have %q", max, tok)
	}
	return uint32(n), nil
}

func (p *parser) dir() string {
	if d := p.peek(); d == "src" || d == "dst" {
		p.next()
		return d
	}
	return ""
}

// proto handles "ip proto N", "ip6 proto N" and "proto N".
func (p *parser) proto(family string) (cond, error) {
	tok := p.peek()
	n, ok := ipProtocols[tok]
	if ok {
		p.next()
	} else {
		var err error
		if n, err = p.number(255); err != nil {
			return nil, err
		}
	}
	switch family {
	case "ip":
		return p.link.ipProto(n), nil
	case "ip6":
		return p.link.ip6Proto(n), nil
	case "":
		return or(p.link.ip6Proto(n), p.link.ipProto(n)), nil
	}
	return nil, p.errorf("%s has no protocol field", family)
}

// vlan: "vlan [ID]" tests the outer 802.1Q/802.1ad tag. Linux strips that
// tag into the packet's metadata before a packet socket sees the frame, so
// the primitives after it test the headers inside the tag.
func (p *parser) vlan() (cond, error) {
	id, hasID := uint32(0), false
	if _, err := strconv.ParseUint(p.peek(), 0, 16); err == nil {
		var err error
		if id, err = p.number(4095); err != nil {
			return nil, err
		}
		hasID = true
	}
	if !p.link.ethernet {
		return constCond(false), nil
	}
	present := cmpCond{kind: loadExt, ext: bpf.ExtVLANTagPresent, test: bpf.JumpEqual, val: 1}
	inBand := or(eq(2, 12, 0x8100), eq(2, 12, 0x88a8), eq(2, 12, 0x9100))
	if !hasID {
		return or(present, inBand), nil
	}
	meta := cmpCond{kind: loadExt, ext: bpf.ExtVLANTag, mask: 0xfff, test: bpf.JumpEqual, val: id}
	return or(and(present, meta), and(not(present), inBand, maskEq(2, 14, 0xfff, id))), nil
}

func (p *parser) ether() (cond, error) {
	l := p.link
	if !l.ethernet {
		return nil, p.errorf("ether primitives need an Ethernet link")
	}
	if p.peek() == "proto" {
		p.next()
		n, err := p.number(0xffff)
		if err != nil {
			return nil, err
		}
		return eq(2, 12, n), nil
	}
	dir := p.dir()
	if p.peek() == "host" {
		p.next()
	}
	tok := p.next()
	mac, err := net.ParseMAC(tok)
	if err != nil || len(mac) != 6 {
		return nil, p.errorf("want a MAC address, have %q", tok)
	}
	at := func(off uint32) cond {
		return and(eq(4, off+2, binary.BigEndian.Uint32(mac[2:])), eq(2, off, uint32(binary.BigEndian.Uint16(mac))))
	}
	switch dir {
	case "src":
		return at(6), nil
	case "dst":
		return at(0), nil
	}
	return or(at(6), at(0)), nil
}

// hostNet handles [ip|ip6|arp|rarp] [src|dst] (host ADDR | net CIDR), and
// [src|dst] ADDR.
func (p *parser) hostNet(family string) (cond, error) {
	l := p.link
	dir := p.dir()
	kw := p.peek()
	if kw == "host" || kw == "net" {
		p.next()
	} else {
		kw = "host"
	}
	tok := p.next()
	var pfx netip.Prefix
	var err error
	if kw == "net" || strings.Contains(tok, "/") {
		pfx, err = netip.ParsePrefix(tok)
		if err == nil && pfx.Masked() != pfx {
			return nil, p.errorf("%s has host bits set (the network is %s)", tok, pfx.Masked())
		}
	} else {
		var a netip.Addr
		a, err = netip.ParseAddr(tok)
		pfx = netip.PrefixFrom(a, a.BitLen())
	}
	if err != nil || pfx.Addr().Zone() != "" {
		if kw == "net" {
			return nil, p.errorf("want a network as ADDR/BITS, have %q", tok)
		}
		return nil, p.errorf("want a numeric IP address, have %q", tok)
	}
	a := pfx.Addr()
	if a.Is4In6() {
		a = a.Unmap()
		pfx = netip.PrefixFrom(a, pfx.Bits()-96)
	}
	pick := func(src, dst cond) cond {
		switch dir {
		case "src":
			return src
		case "dst":
			return dst
		}
		return or(src, dst)
	}
	if a.Is4() {
		if family == "ip6" {
			return nil, p.errorf("%s is not an IPv6 address", tok)
		}
		val := binary.BigEndian.Uint32(a.AsSlice())
		mask := ^uint32(0) << (32 - pfx.Bits())
		if pfx.Bits() == 0 {
			mask = 0
		}
		field := func(off uint32) cond {
			if mask == 0 {
				return constCond(true)
			}
			if mask == ^uint32(0) {
				return eq(4, off, val)
			}
			return maskEq(4, off, mask, val)
		}
		ip := and(l.ipv4(), pick(field(l.net+12), field(l.net+16)))
		arp := and(or(l.etherType(0x0806), l.etherType(0x8035)), pick(field(l.net+14), field(l.net+24)))
		switch family {
		case "ip":
			return ip, nil
		case "arp":
			return and(l.etherType(0x0806), pick(field(l.net+14), field(l.net+24))), nil
		case "rarp":
			return and(l.etherType(0x8035), pick(field(l.net+14), field(l.net+24))), nil
		}
		return or(ip, arp), nil
	}
	if family != "" && family != "ip6" {
		return nil, p.errorf("%s is not an IPv4 address", tok)
	}
	b := a.As16()
	field := func(off uint32) cond {
		var cs []cond
		for w := 0; w < 4; w++ {
			bits := min(max(pfx.Bits()-32*w, 0), 32)
			if bits == 0 {
				break
			}
			mask := ^uint32(0) << (32 - bits)
			val := binary.BigEndian.Uint32(b[4*w:])
			if mask == ^uint32(0) {
				cs = append(cs, eq(4, off+uint32(4*w), val))
			} else {
				cs = append(cs, maskEq(4, off+uint32(4*w), mask, val))
			}
		}
		return and(cs...)
	}
	return and(l.ipv6(), pick(field(l.net+8), field(l.net+24))), nil
}

// port handles [tcp|udp|sctp] [src|dst] (port N | portrange N-M); the
// protocol was consumed by the caller.
func (p *parser) port(protos []uint32) (cond, error) {
	dir := p.dir()
	kw := p.next()
	switch kw {
	case "port":
		n, err := p.number(0xffff)
		if err != nil {
			return nil, err
		}
		return p.link.port(protos, dir, func(c cmpCond) cond {
			c.test, c.val = bpf.JumpEqual, n
			return c
		}), nil
	case "portrange":
		tok := p.next()
		lo, hi, ok := strings.Cut(tok, "-")
		a, err1 := strconv.ParseUint(lo, 10, 16)
		b, err2 := strconv.ParseUint(hi, 10, 16)
		if !ok || err1 != nil || err2 != nil {
			return nil, p.errorf("want a port range N-M, have %q", tok)
		}
		if a > b {
			a, b = b, a
		}
		return p.link.port(protos, dir, func(c cmpCond) cond {
			ge, gt := c, c
			ge.test, ge.val = bpf.JumpGreaterOrEqual, uint32(a)
			gt.test, gt.val = bpf.JumpGreaterThan, uint32(b)
			return and(ge, not(gt))
		}), nil
	}
	return nil, p.errorf("want port or portrange, have %q", kw)
}

// emitter lays the tree out as instructions whose jumps name labels; a
// label stands before the instruction it is bound to.
type emitter struct {
	code    []*insn
	labels  []*insn // label -> the instruction it precedes
	pending []int   // labels placed before the next instruction
}

// insn is an instruction; a jump's targets are labels (-1 when none).
type insn struct {
	ins    bpf.Instruction
	jt, jf int
}

func (e *emitter) label() int {
	e.labels = append(e.labels, nil)
	return len(e.labels) - 1
}

func (e *emitter) place(l int) { e.pending = append(e.pending, l) }

func (e *emitter) add(ins bpf.Instruction, jt, jf int) {
	in := &insn{ins: ins, jt: jt, jf: jf}
	for _, l := range e.pending {
		e.labels[l] = in
	}
	e.pending = e.pending[:0]
	e.code = append(e.code, in)
}

func (e *emitter) cond(c cond, t, f int) {
	switch c := c.(type) {
	case andCond:
		mid := e.label()
		e.cond(c.a, mid, f)
		e.place(mid)
		e.cond(c.b, t, f)
	case orCond:
		mid := e.label()
		e.cond(c.a, t, mid)
		e.place(mid)
		e.cond(c.b, t, f)
	case notCond:
		e.cond(c.a, f, t)
	case constCond:
		target := f
		if c {
			target = t
		}
		e.add(bpf.Jump{}, target, -1)
	case cmpCond:
		switch c.kind {
		case loadAbs:
			e.add(bpf.LoadAbsolute{Off: c.off, Size: c.size}, -1, -1)
		case loadIPv4L4:
			e.add(bpf.LoadMemShift{Off: c.hdr}, -1, -1)
			e.add(bpf.LoadIndirect{Off: c.off, Size: c.size}, -1, -1)
		case loadExt:
			e.add(bpf.LoadExtension{Num: c.ext}, -1, -1)
		}
		if c.mask != 0 {
			e.add(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: c.mask}, -1, -1)
		}
		e.add(bpf.JumpIf{Cond: c.test, Val: c.val}, t, f)
	}
}

func emit(c cond, snaplen uint32) ([]bpf.Instruction, error) {
	if c, ok := c.(constCond); ok {
		if c {
			return []bpf.Instruction{bpf.RetConstant{Val: snaplen}}, nil
		}
		return []bpf.Instruction{bpf.RetConstant{Val: 0}}, nil
	}
	e := &emitter{}
	accept, reject := e.label(), e.label()
	e.cond(c, accept, reject)
	e.place(accept)
	e.add(bpf.RetConstant{Val: snaplen}, -1, -1)
	e.place(reject)
	e.add(bpf.RetConstant{Val: 0}, -1, -1)

	// A conditional jump reaches at most 255 instructions ahead: a longer
	// one goes through an unconditional jump (32-bit offset) put right
	// behind it. Walking backwards, the trampolines inserted so far all lie
	// behind the jump at hand, so they can only lengthen its jumps, by at
	// most their number: counting them all keeps every jump within reach.
	tooLong := func() error {
		return fmt.Errorf("%w: %d instructions, the kernel takes at most %d; give the output of tcpdump -dd", ErrFilter, len(e.code), maxInstructions)
	}
	if len(e.code) > maxInstructions {
		return nil, tooLong()
	}
	old := make(map[*insn]int, len(e.code))
	for i, in := range e.code {
		old[in] = i
	}
	inserted := 0
	for i := len(e.code) - 1; i >= 0; i-- {
		in := e.code[i]
		if _, ok := in.ins.(bpf.JumpIf); !ok {
			continue
		}
		for _, target := range []*int{&in.jt, &in.jf} {
			if old[e.labels[*target]]+inserted-(i+1) <= 255 {
				continue
			}
			tramp := &insn{ins: bpf.Jump{}, jt: *target, jf: -1}
			*target = e.label()
			e.labels[*target] = tramp
			e.code = slices.Insert(e.code, i+1, tramp)
			inserted++
		}
	}
	if len(e.code) > maxInstructions {
		return nil, tooLong()
	}
	pos := make(map[*insn]int, len(e.code))
	for i, in := range e.code {
		pos[in] = i
	}
	prog := make([]bpf.Instruction, len(e.code))
	for i, in := range e.code {
		skip := func(l int) int { return pos[e.labels[l]] - (i + 1) }
		switch ins := in.ins.(type) {
		case bpf.Jump:
			ins.Skip = uint32(skip(in.jt))
			prog[i] = ins
		case bpf.JumpIf:
			st, sf := skip(in.jt), skip(in.jf)
			if st > 255 || sf > 255 { // the pass above prevents it
				return nil, fmt.Errorf("%w: internal error: jump out of reach", ErrFilter)
			}
			ins.SkipTrue, ins.SkipFalse = uint8(st), uint8(sf)
			prog[i] = ins
		default:
			prog[i] = in.ins
		}
	}
	return prog, nil
}
