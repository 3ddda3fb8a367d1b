package traffic

import (
	"bytes"
	"encoding/json"
	"math"
	"net/netip"
	"reflect"
	"testing"

	"edgestat/probe"
)

// hubObjectNames are the keys of AppendObject, by format, in column order.
var hubObjectNames = map[int][]string{
	99: {"format", "probe", "source", "time", "app", "path", "flowcount", "active_flowcount", "bytecount", "payloadcount", "packetcount"},
	0:  hubFlowNames(),
	1: hubFlowNames("response_time", "transactions", "interaction_time", "hostname", "mime", "referer",
		"device_os", "cdn"),
	2:   hubFlowNames("server_name", "cdn"),
	3:   hubFlowNames("loss_rate", "loss_burstiness", "max_jitter", "order_error_rate"),
	100: {"format", "probe", "source", "time", "mac", "ip", "out_bytes", "in_bytes", "out_packets", "in_packets"},
}

func hubFlowNames(tail ...string) []string {
	return append([]string{"format", "probe", "source", "time", "flow_id", "start_time", "ip_version",
		"server_addr", "client_addr", "server_port", "client_port", "transport", "ul_packets",
		"dl_packets", "ul_bytes", "dl_bytes", "tcp_rtt", "retransmissions", "app_family",
		"content_class", "path", "app"}, tail...)
}

// hubSampleRows covers every format, with strings that need escaping, odd
// floats, IPv6, missing addresses and extreme numbers.
func hubSampleRows() []probe.Row {
	flow := func(format uint8) *probe.FlowRow {
		return &probe.FlowRow{
			Format: format, Probe: 7, Source: `eth0 "lan"\`, Time: 1429713111449, FlowID: 42,
			StartTime: 1429713101000, IPVersion: 4,
			ServerAddr: netip.MustParseAddr("93.184.216.34"), ClientAddr: netip.MustParseAddr("192.168.1.10"),
			ServerPort: 443, ClientPort: 51234, Transport: 6, ULPackets: 10, DLPackets: 12,
			ULBytes: 1500, DLBytes: 9000, TCPRTT: 12.3456789, Retransmissions: 1,
			AppFamily: 1, ContentClass: 8, Path: "99.178.354.153", App: 153,
		}
	}
	http := flow(probe.FormatHTTP)
	http.ResponseTime, http.Transactions, http.InteractionTime = 33.0000004, 3, 1e7/3
	http.Hostname, http.MIME, http.Referer, http.DeviceOS, http.CDN = "example.com", "text/html",
		"http://a.example/?q=\"x\"&\t\x01", "", 2
	tls := flow(probe.FormatTLS)
	tls.IPVersion, tls.ServerAddr, tls.ClientAddr = 6, netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("fe80::1%eth0")
	tls.ServerName, tls.CDN, tls.TCPRTT = "www.youtube.com", 1, math.NaN()
	rtp := flow(probe.FormatRTP)
	rtp.Transport, rtp.TCPRTT, rtp.Retransmissions = 17, 0, 0
	rtp.LossRate, rtp.LossBurstiness, rtp.MaxJitter, rtp.OrderErrorRate = 0.012345678901234, 1.5, 0.0004, math.Inf(1)
	bare := flow(probe.FormatFlow)
	bare.ServerAddr, bare.ClientAddr, bare.Source, bare.Path = netip.Addr{}, netip.Addr{}, "", ""
	bare.ULBytes, bare.Time, bare.StartTime = math.MaxUint64, -1, -1e15+1
	return []probe.Row{
		&probe.StatRow{Probe: 123, Source: "eth0", Time: 1429713111449, App: 35, Path: "99.178.354.153.35",
			TotalFlows: 321, ActiveFlows: 3, Bytes: 60, Payload: 6, Packets: 1},
		&probe.StatRow{Probe: math.MaxUint32, Source: "ünïcode\u2028\x7f", Time: 0, App: 0, Path: "99",
			TotalFlows: math.MaxUint64},
		bare, http, tls, rtp,
		&probe.HostRow{Probe: 1, Source: "wlan0", Time: 1700000000000, MAC: [6]byte{0xaa, 0xbb, 0xcc, 0, 1, 0xff},
			IP: netip.MustParseAddr("192.168.1.20"), OutBytes: 1, InBytes: 2, OutPackets: 3, InPackets: 4},
		&probe.HostRow{Probe: 1, Source: "pcap \"x\".pcap", IP: netip.MustParseAddr("fd00::2")},
		&probe.HostRow{},
	}
}

func hubRowFormat(r probe.Row) int {
	switch r := r.(type) {
	case *probe.StatRow:
		return probe.FormatStats
	case *probe.FlowRow:
		return int(r.Format)
	case *probe.HostRow:
		return probe.FormatHosts
	}
	return -1
}

// hubObjectFields decodes a JSON object keeping its key order and raw values.
func hubObjectFields(t *testing.T, b []byte) (keys []string, vals []json.RawMessage) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s (%v)", b, err)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("key: %v in %s", err, b)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("value of %v: %v in %s", tok, err, b)
		}
		keys, vals = append(keys, tok.(string)), append(vals, v)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		t.Fatalf("object not closed: %s", b)
	}
	if dec.More() {
		t.Fatalf("bytes after the object: %s", b)
	}
	return keys, vals
}

func TestObjectMatchesRowArray(t *testing.T) {
	for _, r := range hubSampleRows() {
		arr := r.AppendJSON(nil)
		obj := AppendObject(nil, r)
		var cols []json.RawMessage
		if err := json.Unmarshal(arr, &cols); err != nil {
			t.Fatalf("AppendJSON: %v: %s", err, arr)
		}
		keys, vals := hubObjectFields(t, obj)
		want := hubObjectNames[hubRowFormat(r)]
		if !reflect.DeepEqual(keys, want) {
			t.Errorf("keys of %s\n got %v\nwant %v", obj, keys, want)
			continue
		}
		if len(cols) != len(want) {
			t.Fatalf("%d columns in %s, %d names", len(cols), arr, len(want))
		}
		var m map[string]any
		if err := json.Unmarshal(obj, &m); err != nil {
			t.Fatal(err)
		}
		for i, name := range want {
			// The same bytes, so the same number formatting and escaping.
			if !bytes.Equal(vals[i], cols[i]) {
				t.Errorf("%s: object has %s, array column %d has %s", name, vals[i], i, cols[i])
			}
			var col any
			if err := json.Unmarshal(cols[i], &col); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m[name], col) {
				t.Errorf("%s: decoded %#v, column %d decodes to %#v", name, m[name], i, col)
			}
		}
	}
}

// hubOtherRow is a Row that is none of probe's types.
type hubOtherRow struct{ probe.Row }

func TestObjectOfOtherRowType(t *testing.T) {
	for _, r := range hubSampleRows() {
		got := AppendObject(nil, hubOtherRow{r})
		if want := AppendObject(nil, r); !bytes.Equal(got, want) {
			t.Errorf("got %s\nwant %s", got, want)
		}
	}
	if got := AppendObject([]byte("x"), nil); string(got) != "xnull" {
		t.Errorf("nil row: %s", got)
	}
	if got := AppendObject(nil, (*probe.StatRow)(nil)); string(got) != "null" {
		t.Errorf("nil *StatRow: %s", got)
	}
}

func TestObjectAppendsWithoutAllocating(t *testing.T) {
	buf := make([]byte, 0, 4096)
	for _, r := range hubSampleRows() {
		if n := testing.AllocsPerRun(100, func() { buf = AppendObject(buf[:0], r) }); n != 0 {
			t.Errorf("format %d: %v allocations", hubRowFormat(r), n)
		}
	}
}

func BenchmarkAppendObject(b *testing.B) {
	names := map[int]string{99: "stats", 0: "flow", 1: "http", 2: "tls", 3: "rtp", 100: "host"}
	seen := map[int]bool{}
	for _, r := range hubSampleRows() {
		f := hubRowFormat(r)
		if seen[f] {
			continue
		}
		seen[f] = true
		b.Run(names[f], func(b *testing.B) {
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendObject(buf[:0], r)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}
