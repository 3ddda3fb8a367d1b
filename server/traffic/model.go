// Package traffic stores the probe's reports in SQLite and serves them the
// way MMT-Operator did: GET /traffic/data by period, stats_raw in real time
// over a plain WebSocket and socket.io, and POST /traffic/reports for
// reports from other probes.
package traffic

import (
	"math"
	"net/netip"

	"edgestat/probe"
)

// A tier is a rollup granularity.
type tier int

const (
	tierMinute tier = iota
	tierHour
	tierDay
	numTiers
)

var tierSize = [numTiers]int64{60_000, 3_600_000, 86_400_000}

// bucketOf is the start of t's bucket in a tier, in ms (UTC).
func bucketOf(t int64, tr tier) int64 {
	s := tierSize[tr]
	return t - ((t%s)+s)%s
}

// grace is how far the newest report must be past a bucket's end before the
// bucket is written: reports of one period from several probes arrive a
// little apart.
const grace = 30_000

// closedUntil is the end of the last bucket of a tier that is written,
// for newest report time w: every bucket starting before it is in the
// database. Minutes are written an hour at a time, when their hour closes:
// one append of 60 buckets wears the flash less than 60 small ones (and a
// restart rebuilds at most an hour of them from the raw reports).
func closedUntil(w int64, tr tier) int64 {
	if w == math.MinInt64 {
		return math.MinInt64
	}
	if tr == tierMinute {
		tr = tierHour
	}
	return bucketOf(w-grace, tr)
}

// Keys of the interned tables.
type sourceKey struct {
	probe  uint32
	source string
}

type pathKey struct {
	path string
	app  uint32
}

type hostKey struct {
	mac [6]byte
	ip  netip.Addr
}

// flowKey is everything that names a flow in a rollup: the flow report
// minus its id, client port, times and measures.
type flowKey struct {
	format       uint8
	ipVersion    uint8
	server       netip.Addr
	client       netip.Addr
	serverPort   uint16
	transport    uint8
	appFamily    uint8
	contentClass uint8
	path         string
	app          uint32
	hostname     string
	mime         string
	referer      string
	deviceOS     string
	serverName   string
	cdn          uint8
}

func flowKeyOf(r *probe.FlowRow) flowKey {
	return flowKey{
		format: r.Format, ipVersion: r.IPVersion, server: r.ServerAddr, client: r.ClientAddr,
		serverPort: r.ServerPort, transport: r.Transport, appFamily: r.AppFamily, contentClass: r.ContentClass,
		path: r.Path, app: r.App, hostname: r.Hostname, mime: r.MIME, referer: r.Referer,
		deviceOS: r.DeviceOS, serverName: r.ServerName, cdn: r.CDN,
	}
}

// folded is the key a flow report takes when the open buckets hold too
// many keys: its application's, without addresses, ports or texts.
func (k flowKey) folded() flowKey {
	return flowKey{format: k.format, ipVersion: k.ipVersion, transport: k.transport,
		appFamily: k.appFamily, path: k.path, app: k.app}
}

// fill sets r's key columns from k.
func (k *flowKey) fill(r *probe.FlowRow) {
	r.Format, r.IPVersion, r.ServerAddr, r.ClientAddr = k.format, k.ipVersion, k.server, k.client
	r.ServerPort, r.Transport, r.AppFamily, r.ContentClass = k.serverPort, k.transport, k.appFamily, k.contentClass
	r.Path, r.App, r.Hostname, r.MIME, r.Referer = k.path, k.app, k.hostname, k.mime, k.referer
	r.DeviceOS, r.ServerName, r.CDN = k.deviceOS, k.serverName, k.cdn
}

// hash is FNV-1a over the key's fields, for the writer's memory of recent
// flow keys.
func (k *flowKey) hash() uint64 {
	h := uint64(14695981039346656037)
	b := func(c byte) { h = (h ^ uint64(c)) * 1099511628211 }
	str := func(s string) {
		for i := 0; i < len(s); i++ {
			b(s[i])
		}
		b(0xff) // a separator: "ab"+"c" is not "a"+"bc"
	}
	for _, v := range []uint64{uint64(k.format)<<24 | uint64(k.ipVersion)<<16 | uint64(k.transport)<<8 | uint64(k.cdn),
		uint64(k.serverPort)<<16 | uint64(k.appFamily)<<8 | uint64(k.contentClass), uint64(k.app)} {
		for i := 0; i < 8; i++ {
			b(byte(v >> (8 * i)))
		}
	}
	for _, a := range []netip.Addr{k.server, k.client} {
		for _, c := range a.As16() {
			b(c)
		}
		b(byte(a.BitLen()))
	}
	str(k.path)
	str(k.hostname)
	str(k.mime)
	str(k.referer)
	str(k.deviceOS)
	str(k.serverName)
	return h
}

// An aggKey is one rollup row: a bucket, a source and an interned key.
type aggKey struct {
	bucket int64
	src    uint32
	key    uint32
}

// Rollup aggregates. merge is commutative and the zero value is its
// identity, so a bucket can be summed from its reports in any order.

type statAgg struct{ total, active, bytes, payload, packets int64 }

func (a statAgg) merge(b statAgg) statAgg {
	return statAgg{max(a.total, b.total), max(a.active, b.active),
		satAdd(a.bytes, b.bytes), satAdd(a.payload, b.payload), satAdd(a.packets, b.packets)}
}

func statAggOf(r *probe.StatRow) statAgg {
	return statAgg{int64(r.TotalFlows), int64(r.ActiveFlows), int64(r.Bytes), int64(r.Payload), int64(r.Packets)}
}

type hostAgg struct{ outBytes, inBytes, outPackets, inPackets int64 }

func (a hostAgg) merge(b hostAgg) hostAgg {
	return hostAgg{satAdd(a.outBytes, b.outBytes), satAdd(a.inBytes, b.inBytes),
		satAdd(a.outPackets, b.outPackets), satAdd(a.inPackets, b.inPackets)}
}

func hostAggOf(r *probe.HostRow) hostAgg {
	return hostAgg{int64(r.OutBytes), int64(r.InBytes), int64(r.OutPackets), int64(r.InPackets)}
}

// flowAgg sums flows that share a key. Durations are microseconds; the
// largest is kept. start is the earliest start.
type flowAgg struct {
	flows, start                            int64
	ulPackets, dlPackets, ulBytes, dlBytes  int64
	rtt, retrans, response, trans, interact int64
	loss, burst                             float64
	jitter                                  int64
	order                                   float64
}

func (a flowAgg) merge(b flowAgg) flowAgg {
	switch {
	case a.flows == 0:
		return b
	case b.flows == 0:
		return a
	}
	return flowAgg{
		flows: satAdd(a.flows, b.flows), start: min(a.start, b.start),
		ulPackets: satAdd(a.ulPackets, b.ulPackets), dlPackets: satAdd(a.dlPackets, b.dlPackets),
		ulBytes: satAdd(a.ulBytes, b.ulBytes), dlBytes: satAdd(a.dlBytes, b.dlBytes),
		rtt: max(a.rtt, b.rtt), retrans: satAdd(a.retrans, b.retrans), response: max(a.response, b.response),
		trans: satAdd(a.trans, b.trans), interact: max(a.interact, b.interact),
		loss: max(a.loss, b.loss), burst: max(a.burst, b.burst), jitter: max(a.jitter, b.jitter), order: max(a.order, b.order),
	}
}

func flowAggOf(r *probe.FlowRow) flowAgg {
	return flowAgg{
		flows: 1, start: r.StartTime,
		ulPackets: int64(r.ULPackets), dlPackets: int64(r.DLPackets), ulBytes: int64(r.ULBytes), dlBytes: int64(r.DLBytes),
		rtt: toMicros(r.TCPRTT), retrans: int64(r.Retransmissions), response: toMicros(r.ResponseTime),
		trans: int64(r.Transactions), interact: toMicros(r.InteractionTime),
		loss: r.LossRate, burst: r.LossBurstiness, jitter: toMicros(r.MaxJitter), order: r.OrderErrorRate,
	}
}

// fill sets the measure columns of a bucket row: flow_id holds the number
// of flows merged, client_port 0.
func (a *flowAgg) fill(r *probe.FlowRow) {
	r.FlowID, r.StartTime, r.ClientPort = uint64(a.flows), a.start, 0
	r.ULPackets, r.DLPackets, r.ULBytes, r.DLBytes = uint64(a.ulPackets), uint64(a.dlPackets), uint64(a.ulBytes), uint64(a.dlBytes)
	r.TCPRTT, r.Retransmissions, r.ResponseTime = fromMicros(a.rtt), uint64(a.retrans), fromMicros(a.response)
	r.Transactions, r.InteractionTime = uint64(a.trans), fromMicros(a.interact)
	r.LossRate, r.LossBurstiness, r.MaxJitter, r.OrderErrorRate = a.loss, a.burst, fromMicros(a.jitter), a.order
}

// Durations are kept in whole microseconds: the reports print them in ms
// with three decimals, so nothing printed is lost.
func toMicros(ms float64) int64   { return int64(math.Round(ms * 1000)) }
func fromMicros(us int64) float64 { return float64(us) / 1000 }
func satAdd(a, b int64) int64 {
	if s := a + b; s >= a == (b >= 0) {
		return s
	}
	if b > 0 {
		return math.MaxInt64
	}
	return math.MinInt64
}
