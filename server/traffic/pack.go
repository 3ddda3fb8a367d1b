package traffic

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"edgestat/probe"
)

// The rows of traffic_raw are packed reports: one format, one source, one
// UTC hour (the blob's base), from one batch. Each report is a run of
// varints: its time, its interned key, then its numbers in column order.
// The first report's time is ms after the base; every later one's is
// zigzag ms after the report before (0 for reports of one period):
//
//	99:  time, path, total_flows, active_flows, bytes, payload, packets
//	100: time, host, out_bytes, in_bytes, out_packets, in_packets
//	0-3: time, flowkey, zigzag(flow_id - previous flow_id), time-start_time,
//	     client_port (2 bytes), ul_packets, dl_packets, ul_bytes, dl_bytes,
//	     zigzag(tcp_rtt µs), retransmissions, then for 1: zigzag(response_time
//	     µs), transactions, zigzag(interaction_time µs); for 3: loss_rate
//	     (8 bytes, IEEE 754), loss_burstiness (8 bytes), zigzag(max_jitter
//	     µs), order_error_rate (8 bytes).

// blobSpan is the time a blob covers: reports at base to base+blobSpan-1.
const blobSpan = 3_600_000

// ErrPacked is wrapped by every error of the unpackers.
var ErrPacked = errors.New("traffic: bad packed reports")

// A packer appends reports to one blob.
type packer struct {
	buf    []byte
	base   int64 // the hour of the reports
	prev   int64 // time of the previous report
	prevID uint64
	n      int
	first  int64 // the oldest report
	last   int64 // the newest report
}

func (p *packer) time(t int64) {
	if p.n == 0 {
		p.buf = binary.AppendUvarint(p.buf, uint64(t-p.base))
		p.first, p.last = t, t
	} else {
		p.buf = binary.AppendVarint(p.buf, t-p.prev)
		p.first, p.last = min(p.first, t), max(p.last, t)
	}
	p.prev = t
	p.n++
}

func (p *packer) stat(path uint32, r *probe.StatRow) {
	p.time(r.Time)
	p.buf = binary.AppendUvarint(p.buf, uint64(path))
	p.buf = binary.AppendUvarint(p.buf, r.TotalFlows)
	p.buf = binary.AppendUvarint(p.buf, r.ActiveFlows)
	p.buf = binary.AppendUvarint(p.buf, r.Bytes)
	p.buf = binary.AppendUvarint(p.buf, r.Payload)
	p.buf = binary.AppendUvarint(p.buf, r.Packets)
}

func (p *packer) host(host uint32, r *probe.HostRow) {
	p.time(r.Time)
	p.buf = binary.AppendUvarint(p.buf, uint64(host))
	p.buf = binary.AppendUvarint(p.buf, r.OutBytes)
	p.buf = binary.AppendUvarint(p.buf, r.InBytes)
	p.buf = binary.AppendUvarint(p.buf, r.OutPackets)
	p.buf = binary.AppendUvarint(p.buf, r.InPackets)
}

// flow packs a flow report; validate has checked StartTime <= Time.
func (p *packer) flow(key uint32, r *probe.FlowRow) {
	p.time(r.Time)
	p.buf = binary.AppendUvarint(p.buf, uint64(key))
	p.buf = binary.AppendVarint(p.buf, int64(r.FlowID-p.prevID))
	p.prevID = r.FlowID
	p.buf = binary.AppendUvarint(p.buf, uint64(r.Time-r.StartTime))
	p.buf = binary.BigEndian.AppendUint16(p.buf, r.ClientPort)
	p.buf = binary.AppendUvarint(p.buf, r.ULPackets)
	p.buf = binary.AppendUvarint(p.buf, r.DLPackets)
	p.buf = binary.AppendUvarint(p.buf, r.ULBytes)
	p.buf = binary.AppendUvarint(p.buf, r.DLBytes)
	p.buf = binary.AppendVarint(p.buf, toMicros(r.TCPRTT))
	p.buf = binary.AppendUvarint(p.buf, r.Retransmissions)
	switch r.Format {
	case probe.FormatHTTP:
		p.buf = binary.AppendVarint(p.buf, toMicros(r.ResponseTime))
		p.buf = binary.AppendUvarint(p.buf, r.Transactions)
		p.buf = binary.AppendVarint(p.buf, toMicros(r.InteractionTime))
	case probe.FormatRTP:
		p.buf = binary.BigEndian.AppendUint64(p.buf, math.Float64bits(r.LossRate))
		p.buf = binary.BigEndian.AppendUint64(p.buf, math.Float64bits(r.LossBurstiness))
		p.buf = binary.AppendVarint(p.buf, toMicros(r.MaxJitter))
		p.buf = binary.BigEndian.AppendUint64(p.buf, math.Float64bits(r.OrderErrorRate))
	}
}

// unpacker reads varints from a blob, remembering the first error.
type unpacker struct {
	b      []byte
	err    error
	base   int64
	prev   int64
	n      int
	prevID uint64
}

func (u *unpacker) uvarint() uint64 {
	if u.err != nil {
		return 0
	}
	v, n := binary.Uvarint(u.b)
	if n <= 0 {
		u.err = fmt.Errorf("%w: truncated or overlong varint", ErrPacked)
		return 0
	}
	u.b = u.b[n:]
	return v
}

func (u *unpacker) varint() int64 {
	if u.err != nil {
		return 0
	}
	v, n := binary.Varint(u.b)
	if n <= 0 {
		u.err = fmt.Errorf("%w: truncated or overlong varint", ErrPacked)
		return 0
	}
	u.b = u.b[n:]
	return v
}

func (u *unpacker) fixed(n int) []byte {
	if u.err != nil {
		return make([]byte, n)
	}
	if len(u.b) < n {
		u.err = fmt.Errorf("%w: truncated", ErrPacked)
		return make([]byte, n)
	}
	v := u.b[:n]
	u.b = u.b[n:]
	return v
}

func (u *unpacker) float() float64 {
	return math.Float64frombits(binary.BigEndian.Uint64(u.fixed(8)))
}

// small reads a varint that must fit in bits bits.
func (u *unpacker) small(bits int) uint64 {
	v := u.uvarint()
	if u.err == nil && v>>bits != 0 {
		u.err = fmt.Errorf("%w: %d does not fit in %d bits", ErrPacked, v, bits)
		return 0
	}
	return v
}

// time reads a report's time, which must be within the blob's hour.
func (u *unpacker) time() int64 {
	var t int64
	if u.n == 0 {
		v := u.uvarint()
		if v >= blobSpan {
			v = blobSpan // out of range, caught below
		}
		t = u.base + int64(v)
	} else {
		d := u.varint()
		if d <= -blobSpan || d >= blobSpan {
			d = blobSpan
		}
		t = u.prev + d
	}
	if u.err == nil && (t < u.base || t >= u.base+blobSpan) {
		u.err = fmt.Errorf("%w: report time %d is not within the hour at %d", ErrPacked, t, u.base)
	}
	u.prev = t
	u.n++
	return t
}

// unpackStats calls fn for every format 99 report of a blob; the row's
// Probe, Source, App and Path are left for the caller (the path id names
// them).
func unpackStats(blob []byte, base int64, fn func(path uint32, r *probe.StatRow)) error {
	u := unpacker{b: blob, base: base}
	var r probe.StatRow
	for len(u.b) > 0 {
		r.Time = u.time()
		path := uint32(u.small(32))
		r.TotalFlows, r.ActiveFlows = u.uvarint(), u.uvarint()
		r.Bytes, r.Payload, r.Packets = u.uvarint(), u.uvarint(), u.uvarint()
		if u.err != nil {
			return u.err
		}
		fn(path, &r)
	}
	return nil
}

// unpackHosts is unpackStats for format 100; MAC and IP are the caller's.
func unpackHosts(blob []byte, base int64, fn func(host uint32, r *probe.HostRow)) error {
	u := unpacker{b: blob, base: base}
	var r probe.HostRow
	for len(u.b) > 0 {
		r.Time = u.time()
		host := uint32(u.small(32))
		r.OutBytes, r.InBytes, r.OutPackets, r.InPackets = u.uvarint(), u.uvarint(), u.uvarint(), u.uvarint()
		if u.err != nil {
			return u.err
		}
		fn(host, &r)
	}
	return nil
}

// unpackFlows is unpackStats for the flow formats; the key's columns are
// the caller's.
func unpackFlows(blob []byte, base int64, format uint8, fn func(key uint32, r *probe.FlowRow)) error {
	u := unpacker{b: blob, base: base}
	r := probe.FlowRow{Format: format}
	for len(u.b) > 0 {
		r.Time = u.time()
		key := uint32(u.small(32))
		u.prevID += uint64(u.varint())
		r.FlowID = u.prevID
		d := u.uvarint()
		if d > uint64(r.Time) {
			u.err = fmt.Errorf("%w: a flow starting %d ms before 1970", ErrPacked, d-uint64(r.Time))
		}
		r.StartTime = r.Time - int64(d)
		r.ClientPort = binary.BigEndian.Uint16(u.fixed(2))
		r.ULPackets, r.DLPackets, r.ULBytes, r.DLBytes = u.uvarint(), u.uvarint(), u.uvarint(), u.uvarint()
		r.TCPRTT, r.Retransmissions = fromMicros(u.varint()), u.uvarint()
		switch format {
		case probe.FormatHTTP:
			r.ResponseTime, r.Transactions, r.InteractionTime = fromMicros(u.varint()), u.uvarint(), fromMicros(u.varint())
		case probe.FormatRTP:
			r.LossRate, r.LossBurstiness, r.MaxJitter, r.OrderErrorRate = u.float(), u.float(), fromMicros(u.varint()), u.float()
		}
		if u.err != nil {
			return u.err
		}
		fn(key, &r)
	}
	return nil
}
