// Design of the probe pipeline, and what it chose where MMT.md is silent.
//
// Per packet (pipeline.packet, single goroutine, no allocation once warm):
// a gopacket DecodingLayerParser with preallocated layers (Ethernet, 802.1Q,
// ARP, IPv4, IPv6 and its extension headers, ICMPv4/6, IGMP, TCP, UDP,
// SCTP, GRE and what GRE carries; Linux cooked capture, raw IP and BSD
// loopback link types) fills a reused packet record with the header path
// ids and their frame offsets; the flow table (open addressing over a
// fixed pool, 5-tuple keys as [5]uint64) finds the flow; the classifier
// looks at the first payload packets of a flow only; the path's nodes and
// the LAN hosts' counters are incremented through indices cached in the
// flow.
//
// Paths. A path starts at the link layer: 99 ETHERNET for Ethernet and
// Linux cooked captures, 636 LOOPBACK for BSD loopback; raw IP captures
// have no link node (paths start at 178 or 182). IPv6 extension headers
// add no node. A fragment other than the first counts at IP and has no
// flow (no reassembly). Tunnels nest: 99.178.137.178.354 is TCP in GRE,
// and the flow is the inner one. After the transport node come the
// application protocol (153 HTTP, 341 SSL for all TLS, 661 QUIC_IETF ...)
// and the application when known (134 GOOGLE ...): from the HTTP Host or
// the TLS SNI (also when the ClientHello spans two segments), else from
// DNS answers seen earlier for the server's address (QUIC, TLS without
// SNI). Names are matched by domain suffix on label boundaries (hostApps).
// A flow keeps what it learned from its first packets: the classifier
// inspects up to 8 payload packets, a signature wins over a port guess,
// and the path changes at most a few times early in the flow.
//
// Format 99. A node's payload runs from its header offset to the end of
// the frame (wire length); nodes after the transport are counted only for
// packets with transport payload (Ethernet padding is not payload), so a
// bare ACK counts for ETHERNET, IP and TCP, not HTTP. Rows are emitted for
// nodes with packets in the period and for nodes where a flow started or
// ended (so active_flows is seen dropping to 0). Periods are aligned to
// multiples of the period since the epoch and stamped with their end; the
// last, partial period of a finite input is stamped with its last packet.
// Packet time never steps back (a packet older than the latest counts at
// the latest time). total_flows counts each flow once per node it was on.
//
// Flows. TCP ends after FIN both ways or an RST plus a short linger for the
// last ACKs (Timeouts.Closed, 1 s); a SYN on a closing flow's tuple starts
// a new flow. Idle timeouts by class: TCP, UDP, ICMP, DNS (UDP 53, 5353,
// 5355), other. Expiry runs at most once per second of packet time from
// one LRU list per class (flow.go explains why that is O(1)); a flow that
// timed out is reported at its expiry time (its last packet plus its
// timeout) even when packet time jumped past it. When the table is full
// the least recently seen flow is evicted, reported at the eviction's
// time (Counters.FlowsEvicted). ICMP flows are keyed by the two addresses
// only.
//
// Flow reports. server = destination of the first packet, client = its
// source. ul (upload) is the LAN side's direction: the client's when the
// client is a LAN address or neither or both are, the server's when only
// the server is. LAN addresses are RFC 1918, 169.254/16, fc00::/7,
// fe80::/10 and Options.LocalNets. tcp_rtt is SYN to the client's ACK of
// the SYN/ACK (the whole handshake as the probe sees it), in ms with
// microseconds. Retransmissions are payload segments whose data was
// already seen in that direction. HTTP: response_time is the mean from a
// request to the first packet of its response; transactions counts
// requests; interaction_time runs from the first request to the flow's
// last packet; hostname, referer and device_os (from the User-Agent) come
// from the first request, mime and content_class from the first response;
// cdn is 1 when the host is a CDN's (category 15), 2 when the response
// came through one (Via, X-Cache, X-Served-By, CF-Ray, X-Amz-Cf-Id). TLS:
// server_name is the SNI. RTP (detected from two packets of one SSRC with
// consecutive sequence numbers): loss rate from sequence numbers, loss
// burstiness is the mean length of a gap, max jitter is RFC 3550's
// interarrival jitter in ms (clock rate from the static payload type, else
// estimated), order errors are packets older than the highest seen.
// Texts are kept up to 96 bytes (40 for MIME), printable ASCII.
//
// Hosts (format 100, see HostRow). A LAN address becomes a host when it
// sends, or receives a frame addressed to a unicast MAC; its MAC is the
// source MAC of what it sends. Rows for hosts with traffic in the period.
//
// Bounds: flows (MaxFlows), paths (MaxPaths: a path that would exceed it
// is cut short and counted in PathsOverflow), hosts (MaxHosts: the least
// recently seen is evicted), interned names (8192), the DNS address cache
// (4096, direct-mapped), report slices reused. The flow pool, its slots and
// the detail pool hold no pointers and live outside the Go heap (reserve).

package probe
