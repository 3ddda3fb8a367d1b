package capture

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// FuzzReadCapture opens arbitrary bytes as a capture file and reads every
// packet: no panic, no endless loop, a packet's data as long as its
// CaptureLength, and an error that stays once given.
//
//	go test -run '^$' -fuzz FuzzReadCapture -fuzztime 30s ./probe/capture/
func FuzzReadCapture(f *testing.F) {
	pkts := samplePackets()
	pcap := pcapBytes(f, layers.LinkTypeEthernet, false, pkts)
	ng := pcapngBytes(f, layers.LinkTypeEthernet, pkts)
	for _, seed := range [][]byte{
		pcap, pcapBytes(f, layers.LinkTypeRaw, true, pkts), bigEndianPcap(pkts), ng,
		gzipBytes(f, pcap), gzipBytes(f, ng), pcap[:40], ng[:60], nil, {0x1f, 0x8b},
	} {
		f.Add(seed)
	}
	real, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "pcaps", "*.pcap*"))
	for _, path := range real {
		if b, err := os.ReadFile(path); err == nil && len(b) < 16<<10 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := NewReader(bytes.NewReader(b), "fuzz", FileOptions{})
		if err != nil {
			if in != nil {
				t.Fatal("an Input with an error")
			}
			return
		}
		defer in.Close()
		in.LinkType()
		// Every record takes at least 8 bytes of the input, uncompressed;
		// deflate packs at most 1032 bytes in one.
		for n := 0; n <= len(b)*1032/8+1; n++ {
			data, ci, err := in.ReadPacket()
			if err != nil {
				if _, _, again := in.ReadPacket(); again != err {
					t.Fatalf("error %v, then %v", err, again)
				}
				if err != io.EOF && err.Error() == "" {
					t.Fatal("empty error")
				}
				return
			}
			if len(data) != ci.CaptureLength {
				t.Fatalf("packet %d: %d bytes, CaptureLength %d", n+1, len(data), ci.CaptureLength)
			}
		}
		t.Fatalf("more packets than the input can hold")
	})
}

// FuzzCompileFilter compiles arbitrary text: no panic, and every program
// it gives passes the kernel's structural checks; the ones without Linux
// extensions also run in golang.org/x/net/bpf's VM.
//
//	go test -run '^$' -fuzz FuzzCompileFilter -fuzztime 30s ./probe/capture/
func FuzzCompileFilter(f *testing.F) {
	for _, exprs := range tcpdumpExprs {
		for _, e := range exprs {
			f.Add(e)
		}
	}
	for _, e := range []string{"vlan 7 and inbound", "1\n6 0 0 0", "{ 0x6, 0, 0, 0x00040000 },", "not (", "host ::ffff:10.0.0.1", "net ::/0"} {
		f.Add(e)
	}
	n := ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolUDP)
	packet := serialize(f, eth(layers.EthernetTypeIPv4), n, withNet(udp(53, 53), n))
	f.Fuzz(func(t *testing.T, filter string) {
		for _, lt := range []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw} {
			prog, err := CompileFilter(filter, lt, 0)
			if err != nil {
				if !errors.Is(err, ErrFilter) {
					t.Fatalf("%q: error %v does not wrap ErrFilter", filter, err)
				}
				continue
			}
			if err := checkProgram(prog); err != nil {
				t.Fatalf("%q: %v\n%v", filter, err, prog)
			}
			if _, err := bpf.Assemble(prog); err != nil {
				t.Fatalf("%q: %v", filter, err)
			}
			if vm, err := bpf.NewVM(prog); err == nil {
				if _, err := vm.Run(packet); err != nil {
					t.Fatalf("%q: %v", filter, err)
				}
			}
		}
	})
}
