package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"edgestat/probe"
)

// testPacket is a record of a capture file written by a test.
type testPacket struct {
	ts     time.Time
	data   []byte
	length int // on the wire; len(data) when 0
}

func (p testPacket) ci() gopacket.CaptureInfo {
	n := p.length
	if n == 0 {
		n = len(p.data)
	}
	return gopacket.CaptureInfo{Timestamp: p.ts, CaptureLength: len(p.data), Length: n}
}

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 123456000, time.UTC)

// samplePackets are three records of different sizes, one cut at capture.
func samplePackets() []testPacket {
	big := bytes.Repeat([]byte{0xab}, 1500)
	return []testPacket{
		{ts: t0, data: []byte("first packet, 28 bytes long.")},
		{ts: t0.Add(1500 * time.Microsecond), data: big[:100], length: 1500},
		{ts: t0.Add(2 * time.Second), data: big},
	}
}

// pcapBytes writes a pcap file (nanosecond timestamps when nano).
func pcapBytes(t testing.TB, link layers.LinkType, nano bool, pkts []testPacket) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if nano {
		w = pcapgo.NewWriterNanos(&buf)
	}
	if err := w.WriteFileHeader(65536, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		if err := w.WritePacket(p.ci(), p.data); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// pcapngBytes writes a pcapng file with one interface.
func pcapngBytes(t testing.TB, link layers.LinkType, pkts []testPacket) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, link)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		if err := w.WritePacket(p.ci(), p.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// readAll reads an input to its end, copying each packet.
func readAll(t testing.TB, in probe.Input) ([]testPacket, error) {
	t.Helper()
	var got []testPacket
	for {
		data, ci, err := in.ReadPacket()
		if err != nil {
			return got, err
		}
		if ci.CaptureLength != len(data) {
			t.Fatalf("packet %d: CaptureLength %d, data %d bytes", len(got)+1, ci.CaptureLength, len(data))
		}
		got = append(got, testPacket{ts: ci.Timestamp, data: bytes.Clone(data), length: ci.Length})
	}
}

func TestOpenFormats(t *testing.T) {
	pkts := samplePackets()
	tests := []struct {
		name   string
		bytes  []byte
		format string
	}{
		{"micro.pcap", pcapBytes(t, layers.LinkTypeEthernet, false, pkts), "pcap"},
		{"nano.pcap", pcapBytes(t, layers.LinkTypeEthernet, true, pkts), "pcap"},
		{"big-endian.pcap", bigEndianPcap(pkts), "pcap"},
		{"a.pcapng", pcapngBytes(t, layers.LinkTypeEthernet, pkts), "pcapng"},
		{"a.pcap.gz", gzipBytes(t, pcapBytes(t, layers.LinkTypeEthernet, true, pkts)), "pcap (gzip)"},
		{"misnamed.pcap", gzipBytes(t, pcapngBytes(t, layers.LinkTypeEthernet, pkts)), "pcapng (gzip)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := Open(writeFile(t, tt.name, tt.bytes), FileOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			if got := in.Name(); got != tt.name {
				t.Errorf("Name() = %q, want %q", got, tt.name)
			}
			if got := in.LinkType(); got != layers.LinkTypeEthernet {
				t.Errorf("LinkType() = %v, want Ethernet", got)
			}
			if got := in.(interface{ Format() string }).Format(); got != tt.format {
				t.Errorf("Format() = %q, want %q", got, tt.format)
			}
			if _, ok := in.(interface{ Live() bool }); ok {
				t.Error("a file claims to be live")
			}
			got, err := readAll(t, in)
			if err != io.EOF {
				t.Fatalf("end: %v, want io.EOF", err)
			}
			if len(got) != len(pkts) {
				t.Fatalf("read %d packets, want %d", len(got), len(pkts))
			}
			for i, want := range pkts {
				g := got[i]
				if !bytes.Equal(g.data, want.data) || g.length != want.ci().Length {
					t.Errorf("packet %d: %d of %d bytes, want %d of %d", i+1, len(g.data), g.length, len(want.data), want.ci().Length)
				}
				// Microsecond files keep microseconds; all of these are whole microseconds.
				if !g.ts.Equal(want.ts) {
					t.Errorf("packet %d: time %v, want %v", i+1, g.ts, want.ts)
				}
			}
			if _, _, err := in.ReadPacket(); err != io.EOF {
				t.Errorf("after the end: %v, want io.EOF again", err)
			}
		})
	}
}

// bigEndianPcap writes a microsecond pcap in big-endian byte order, as
// SPARC and PowerPC machines did.
func bigEndianPcap(pkts []testPacket) []byte {
	be := binary.BigEndian
	b := be.AppendUint32(nil, magicPcapMicro)
	b = be.AppendUint16(b, 2)
	b = be.AppendUint16(b, 4)
	b = be.AppendUint64(b, 0)
	b = be.AppendUint32(b, 65536)
	b = be.AppendUint32(b, uint32(layers.LinkTypeEthernet))
	for _, p := range pkts {
		ci := p.ci()
		b = be.AppendUint32(b, uint32(p.ts.Unix()))
		b = be.AppendUint32(b, uint32(p.ts.Nanosecond()/1000))
		b = be.AppendUint32(b, uint32(ci.CaptureLength))
		b = be.AppendUint32(b, uint32(ci.Length))
		b = append(b, p.data...)
	}
	return b
}

// The input reports whatever link type the file declares: the pipeline
// decides what it can decode.
func TestOpenLinkTypes(t *testing.T) {
	pkts := samplePackets()[:1]
	for _, lt := range []layers.LinkType{layers.LinkTypeRaw, layers.LinkTypeLinuxSLL, layers.LinkTypeIEEE80211Radio, 147} {
		for _, f := range []struct {
			name string
			b    []byte
		}{{"x.pcap", pcapBytes(t, lt, false, pkts)}, {"x.pcapng", pcapngBytes(t, lt, pkts)}} {
			in, err := Open(writeFile(t, f.name, f.b), FileOptions{})
			if err != nil {
				t.Fatalf("%s %v: %v", f.name, lt, err)
			}
			if got := in.LinkType(); got != lt {
				t.Errorf("%s: LinkType() = %v, want %v", f.name, got, lt)
			}
			if got, err := readAll(t, in); len(got) != 1 || err != io.EOF {
				t.Errorf("%s %v: %d packets, %v", f.name, lt, len(got), err)
			}
			in.Close()
		}
	}
}

func TestOpenBroken(t *testing.T) {
	good := pcapBytes(t, layers.LinkTypeEthernet, false, samplePackets())
	goodNG := pcapngBytes(t, layers.LinkTypeEthernet, samplePackets())
	lastLen := len(samplePackets()[2].data)

	// A record whose capture length exceeds anything libpcap takes.
	huge := bytes.Clone(good[:24+16])
	binary.LittleEndian.PutUint32(huge[24+8:], 1<<30)
	binary.LittleEndian.PutUint32(huge[24+12:], 1<<30)

	// A pcapng file whose second interface has another link type.
	var mixed bytes.Buffer
	w, err := pcapgo.NewNgWriter(&mixed, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	id, err := w.AddInterface(pcapgo.NgInterface{LinkType: layers.LinkTypeRaw, SnapLength: 65536})
	if err != nil {
		t.Fatal(err)
	}
	w.WritePacket(gopacket.CaptureInfo{Timestamp: t0, CaptureLength: 4, Length: 4}, []byte("eth!"))
	w.WritePacket(gopacket.CaptureInfo{Timestamp: t0, CaptureLength: 4, Length: 4, InterfaceIndex: id}, []byte("raw!"))
	w.Flush()

	tests := []struct {
		name     string
		b        []byte
		openErr  string // part of Open's error; "" when Open succeeds
		packets  int    // read before the error
		readErr  string
		sentinel error
	}{
		{name: "empty", b: nil, openErr: "not a pcap or pcapng capture", sentinel: ErrFormat},
		{name: "text", b: []byte("GET / HTTP/1.1\r\n\r\n"), openErr: "magic number 0x20544547", sentinel: ErrFormat},
		{name: "gzip text", b: gzipBytes(t, []byte("hello, world")), openErr: "not a pcap", sentinel: ErrFormat},
		{name: "pcap header cut", b: good[:20], openErr: "pcap header", sentinel: io.ErrUnexpectedEOF},
		{name: "pcap version", b: append(append(bytes.Clone(good[:4]), 9, 0), good[6:]...), openErr: "Unknown major version 9"},
		{name: "pcapng header cut", b: goodNG[:10], openErr: "pcapng header", sentinel: io.ErrUnexpectedEOF},
		{name: "record header cut", b: good[:len(good)-lastLen-8], packets: 2, readErr: "packet 3: file cut short", sentinel: io.ErrUnexpectedEOF},
		{name: "record data cut", b: good[:len(good)-10], packets: 2, readErr: "packet 3: file cut short", sentinel: io.ErrUnexpectedEOF},
		{name: "pcapng block cut", b: goodNG[:len(goodNG)-10], packets: 2, readErr: "packet 3: file cut short", sentinel: io.ErrUnexpectedEOF},
		{name: "huge record", b: huge, readErr: "packet 1: capture length exceeds"},
		{name: "mixed link types", b: mixed.Bytes(), packets: 1, readErr: "packet 2: an interface's link type differs", sentinel: pcapgo.ErrNgLinkTypeMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := Open(writeFile(t, "broken.pcap", tt.b), FileOptions{})
			if tt.openErr != "" {
				if err == nil {
					in.Close()
					t.Fatalf("Open succeeded, want an error with %q", tt.openErr)
				}
				check(t, err, tt.openErr, tt.sentinel)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			got, err := readAll(t, in)
			if len(got) != tt.packets {
				t.Errorf("read %d packets before the error, want %d", len(got), tt.packets)
			}
			check(t, err, tt.readErr, tt.sentinel)
			if _, _, err2 := in.ReadPacket(); err2 != err {
				t.Errorf("error is not sticky: then %v, now %v", err, err2)
			}
		})
	}
	// A gzip stream cut anywhere fails with io.ErrUnexpectedEOF, when
	// opening or when reading: where depends on how deflate packed it.
	gz := gzipBytes(t, good)
	for cut := 10; cut < len(gz); cut += 7 {
		in, err := NewReader(bytes.NewReader(gz[:cut]), "broken.pcap", FileOptions{})
		if err == nil {
			_, err = readAll(t, in)
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "broken.pcap") {
			t.Errorf("gzip cut at %d of %d bytes: %v", cut, len(gz), err)
		}
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.pcap"), FileOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want os.ErrNotExist", err)
	}
	if _, err := Open(writeFile(t, "ok.pcap", good), FileOptions{Speed: -1}); err == nil {
		t.Error("negative speed accepted")
	}
}

func check(t *testing.T, err error, want string, sentinel error) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want one containing %q", err, want)
	}
	if err != nil && !strings.Contains(err.Error(), "broken.pcap") {
		t.Errorf("error %q does not name the file", err)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Errorf("error %v does not wrap %v", err, sentinel)
	}
}

func TestRecordedSpeed(t *testing.T) {
	var pkts []testPacket
	for i := range 4 {
		pkts = append(pkts, testPacket{ts: t0.Add(time.Duration(i) * 100 * time.Millisecond), data: []byte{byte(i)}})
	}
	path := writeFile(t, "paced.pcap", pcapBytes(t, layers.LinkTypeEthernet, true, pkts))
	for _, tt := range []struct {
		speed    float64
		min, max time.Duration
	}{
		{0, 0, 50 * time.Millisecond},
		{1, 300 * time.Millisecond, 600 * time.Millisecond},
		{3, 100 * time.Millisecond, 300 * time.Millisecond},
	} {
		in, err := Open(path, FileOptions{Speed: tt.speed})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		got, err := readAll(t, in)
		took := time.Since(start)
		in.Close()
		if len(got) != 4 || err != io.EOF {
			t.Fatalf("speed %v: %d packets, %v", tt.speed, len(got), err)
		}
		if took < tt.min || took > tt.max {
			t.Errorf("speed %v: took %v, want %v to %v", tt.speed, took, tt.min, tt.max)
		}
	}
}

// Close interrupts a ReadPacket waiting for a packet's recorded time.
func TestCloseInterruptsPacing(t *testing.T) {
	pkts := []testPacket{{ts: t0, data: []byte{1}}, {ts: t0.Add(time.Hour), data: []byte{2}}}
	in, err := Open(writeFile(t, "slow.pcap", pcapBytes(t, layers.LinkTypeEthernet, false, pkts)), FileOptions{Speed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := in.ReadPacket(); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, func() { in.Close() })
	start := time.Now()
	if _, _, err := in.ReadPacket(); err != io.EOF {
		t.Errorf("after Close: %v, want io.EOF", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %v to interrupt the wait", took)
	}
	if err := in.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// The real public captures in the repository's testdata (see SOURCES.md
// there) open with the frame counts tshark reports.
func TestOpenRealCaptures(t *testing.T) {
	for name, want := range map[string]int{
		"smtp.pcap": 60, "be.pcap": 5, "tls-ssdp-igmp.pcapng": 44, "netbios-ns-b-register-winxp.pcap": 1,
	} {
		path := filepath.Join("..", "..", "testdata", "pcaps", name)
		if _, err := os.Stat(path); err != nil {
			t.Skipf("real captures not here: %v", err)
		}
		in, err := Open(path, FileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAll(t, in)
		in.Close()
		if err != io.EOF || len(got) != want || in.LinkType() != layers.LinkTypeEthernet {
			t.Errorf("%s: %d packets (%v), link %v; want %d Ethernet frames", name, len(got), err, in.LinkType(), want)
		}
	}
}

func BenchmarkReadFile(b *testing.B) {
	var pkts []testPacket
	for i := range 10000 {
		pkts = append(pkts, testPacket{ts: t0.Add(time.Duration(i) * time.Microsecond), data: make([]byte, 64+i%1400)})
	}
	for _, f := range []struct {
		name string
		b    []byte
	}{
		{"pcap", pcapBytes(b, layers.LinkTypeEthernet, false, pkts)},
		{"pcapng", pcapngBytes(b, layers.LinkTypeEthernet, pkts)},
		{"pcap.gz", gzipBytes(b, pcapBytes(b, layers.LinkTypeEthernet, false, pkts))},
	} {
		b.Run(f.name, func(b *testing.B) {
			path := writeFile(b, "bench."+f.name, f.b)
			b.ReportAllocs()
			b.ResetTimer()
			n := 0
			for n < b.N {
				in, err := Open(path, FileOptions{})
				if err != nil {
					b.Fatal(err)
				}
				for n < b.N {
					if _, _, err := in.ReadPacket(); err != nil {
						break
					}
					n++
				}
				in.Close()
			}
		})
	}
}
