package capture

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

var update = flag.Bool("update", false, "rewrite testdata/tcpdump-dd.txt with the installed tcpdump")

// A corpus packet: a name and its bytes from the Ethernet header on.
type corpusPacket struct {
	name string
	data []byte
}

var (
	mac1  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	mac2  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	bcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
)

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

func eth(t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: mac1, DstMAC: mac2, EthernetType: t}
}

func ip4(src, dst string, p layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: p, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
}

func ip6(src, dst string, nh layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: nh, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
}

func tcp(sp, dp int) *layers.TCP {
	return &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), SYN: true, Window: 1024}
}
func udp(sp, dp int) *layers.UDP {
	return &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
}

func withNet[T interface {
	gopacket.SerializableLayer
	SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
}](l T, n gopacket.NetworkLayer) T {
	l.SetNetworkLayerForChecksum(n)
	return l
}

// filterCorpus is a set of Ethernet frames covering the primitives, with
// the real captures of the repository's testdata when they are there.
func filterCorpus(t testing.TB) []corpusPacket {
	payload := gopacket.Payload("some payload bytes")
	v4 := func(src, dst string, p layers.IPProtocol) *layers.IPv4 { return ip4(src, dst, p) }
	var c []corpusPacket
	add := func(name string, ls ...gopacket.SerializableLayer) {
		c = append(c, corpusPacket{name, serialize(t, ls...)})
	}
	n := v4("10.0.0.1", "10.0.0.2", layers.IPProtocolTCP)
	add("tcp4", eth(layers.EthernetTypeIPv4), n, withNet(tcp(12345, 80), n), payload)
	n = v4("10.0.0.2", "10.0.0.1", layers.IPProtocolTCP)
	n.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}} // IHL 6
	add("tcp4-options", eth(layers.EthernetTypeIPv4), n, withNet(tcp(443, 5555), n), payload)
	n = v4("192.168.1.10", "224.0.0.251", layers.IPProtocolUDP)
	add("udp4-mdns", &layers.Ethernet{SrcMAC: mac1, DstMAC: bcast, EthernetType: layers.EthernetTypeIPv4}, n, withNet(udp(5353, 5353), n), payload)
	n = v4("10.0.0.2", "10.0.0.1", layers.IPProtocolUDP)
	add("udp4-dns", eth(layers.EthernetTypeIPv4), n, withNet(udp(53, 40000), n), payload)
	n = v4("10.0.0.1", "10.0.0.2", layers.IPProtocolUDP)
	n.FragOffset = 185 // a later fragment: its first bytes look like ports 80 -> 80
	add("udp4-fragment", eth(layers.EthernetTypeIPv4), n, gopacket.Payload{0, 80, 0, 80, 1, 2, 3, 4})
	n = v4("10.0.0.1", "8.8.8.8", layers.IPProtocolICMPv4)
	add("icmp4", eth(layers.EthernetTypeIPv4), n, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}, payload)
	n = v4("10.0.0.5", "224.0.0.1", layers.IPProtocolIGMP)
	add("igmp4", eth(layers.EthernetTypeIPv4), n, gopacket.Payload{0x11, 0x64, 0xee, 0x9b, 0, 0, 0, 0})
	n = v4("10.0.0.1", "10.0.0.9", layers.IPProtocolGRE)
	add("gre4", eth(layers.EthernetTypeIPv4), n, gopacket.Payload{0, 0, 0x08, 0})
	n = v4("10.0.0.1", "10.0.0.9", layers.IPProtocolSCTP)
	add("sctp4", eth(layers.EthernetTypeIPv4), n, gopacket.Payload{0x0b, 0x59, 0x0b, 0x59, 0, 0, 0, 1, 0, 0, 0, 0})
	n6 := ip6("2001:db8::1", "2001:db8::2", layers.IPProtocolTCP)
	add("tcp6", eth(layers.EthernetTypeIPv6), n6, withNet(tcp(1234, 80), n6), payload)
	n6 = ip6("fe80::1", "ff02::1:2", layers.IPProtocolUDP)
	add("udp6-dhcp", eth(layers.EthernetTypeIPv6), n6, withNet(udp(546, 547), n6), payload)
	n6 = ip6("2001:db8::2", "2001:db8::1", layers.IPProtocolIPv6Fragment)
	add("udp6-fragment", eth(layers.EthernetTypeIPv6), n6,
		&layers.IPv6Fragment{NextHeader: layers.IPProtocolUDP, Identification: 7, MoreFragments: true},
		gopacket.Payload{0, 53, 0x9c, 0x40, 0, 16, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8})
	n6 = ip6("fe80::1", "ff02::1", layers.IPProtocolICMPv6)
	add("icmp6", eth(layers.EthernetTypeIPv6), n6, withNet(&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}, n6), payload)
	arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPRequest, SourceHwAddress: mac1, SourceProtAddress: []byte{10, 0, 0, 1},
		DstHwAddress: make([]byte, 6), DstProtAddress: []byte{10, 0, 0, 2}}
	add("arp", &layers.Ethernet{SrcMAC: mac1, DstMAC: bcast, EthernetType: layers.EthernetTypeARP}, arp)
	add("rarp", &layers.Ethernet{SrcMAC: mac2, DstMAC: bcast, EthernetType: 0x8035}, arp)
	add("lldp", &layers.Ethernet{SrcMAC: mac2, DstMAC: net.HardwareAddr{0x01, 0x80, 0xc2, 0, 0, 0x0e}, EthernetType: 0x88cc}, payload)
	n = v4("10.0.0.1", "10.0.0.2", layers.IPProtocolUDP)
	add("vlan10-udp4", eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeIPv4}, n, withNet(udp(1000, 53), n), payload)
	n = v4("10.0.0.3", "10.0.0.4", layers.IPProtocolUDP)
	add("udp4-big", eth(layers.EthernetTypeIPv4), n, withNet(udp(5000, 6000), n), gopacket.Payload(make([]byte, 1400)))
	c = append(c, corpusPacket{"short", []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}})
	c = append(c, corpusPacket{"eth-only", c[0].data[:14]})
	c = append(c, corpusPacket{"ip4-cut", c[0].data[:30]})

	real, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "pcaps", "*.pcap*"))
	for _, path := range real {
		in, err := Open(path, FileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; ; i++ {
			data, _, err := in.ReadPacket()
			if err != nil {
				break
			}
			c = append(c, corpusPacket{fmt.Sprintf("%s#%d", filepath.Base(path), i), bytes.Clone(data)})
		}
		in.Close()
	}
	return c
}

// rawCorpus is the IP packets of the corpus without their Ethernet header.
func rawCorpus(c []corpusPacket) []corpusPacket {
	var out []corpusPacket
	for _, p := range c {
		if len(p.data) > 14 && (bytes.Equal(p.data[12:14], []byte{0x08, 0}) || bytes.Equal(p.data[12:14], []byte{0x86, 0xdd})) {
			out = append(out, corpusPacket{p.name, p.data[14:]})
		}
	}
	return out
}

// run runs a program in golang.org/x/net/bpf's VM.
func run(t *testing.T, prog []bpf.Instruction, data []byte) int {
	t.Helper()
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatalf("VM refuses the program: %v", err)
	}
	n, err := vm.Run(data)
	if err != nil {
		t.Fatalf("VM: %v", err)
	}
	return n
}

func matching(t *testing.T, prog []bpf.Instruction, corpus []corpusPacket) []string {
	var names []string
	for _, p := range corpus {
		if run(t, prog, p.data) > 0 {
			names = append(names, p.name)
		}
	}
	return names
}

// Hand-checked expectations over the built packets.
func TestFilterExpressions(t *testing.T) {
	var corpus []corpusPacket
	for _, p := range filterCorpus(t) {
		if !strings.Contains(p.name, "#") {
			corpus = append(corpus, p)
		}
	}
	tests := []struct{ expr, want string }{
		{"tcp", "tcp4 tcp4-options tcp6 ip4-cut"}, // the protocol byte is there
		{"udp", "udp4-mdns udp4-dns udp4-fragment udp6-dhcp udp6-fragment udp4-big"},
		{"tcp port 80", "tcp4 tcp6"},
		{"port 80", "tcp4 tcp6"}, // not the later fragment whose bytes look like port 80
		{"src port 443", "tcp4-options"},
		{"port 53", "udp4-dns"}, // the IPv6 fragment header hides the port, as in libpcap
		{"udp and dst port 53", ""},
		{"sctp port 2905", "sctp4"},
		{"portrange 5000-6000", "tcp4-options udp4-mdns udp4-big"},
		{"host 10.0.0.2", "tcp4 tcp4-options udp4-dns udp4-fragment arp rarp"},
		{"ip host 10.0.0.2", "tcp4 tcp4-options udp4-dns udp4-fragment"},
		{"dst host 10.0.0.2 and not arp", "tcp4 udp4-fragment rarp"},
		{"net 224.0.0.0/4", "udp4-mdns igmp4"},
		{"src net 2001:db8::/32", "tcp6 udp6-fragment"},
		{"ip6 dst net ff00::/8", "udp6-dhcp icmp6"},
		{"icmp or icmp6", "icmp4 icmp6"},
		{"igmp || ip proto 47", "igmp4 gre4"},
		{"ether src 02:00:00:00:00:02", "rarp lldp"},
		{"ether dst ff:ff:ff:ff:ff:ff and !arp", "udp4-mdns rarp"},
		{"ether proto 0x88cc", "lldp"},
		{"greater 1000", "udp4-big"},
		{"less 14", "short eth-only"},
		{"not (ip or ip6 or arp)", "rarp lldp vlan10-udp4"}, // a load past the end rejects
		{"ip proto 17 and not udp port 53", "udp4-mdns udp4-fragment udp4-big"},
		{"ip6 proto 44", "udp6-fragment"},
		{"SRC 10.0.0.1 && Dst 10.0.0.2", "tcp4 udp4-fragment arp rarp"},
	}
	for _, tt := range tests {
		prog, err := CompileFilter(tt.expr, layers.LinkTypeEthernet, 0)
		if err != nil {
			t.Errorf("%q: %v", tt.expr, err)
			continue
		}
		got := strings.Join(matching(t, prog, corpus), " ")
		if got != tt.want {
			t.Errorf("%q matches [%s], want [%s]", tt.expr, got, tt.want)
		}
	}
}

// The expressions the package compiles, and libpcap's programs for them.
var tcpdumpExprs = map[string][]string{
	"EN10MB": {
		"ip", "ip6", "arp", "rarp", "tcp", "udp", "sctp", "icmp", "icmp6", "igmp", "proto 47",
		"not ip", "ip and not tcp", "tcp or udp", "!(tcp || udp)", "not not arp",
		"host 10.0.0.1", "src host 10.0.0.1", "dst host 10.0.0.2", "host 2001:db8::1", "ip6 host fe80::1",
		"ip host 10.0.0.1", "arp host 10.0.0.2", "src 10.0.0.2", "dst ff02::1",
		"net 10.0.0.0/8", "src net 192.168.0.0/16", "dst net 224.0.0.0/4", "net 0.0.0.0/0",
		"net 2001:db8::/32", "ip6 net fe80::/10", "dst net ff02::1:0/112",
		"port 80", "port 53", "tcp port 80", "udp port 5353", "sctp port 2905", "src port 53", "dst port 80",
		"tcp dst port 80", "udp src port 546", "portrange 1-1024", "udp portrange 5000-6000", "tcp src portrange 400-500",
		"ether host 02:00:00:00:00:01", "ether src 02:00:00:00:00:01", "ether dst ff:ff:ff:ff:ff:ff",
		"ether proto 0x88cc", "less 100", "greater 1000", "ip proto 17", "ip6 proto 58", "proto 6", "ip6 proto 44",
		"host 10.0.0.1 and port 80", "(tcp port 80 or udp port 53) and not host 10.0.0.9",
		"ip6 and udp", "tcp port 25 or arp or icmp6", "not (udp and (port 53 or port 5353))",
	},
	"RAW": {
		"ip", "ip6", "tcp", "udp", "icmp", "icmp6", "host 10.0.0.1", "src net 192.168.0.0/16",
		"host 2001:db8::2", "port 80", "udp port 5353", "portrange 1-1024", "not tcp", "ip proto 2",
	},
}

var linkTypes = map[string]layers.LinkType{"EN10MB": layers.LinkTypeEthernet, "RAW": layers.LinkTypeRaw}

const goldenPath = "testdata/tcpdump-dd.txt"

// TestFilterMatchesTcpdump runs the package's program and libpcap's for
// the same expression over every packet of the corpus, in
// golang.org/x/net/bpf's VM: they must take the same packets. libpcap's
// programs are in testdata/tcpdump-dd.txt, made by `tcpdump -r FILE -dd`
// (go test -run TestFilterMatchesTcpdump -update rewrites it); they are
// read by the package's own -dd parser.
func TestFilterMatchesTcpdump(t *testing.T) {
	if *update {
		writeGolden(t)
	}
	golden := readGolden(t)
	corpus := map[string][]corpusPacket{"EN10MB": filterCorpus(t)}
	corpus["RAW"] = rawCorpus(corpus["EN10MB"])
	for link, exprs := range tcpdumpExprs {
		for _, expr := range exprs {
			dd, ok := golden[link+": "+expr]
			if !ok {
				t.Errorf("%s %q: not in %s (run with -update)", link, expr, goldenPath)
				continue
			}
			theirs, err := CompileFilter(dd, linkTypes[link], 0)
			if err != nil {
				t.Errorf("%s %q: tcpdump's program: %v", link, expr, err)
				continue
			}
			ours, err := CompileFilter(expr, linkTypes[link], 65536) // the empty file's snap length
			if err != nil {
				t.Errorf("%s %q: %v", link, expr, err)
				continue
			}
			matched := 0
			for _, p := range corpus[link] {
				want, got := run(t, theirs, p.data), run(t, ours, p.data)
				if want != got {
					t.Errorf("%s %q on %s: libpcap returns %d, edgestat %d", link, expr, p.name, want, got)
				}
				if got > 0 {
					matched++
				}
			}
			if matched == 0 && !strings.HasPrefix(expr, "ip6 proto 44") {
				t.Logf("%s %q matches nothing in the corpus", link, expr)
			}
		}
	}
}

func readGolden(t *testing.T) map[string]string {
	f, err := os.Open(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	var key string
	var body strings.Builder
	flush := func() {
		if key != "" {
			out[key] = body.String()
		}
		body.Reset()
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			flush()
			key = strings.TrimPrefix(line, "## ")
		case strings.HasPrefix(line, "#"), line == "":
		default:
			body.WriteString(line + "\n")
		}
	}
	flush()
	return out
}

func writeGolden(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Fatalf("-update needs tcpdump: %v", err)
	}
	version, _ := exec.Command(tcpdump, "--version").CombinedOutput()
	var out bytes.Buffer
	fmt.Fprintf(&out, "# libpcap's programs for the expressions of filter_test.go, written by\n")
	fmt.Fprintf(&out, "# `go test -run TestFilterMatchesTcpdump -update` with `tcpdump -r EMPTY.pcap -dd EXPR`:\n")
	for _, l := range strings.Split(strings.TrimSpace(string(version)), "\n") {
		fmt.Fprintf(&out, "#   %s\n", l)
	}
	links := []string{"EN10MB", "RAW"}
	for _, link := range links {
		empty := writeFile(t, link+".pcap", pcapBytes(t, linkTypes[link], false, nil))
		exprs := slices.Clone(tcpdumpExprs[link])
		for _, expr := range exprs {
			cmd := exec.Command(tcpdump, "-r", empty, "-dd", expr)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			dd, err := cmd.Output()
			if err != nil {
				t.Fatalf("tcpdump -dd %q: %v: %s", expr, err, stderr.String())
			}
			fmt.Fprintf(&out, "\n## %s: %s\n%s", link, expr, dd)
		}
	}
	if err := os.WriteFile(goldenPath, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFilterRawIP(t *testing.T) {
	corpus := rawCorpus(filterCorpus(t))
	for _, tt := range []struct{ expr, want string }{
		{"ip6 and tcp", "tcp6"},
		{"udp port 5353 or icmp", "udp4-mdns icmp4"},
	} {
		prog, err := CompileFilter(tt.expr, layers.LinkTypeRaw, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, name := range matching(t, prog, corpus) {
			if !strings.Contains(name, "#") {
				got = append(got, name)
			}
		}
		if g := strings.Join(got, " "); g != tt.want {
			t.Errorf("raw %q matches [%s], want [%s]", tt.expr, g, tt.want)
		}
	}
	for _, expr := range []string{"ether host 02:00:00:00:00:01", "ether proto 1"} {
		if _, err := CompileFilter(expr, layers.LinkTypeRaw, 0); !errors.Is(err, ErrFilter) {
			t.Errorf("raw %q: %v, want an error", expr, err)
		}
	}
	for _, expr := range []string{"arp", "vlan 10", "rarp and vlan"} {
		if prog, err := CompileFilter(expr, layers.LinkTypeRaw, 0); err != nil || fmt.Sprint(prog) != "[ret #0]" {
			t.Errorf("raw %q: %v %v, want the single instruction ret #0", expr, prog, err)
		}
	}
}

func TestFilterSnaplen(t *testing.T) {
	tcp4 := filterCorpus(t)[0].data
	for _, filter := range []string{"", "tcp", "{ 0x6, 0, 0, 0x00040000 },", "1\n6 0 0 262144"} {
		prog, err := CompileFilter(filter, layers.LinkTypeEthernet, 96)
		if err != nil {
			t.Fatalf("%q: %v", filter, err)
		}
		if got := run(t, prog, tcp4); got != 96 {
			t.Errorf("%q with snaplen 96 returns %d", filter, got)
		}
		prog, _ = CompileFilter(filter, layers.LinkTypeEthernet, 0)
		if got := run(t, prog, tcp4); got != maxSnaplen {
			t.Errorf("%q without a snaplen returns %d", filter, got)
		}
	}
}

// Long expressions jump further than a conditional jump's 255
// instructions: they go through unconditional jumps, and stay right.
func TestFilterLongJumps(t *testing.T) {
	corpus := filterCorpus(t)
	var hosts []string
	for i := range 60 {
		hosts = append(hosts, fmt.Sprintf("host 10.9.%d.%d", i/250, i%250+1))
	}
	long := "(" + strings.Join(hosts, " or ") + ")"
	for _, tt := range []struct{ expr, want string }{
		{long + " or host 10.0.0.5", "igmp4"},
		{"host 10.0.0.5 or " + long, "igmp4"},
		{"not (" + long + " or not host 10.0.0.5)", "igmp4"},
		{"(" + long + " or icmp) and (" + long + " or host 8.8.8.8)", "icmp4"},
	} {
		prog, err := CompileFilter(tt.expr, layers.LinkTypeEthernet, 0)
		if err != nil {
			t.Fatal(err)
		}
		far := false
		for _, ins := range prog {
			if j, ok := ins.(bpf.Jump); ok && j.Skip > 255 {
				far = true
			}
		}
		if !far {
			t.Errorf("%d instructions and no long jump", len(prog))
		}
		var got []string
		for _, name := range matching(t, prog, corpus) {
			if !strings.Contains(name, "#") {
				got = append(got, name)
			}
		}
		if g := strings.Join(got, " "); g != tt.want {
			t.Errorf("%d-instruction filter matches [%s], want [%s]", len(prog), g, tt.want)
		}
	}
}

// The two textual forms tcpdump prints give the same program.
func TestFilterTcpdumpForms(t *testing.T) {
	dd := `{ 0x28, 0, 0, 0x0000000c },
{ 0x15, 0, 3, 0x00000800 },
{ 0x30, 0, 0, 0x00000017 },
{ 0x15, 0, 1, 0x00000011 },
{ 0x6, 0, 0, 0x00040000 },
{ 0x6, 0, 0, 0x00000000 },`
	ddd := "6\n40 0 0 12\n21 0 3 2048\n48 0 0 23\n21 0 1 17\n6 0 0 262144\n6 0 0 0\n"
	a, err := CompileFilter(dd, layers.LinkTypeEthernet, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := CompileFilter(ddd, layers.LinkTypeEthernet, 0)
	if err != nil {
		t.Fatal(err)
	}
	oneLine, err := CompileFilter(strings.ReplaceAll(dd, "\n", " "), layers.LinkTypeEthernet, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(a) != fmt.Sprint(b) || fmt.Sprint(a) != fmt.Sprint(oneLine) {
		t.Errorf("-dd %v\n-ddd %v\none line %v", a, b, oneLine)
	}
	want := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 12, Size: 2}, bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x800, SkipFalse: 3},
		bpf.LoadAbsolute{Off: 23, Size: 1}, bpf.JumpIf{Cond: bpf.JumpEqual, Val: 17, SkipFalse: 1},
		bpf.RetConstant{Val: 262144}, bpf.RetConstant{},
	}
	if fmt.Sprint(a) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", a, want)
	}
}

func TestFilterErrors(t *testing.T) {
	long := strings.Repeat("host 10.0.0.1 or ", 400) + "arp"
	for _, filter := range []string{
		"tcp port", "port http", "port 70000", "host example.com", "host 10.0.0.300", "net 10.0.0.1/8",
		"ip6 host 10.0.0.1", "ip host ::1", "tcp and", "(tcp", "tcp)", "tcp & udp", "foo", "ether host 1:2:3",
		"portrange 5-", "ip proto 300", "icmp[0] == 8", "tcp or or udp", long,
		"{ 0x6, 0, 0 }", "{ 0x6, 0, 0, 0", "{ 0x15, 0, 5, 0x1 }, { 0x6, 0, 0, 0 },", "{ 0x28, 0, 0, 12 },",
		"{ 0xffff, 0, 0, 0 },", "2\n6 0 0 0", "x{ 0x6, 0, 0, 0 }", "1\n6 0 0 0x10000000000",
	} {
		prog, err := CompileFilter(filter, layers.LinkTypeEthernet, 0)
		if !errors.Is(err, ErrFilter) {
			t.Errorf("%q: program %v, error %v; want an error wrapping ErrFilter", filter, prog, err)
		}
	}
	if _, err := CompileFilter("tcp", layers.LinkTypeIEEE80211Radio, 0); !errors.Is(err, ErrFilter) || !strings.Contains(err.Error(), "tcpdump -dd") {
		t.Errorf("802.11: %v", err)
	}
	// The live-only primitives compile; only the kernel runs them (see the live tests).
	for _, expr := range []string{"inbound", "outbound and udp", "vlan", "vlan 10 and ip"} {
		if _, err := CompileFilter(expr, layers.LinkTypeEthernet, 0); err != nil {
			t.Errorf("%q: %v", expr, err)
		}
	}
}
