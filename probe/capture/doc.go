// Package capture is the probe's packet inputs apart from the emulator:
// live capture on a Linux interface and pcap/pcapng files. Each returns a
// probe.Input; none uses cgo.
//
// # Live capture
//
// OpenLive reads an interface through an AF_PACKET socket, in one of two
// ways, both from github.com/gopacket/gopacket and pure Go:
//
//   - ModeRing: afpacket's TPACKET ring, memory shared with the kernel.
//     TPACKET_V3 packs packets into blocks and wakes the reader once per
//     block; TPACKET_V2 (tried when V3 fails) has one slot per packet.
//     ReadPacket returns a slice of the ring itself: no copy, and no
//     system call while packets are waiting.
//   - ModeSocket: pcapgo.EthernetHandle, one recvmsg system call per
//     packet into a buffer of the handle's. The fallback when no ring can
//     be set up (ModeAuto, the default, tries the ring first).
//
// Both count the packets the kernel dropped because the reader fell
// behind (PACKET_STATISTICS), through probe.DropCounter, and say Live()
// true: their packets come in real time. The benchmarks in
// live_linux_test.go compare them over a veth pair.
//
// A packet socket sees both directions, as tcpdump does. On the loopback
// interface every packet therefore appears twice, once going out and once
// coming in; the filter "inbound" keeps one of each.
//
// # Capture filters
//
// tcpdump's filter language is compiled by libpcap, a C library, and
// edgestat is built without cgo, so it cannot compile every tcpdump
// expression. A filter (LiveOptions.Filter, or CompileFilter) is therefore
// one of:
//
//   - the output of `tcpdump -dd 'EXPR'` (or -ddd), compiled by libpcap on
//     any machine that has tcpdump, ideally with -i on an interface of the
//     same kind (Ethernet), e.g. `tcpdump -i eth0 -dd 'tcp[13] & 2 != 0'`.
//     Any expression works this way; edgestat loads the program as it is,
//     lowering its snap length to LiveOptions.Snaplen;
//   - an expression in the part of the language that edgestat compiles
//     itself to classic BPF (golang.org/x/net/bpf), for Ethernet and raw
//     IP interfaces.
//
// That part is:
//
//	expr     = and { ("or" | "||") and }
//	and      = unary { ("and" | "&&") unary }
//	unary    = ("not" | "!") unary | "(" expr ")" | primitive
//	primitive:
//	  ip | ip6 | arp | rarp | tcp | udp | sctp | icmp | icmp6 | igmp
//	  [ip|ip6|arp|rarp] [src|dst] host ADDR      numeric IPv4 or IPv6
//	  [ip|ip6|arp|rarp] [src|dst] net ADDR/BITS
//	  [src|dst] ADDR
//	  [tcp|udp|sctp] [src|dst] port N
//	  [tcp|udp|sctp] [src|dst] portrange N-M
//	  ether [src|dst] [host] MAC | ether proto N
//	  ip proto P | ip6 proto P | proto P         P a number or tcp, udp, ...
//	  less N | greater N                         the packet's length
//	  inbound | outbound                         the packet's direction
//	  vlan [ID]                                  the outer 802.1Q/802.1ad tag
//
// The primitives mean what they mean to libpcap: "tcp" is also TCP behind
// an IPv6 fragment header, "port" looks at first IPv4 fragments only,
// "host" with an IPv4 address also matches ARP and RARP. The tests run
// the programs of both compilers (libpcap 1.10.3's are kept in
// testdata/tcpdump-dd.txt) over the same packets in x/net/bpf's virtual
// machine and require the same answers. What the subset leaves out:
// names (of hosts, ports, protocols), a qualifier carried over to the next
// primitive ("port 80 or 443"), byte arithmetic ("tcp[13] & 2 != 0"). And
// one primitive differs on purpose: Linux takes the outer VLAN tag off a
// received frame before a packet socket sees it, so "vlan [ID]" tests the
// tag in the packet's metadata and the primitives after it test the
// headers inside the tag, where libpcap on a file moves their offsets by
// four bytes. The kernel runs the program before it copies a packet: what
// a filter refuses costs the reader nothing.
//
// # Capture files
//
// Open reads pcap (microsecond or nanosecond timestamps, either byte
// order) and pcapng files, gzip-compressed or not, told apart by their
// magic numbers. Their link type is whatever the file declares. They are
// read as fast as possible, or paced by the packets' timestamps at a
// multiple of the recorded speed (FileOptions.Speed). A pcapng file whose
// interfaces have different link types is an error at the first packet
// of another type, as it is for libpcap.
//
// # Use
//
// One goroutine calls ReadPacket; the data it returns is valid until the
// next ReadPacket or Close. Close may come from any goroutine: a
// ReadPacket waiting for a packet returns io.EOF, and so does every
// ReadPacket after Close.
package capture
