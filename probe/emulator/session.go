package emulator

// kind is the kind of a conversation.
type kind uint8

const (
	kHTTPS kind = iota // DNS, then TLS over TCP 443
	kQUIC              // DNS, then QUIC on UDP 443
	kHTTP              // DNS, then HTTP/1.1 over TCP 80
	kSSH               // SSH to the NAS (IPv4 or IPv6 ULA) or github.com
	kDNS               // background lookups, some over IPv6, some NXDOMAIN
	kNTP               // (DNS), then NTP client/server
	kDHCP              // DISCOVER/OFFER/REQUEST/ACK or a renewal
	kARP               // who-has / is-at, or a gratuitous ARP
	kMDNS              // mDNS query and answers, IPv4 or IPv6
	kSSDP              // SSDP M-SEARCH and answers
	kPing              // ICMP echo
	kNDP               // ICMPv6 neighbor solicitation / advertisement
	nKinds
)

// kindWeights is how often each kind of conversation starts. Long
// conversations (HTTPS, QUIC) carry most packets; see the package test for
// the resulting packet mix.
var kindWeights = [nKinds]int{
	kHTTPS: 30, kQUIC: 12, kHTTP: 10, kSSH: 3, kDNS: 100, kNTP: 35, kDHCP: 15,
	kARP: 80, kMDNS: 80, kSSDP: 15, kPing: 12, kNDP: 30,
}

var kindCum = func() (c [nKinds]int) {
	t := 0
	for i, w := range kindWeights {
		t += w
		c[i] = t
	}
	return c
}()

// msgKind says how the bytes of a message are made.
type msgKind uint8

const (
	mkHead  msgKind = iota // the message is s.head
	mkHTTP                 // s.head, then a body (text or media)
	mkTLS                  // TLS 1.2 application data records, one per segment
	mkNoise                // encrypted bytes (SSH)
	mkShort                // QUIC short-header packets
)

// TCP states
const (
	tcpSYN uint8 = iota
	tcpSYNACK
	tcpACK
	tcpData
	tcpFIN1
	tcpFIN2
	tcpLastACK
)

// A session is one conversation in progress. Sessions live in
// Emulator.sess and are reused, so packets can point into them.
type session struct {
	kind kind
	step int // position in the script of simple kinds
	done bool

	h    *host // the client
	peer *host // LAN server or responder, nil when remote
	svc  *service

	// addresses; IPv4 uses the first 4 bytes of the IP arrays
	v6         bool
	cMAC, sMAC [6]byte // sMAC is the next hop: the router or the LAN peer
	cIP, sIP   [16]byte
	cTTL, sTTL uint8
	cID, sID   uint16 // IP identification counters
	flow       uint32 // IPv6 flow label
	cPort      uint16
	sPort      uint16

	// DNS lookup before the conversation: packets left and their shape
	dnsLeft int8
	dnsAAAA bool // A and AAAA
	dns6    bool // over IPv6 to the router's ULA
	dnsPort uint16
	dnsID   uint16
	addrIdx int    // which of the service's addresses the answer puts first
	qname   []byte // the name looked up
	nx      bool   // it does not exist
	edns    bool   // queries carry an EDNS0 OPT record
	xid     uint32 // DHCP transaction
	ts64    uint64 // NTP: the client's transmit timestamp

	// transport
	tst          uint8
	cSeq, sSeq   uint32
	cWin, sWin   uint16
	cTS, sTS     uint32 // timestamp clock offsets
	synMS        uint32
	synMSS       int
	sWS          uint8
	cMSS, sMSS   int // payload bytes per segment (or datagram) each way
	clientCloses bool
	rst          bool

	// messages
	msgIdx    int
	dir       bool // true: client to server
	msgLen    int
	msgOff    int
	immediate bool // the message answers the previous one at once
	noAck     bool // its segments are not acknowledged one by one (QUIC handshake)
	mk        msgKind
	owed      int        // segments not yet acknowledged
	owedDir   bool       // direction of those segments
	reqs      int        // request/response rounds (SSH: keystrokes)
	head      [1536]byte // the current message, or its head (HTTP headers)
	headLen   int
	body      []byte // HTTP body bytes, repeated; nil for random bytes
	tlsSeqC   uint64
	tlsSeqS   uint64
	h2        bool
	dcid      [quicCIDLen]byte // QUIC: the client's original Destination CID
	scid      [quicCIDLen]byte // QUIC: the server's CID
	x         int              // kind-specific counter
}

// reset clears s for a new conversation.
func (s *session) reset() { *s = session{} }
