package traffic

import (
	"math"
	"testing"

	"edgestat/probe"
)

func TestPackRoundTrip(t *testing.T) {
	base := bucketOf(day0+123456, tierHour)
	st := probe.StatRow{Time: base + blobSpan - 1, TotalFlows: math.MaxUint64, ActiveFlows: 0, Bytes: 1 << 40, Payload: 7, Packets: 1}
	p := packer{base: base}
	p.stat(4095, &st)
	p.stat(1, &probe.StatRow{Time: base})
	p.stat(2, &probe.StatRow{Time: base + 5})
	if p.n != 3 || p.first != base || p.last != st.Time {
		t.Fatalf("packer %+v", p)
	}
	var got []probe.StatRow
	var paths []uint32
	if err := unpackStats(p.buf, base, func(path uint32, r *probe.StatRow) {
		paths = append(paths, path)
		got = append(got, *r)
	}); err != nil || len(got) != 3 || got[0] != st || got[1].Time != base || got[2].Time != base+5 || paths[0] != 4095 || paths[2] != 2 {
		t.Fatalf("stats: %+v %v, %v", got, paths, err)
	}
	h := probe.HostRow{Time: base + 5, OutBytes: 1, InBytes: math.MaxInt64, OutPackets: 3, InPackets: 4}
	var gh probe.HostRow
	ph := packer{base: base}
	ph.host(9, &h)
	if err := unpackHosts(ph.buf, base, func(id uint32, r *probe.HostRow) { gh = *r }); err != nil || gh != h {
		t.Fatalf("hosts: %+v, %v", gh, err)
	}
	for format := uint8(0); format <= probe.FormatRTP; format++ {
		pf := packer{base: base}
		var want []string
		for i, id := range []uint64{77, 3, math.MaxUint64, 0} {
			f := probe.FlowRow{Format: format, Time: base + 100 + int64(i), FlowID: id, StartTime: base - 3_600_000, ClientPort: 65535,
				ULPackets: 1, DLPackets: 2, ULBytes: 3, DLBytes: 4, TCPRTT: 361.661, Retransmissions: 5}
			switch format {
			case probe.FormatHTTP:
				f.ResponseTime, f.Transactions, f.InteractionTime = 0.001, 3, 1e9
			case probe.FormatRTP:
				f.LossRate, f.LossBurstiness, f.MaxJitter, f.OrderErrorRate = 0.1, 1.5, 12.345, 1e-9
			}
			pf.flow(3, &f)
			want = append(want, string(f.AppendJSON(nil)))
		}
		var got []string
		if err := unpackFlows(pf.buf, base, format, func(id uint32, r *probe.FlowRow) { got = append(got, string(r.AppendJSON(nil))) }); err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if i >= len(got) || got[i] != want[i] {
				t.Fatalf("format %d:\n got %v\nwant %v", format, got, want)
			}
		}
	}
	// Damage is an error, never a panic or a row outside the hour.
	for _, bad := range [][]byte{{0x80}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, p.buf[:len(p.buf)-1], {0x80, 0xe0, 0xdb, 0x01, 1, 1, 1, 1, 1, 1}} {
		if err := unpackStats(bad, base, func(uint32, *probe.StatRow) {}); err == nil {
			t.Errorf("unpackStats(%x) accepted", bad)
		}
	}
}

func FuzzUnpack(f *testing.F) {
	base := bucketOf(day0, tierHour)
	p := packer{base: base}
	p.stat(1, &probe.StatRow{Time: base + 1, Bytes: 5})
	f.Add(p.buf, uint8(99))
	p = packer{base: base}
	p.flow(1, &probe.FlowRow{Format: 3, Time: base + 1, LossRate: 0.5})
	p.flow(1, &probe.FlowRow{Format: 3, Time: base + 7, FlowID: 9})
	f.Add(p.buf, uint8(3))
	p = packer{base: base}
	p.host(1, &probe.HostRow{Time: base + 1})
	f.Add(p.buf, uint8(100))
	f.Fuzz(func(t *testing.T, blob []byte, kind uint8) {
		check := func(tm int64) {
			if tm < base || tm >= base+blobSpan {
				t.Fatalf("time %d outside the hour %d", tm, base)
			}
		}
		switch kind {
		case 99:
			_ = unpackStats(blob, base, func(_ uint32, r *probe.StatRow) { check(r.Time) })
		case 100:
			_ = unpackHosts(blob, base, func(_ uint32, r *probe.HostRow) { check(r.Time) })
		default:
			_ = unpackFlows(blob, base, kind%4, func(_ uint32, r *probe.FlowRow) {
				check(r.Time)
				// What comes out packs to what went in.
				again := packer{base: base}
				again.flow(1, r)
				var back probe.FlowRow
				if err := unpackFlows(again.buf, base, kind%4, func(_ uint32, b *probe.FlowRow) { back = *b }); err != nil {
					t.Fatalf("repack: %v", err)
				}
				if string(back.AppendJSON(nil)) != string(r.AppendJSON(nil)) {
					t.Fatalf("repack:\n %s\n %s", back.AppendJSON(nil), r.AppendJSON(nil))
				}
			})
		}
	})
}
