package probe

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestStatRowFormats(t *testing.T) {
	r := &StatRow{Probe: 123, Source: "eth0", Time: 1429713111449, App: 35, Path: "99.178.354.153.35",
		TotalFlows: 321, ActiveFlows: 3, Bytes: 60, Payload: 6, Packets: 1}
	if got, want := string(r.AppendJSON(nil)), `[99,123,"eth0",1429713111449,35,"99.178.354.153.35",321,3,60,6,1]`; got != want {
		t.Errorf("JSON\n got %s\nwant %s", got, want)
	}
	if got, want := string(r.AppendCSV(nil)), `99,123,"eth0",1429713111.449,35,"99.178.354.153.35",321,3,60,6,1`; got != want {
		t.Errorf("CSV\n got %s\nwant %s", got, want)
	}
	for _, line := range []string{
		`[99,123,"eth0",1429713111449,35,"99.178.354.153.35",321,3,60,6,1]`,
		`99,123,"eth0",1429713111.449,35,"99.178.354.153.35",321,3,60,6,1`,
		"99,123,\"eth0\",1429713111.449,35,\"99.178.354.153.35\",321,3,60,6,1\r\n",
		`[99,123,"eth0",1429713111.449,35,"99.178.354.153.35",321,3,60,6,1]`, // MMT-Probe's Redis form
		` [ 99 , 123 , "eth0" , 1429713111449 , 35 , "99.178.354.153.35" , 321 , 3 , 60 , 6 , 1 ] `,
		`99,123,"eth0",1429713111.449,35,"99.178.354.153.35",321,3,60,6,1,"extra",7`,
	} {
		got, err := ParseRow([]byte(line))
		if err != nil {
			t.Errorf("ParseRow(%s): %v", line, err)
			continue
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("ParseRow(%s) = %+v", line, got)
		}
	}
	// The JSON is valid JSON.
	var v []any
	if err := json.Unmarshal(r.AppendJSON(nil), &v); err != nil || len(v) != 11 {
		t.Errorf("JSON: %v %v", v, err)
	}
}

func sampleRows() []Row {
	a4, a6 := netip.MustParseAddr("192.168.1.10"), netip.MustParseAddr("2001:db8::1")
	base := FlowRow{Probe: 9, Source: `we"ird, src`, Time: 1700000004000, FlowID: 77, StartTime: 1700000000001, IPVersion: 4,
		ServerAddr: netip.MustParseAddr("142.250.1.1"), ClientAddr: a4, ServerPort: 443, ClientPort: 50000, Transport: 6,
		ULPackets: 10, DLPackets: 12, ULBytes: 1000, DLBytes: 15000, TCPRTT: 12.345, Retransmissions: 1, AppFamily: 4,
		ContentClass: 0, Path: "99.178.354.341.427", App: 427}
	h := base
	h.Format, h.Path, h.App, h.ContentClass = FormatHTTP, "99.178.354.153.134", 134, 8
	h.ResponseTime, h.Transactions, h.InteractionTime, h.Hostname, h.MIME = 2.5, 3, 1002, "www.google.com", "text/html"
	h.Referer, h.DeviceOS, h.CDN = "http://example.org/a?b=\"c\",d\\e", "Linux", 2
	s := base
	s.Format, s.ServerName, s.CDN = FormatTLS, "www.youtube.com", 0
	r := base
	r.Format, r.IPVersion, r.ServerAddr, r.ClientAddr, r.Transport = FormatRTP, 6, a6, netip.MustParseAddr("fe80::1"), 17
	r.LossRate, r.LossBurstiness, r.MaxJitter, r.OrderErrorRate = 0.04, 2, 1.25, 0.001
	return []Row{
		&StatRow{Probe: 1, Source: "eth0", Time: 1700000005000, App: 99, Path: "99", TotalFlows: 5, ActiveFlows: 2, Bytes: 1e9, Payload: 9e8, Packets: 1e6},
		&base, &h, &s, &r,
		&HostRow{Probe: 1, Source: "eth0", Time: 1700000005000, MAC: [6]byte{2, 0, 0, 0, 0, 0xa}, IP: a4, OutBytes: 1, InBytes: 2, OutPackets: 3, InPackets: 4},
		&HostRow{Probe: 1, Source: "wlan0", Time: 1700000005000, IP: a6},
	}
}

func TestRowRoundTrip(t *testing.T) {
	for _, r := range sampleRows() {
		for _, enc := range []func([]byte) []byte{r.AppendJSON, r.AppendCSV} {
			b := enc(nil)
			got, err := ParseRow(b)
			if err != nil {
				t.Errorf("%s: %v", b, err)
				continue
			}
			if !reflect.DeepEqual(got, r) {
				t.Errorf("round trip of %s\n got %+v\nwant %+v", b, got, r)
			}
		}
		// JSON is JSON; CSV is CSV (quotes doubled), one line.
		var v []any
		if err := json.Unmarshal(r.AppendJSON(nil), &v); err != nil {
			t.Errorf("%s: %v", r.AppendJSON(nil), err)
		}
		c := r.AppendCSV(nil)
		recs, err := csv.NewReader(bytes.NewReader(c)).ReadAll()
		if err != nil || len(recs) != 1 || len(recs[0]) != len(v) || bytes.ContainsAny(c, "\r\n") {
			t.Errorf("CSV %s: %v %v", c, recs, err)
		}
	}
}

func TestParseRowErrors(t *testing.T) {
	for _, line := range []string{
		``, `[]`, `[`, `99`, `99,1,"eth0"`, `[99,1,"eth0",1,2,"99",1,1,1,1]`, `[99,1,"eth0",1,2,"99",1,1,1,1,x]`,
		`98,1,"eth0",1,2,"99",1,1,1,1,1`, `"99",1,"e",1,2,"99",1,1,1,1,1`, `99,1,"unterminated`,
		`[99,1,"eth0",1,2,"99",1,1,1,1,1`, `99,-1,"eth0",1,2,"99",1,1,1,1,1`, `99,1,"eth0",1,2,"99",1,1,1,1,1e400`,
		`100,1,"eth0",1,"zz:00:00:00:00:00","192.168.1.1",1,1,1,1`, `100,1,"eth0",1,"","300.1.1.1",1,1,1,1`,
		`1,1,"eth0",1,1,1,4,"1.1.1.1","1.1.1.1",80,1,6,1,1,1,1,0,0,1,8,"99",99`, // format 1 without its tail
		`[99,1,"a\q",1,2,"99",1,1,1,1,1]`, `[99,1,"eth0",,2,"99",1,1,1,1,1]`, `0,1,"e",1,1,1,9,"1.1.1.1","1.1.1.1",1,1,6,1,1,1,1,0,0,1,8,"99",99`,
		strings.Repeat("1,", 100) + "1",
	} {
		if r, err := ParseRow([]byte(line)); err == nil || !errors.Is(err, ErrRow) {
			t.Errorf("ParseRow(%q) = %+v, %v; want an ErrRow", line, r, err)
		}
	}
}

// TestProtocolTable checks protocol_ids.go against the CSV it comes from.
func TestProtocolTable(t *testing.T) {
	f, err := os.Open("testdata/mmt_protocol_ids.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs[1:] {
		id, _ := strconv.Atoi(r[0])
		name := r[1]
		if name == "" {
			name = r[4]
		}
		if id > 1 && ProtocolName(uint32(id)) != strings.ToUpper(name) {
			t.Errorf("id %d: %q, CSV %q", id, ProtocolName(uint32(id)), name)
		}
		if r[2] != "" && strconv.Itoa(int(ProtocolCategory(uint32(id)))) != r[2] {
			t.Errorf("id %d: category %d, CSV %s", id, ProtocolCategory(uint32(id)), r[2])
		}
	}
	for id, name := range map[uint32]string{99: "ETHERNET", 178: "IP", 354: "TCP", 153: "HTTP", 134: "GOOGLE", 661: "QUIC_IETF", 0: "UNKNOWN", 5000: "5000"} {
		if got := ProtocolName(id); got != name {
			t.Errorf("ProtocolName(%d) = %s, want %s", id, got, name)
		}
	}
	if got := PathName("99.178.354.153.134"); got != "ETHERNET.IP.TCP.HTTP.GOOGLE" {
		t.Errorf("PathName = %s", got)
	}
	if CategoryName(15) != "CDN" || CategoryName(ProtocolCategory(idYouTube)) != "Streaming" {
		t.Error("category names")
	}
}

func FuzzParseRow(f *testing.F) {
	for _, r := range sampleRows() {
		f.Add(r.AppendJSON(nil))
		f.Add(r.AppendCSV(nil))
	}
	f.Add([]byte(`99,123,"eth0",1429713111.449,35,"99.178.354.153.35",321,3,60,6,1`))
	f.Add([]byte(`[99,1,"a\u00e9\n\"",1,2,"99",1,1,1,1,null]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRow(b)
		if err != nil {
			if r != nil || !errors.Is(err, ErrRow) {
				t.Fatalf("ParseRow: %v, %v", r, err)
			}
			return
		}
		// What parses, re-encodes, and the encodings parse back to a
		// fixed point.
		for _, enc := range []func(Row, []byte) []byte{Row.AppendJSON, Row.AppendCSV} {
			b1 := enc(r, nil)
			r1, err := ParseRow(b1)
			if err != nil {
				t.Fatalf("re-parse of %q (from %q): %v", b1, b, err)
			}
			if b2 := enc(r1, nil); !bytes.Equal(b1, b2) {
				t.Fatalf("not a fixed point:\n%q\n%q", b1, b2)
			}
		}
	})
}

// The column writers' shortcuts write what strconv and netip write.
func TestAppendShortcuts(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 100000 {
		v := uint64(i)
		if i > 1000 {
			v = r.Uint64() >> r.IntN(64)
		}
		if got, want := string(appendUint(nil, v)), strconv.FormatUint(v, 10)+","; got != want {
			t.Fatalf("appendUint(%d) = %q", v, got)
		}
		a := netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.IntN(10)), byte(r.IntN(100))})
		if got, want := string(appendAddr(nil, a)), `"`+a.String()+`",`; got != want {
			t.Fatalf("appendAddr(%v) = %q", a, got)
		}
	}
	for _, s := range []string{"", "eth0", `a"b`, "a\\b", "a\nb", "\x00"} {
		for _, js := range []bool{false, true} {
			if plainText(s) && string(appendStr(nil, s, js)) != `"`+s+`",` {
				t.Errorf("appendStr(%q, %v) = %q", s, js, appendStr(nil, s, js))
			}
		}
	}
	if got := string(appendAddr(nil, netip.MustParseAddr("2001:db8::1"))); got != `"2001:db8::1",` {
		t.Errorf("IPv6: %q", got)
	}
	if got := string(appendFloat(nil, 0)) + string(appendFloat(nil, math.NaN())) + string(appendFloat(nil, 1.5)); got != "0,0,1.5," {
		t.Errorf("floats: %q", got)
	}
}
