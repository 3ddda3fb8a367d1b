package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"edgestat/probe"
)

// The live tests build their own network: two network namespaces joined by
// a veth pair, made with iproute2 and deleted in t.Cleanup. Frames carry
// link-local addresses (169.254.0.0/16) and never leave the pair; the
// loopback test talks to 127.0.0.1 inside its own namespace.

// needLive skips (fails in CI) without root and iproute2.
func needLive(t testing.TB) {
	t.Helper()
	var why string
	if os.Geteuid() != 0 {
		why = "not running as root"
	} else if _, err := exec.LookPath("ip"); err != nil {
		why = "no ip command (apt-get install iproute2)"
	}
	if why == "" {
		return
	}
	msg := "live capture test needs root and iproute2: " + why
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip("*** SKIPPED *** " + msg)
}

func ipCmd(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		if os.Getenv("CI") != "true" && errors.Is(err, exec.ErrNotFound) {
			t.Skip("live capture test needs root and iproute2: " + msg)
		}
		t.Fatal(msg)
	}
}

// inNetns runs fn on a thread moved into the named network namespace:
// the sockets fn opens stay in that namespace wherever they are used.
func inNetns(ns string, fn func() error) error {
	runtime.LockOSThread()
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer self.Close()
	var target *os.File
	for _, dir := range []string{"/run/netns/", "/var/run/netns/"} {
		if target, err = os.Open(dir + ns); err == nil {
			break
		}
	}
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %w", ns, err)
	}
	fnErr := fn()
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread stays locked, so it ends with this goroutine.
		return fmt.Errorf("setns back: %w", err)
	}
	runtime.UnlockOSThread()
	return fnErr
}

var netnsSeq atomic.Int32

// vethPair is A:ifA <-> B:ifB, both up, IPv6 off so that nothing but the
// test's frames crosses.
type vethPair struct {
	nsA, nsB, ifA, ifB string
	macA, macB         net.HardwareAddr
}

func newVeth(t testing.TB) *vethPair {
	t.Helper()
	needLive(t)
	id := fmt.Sprintf("%d-%d", os.Getpid()%100000, netnsSeq.Add(1))
	v := &vethPair{nsA: "edgestat-a-" + id, nsB: "edgestat-b-" + id, ifA: "esa" + id, ifB: "esb" + id}
	for _, ns := range []string{v.nsA, v.nsB} {
		ipCmd(t, "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		if err := inNetns(ns, func() error {
			for _, conf := range []string{"all", "default"} {
				err := os.WriteFile("/proc/sys/net/ipv6/conf/"+conf+"/disable_ipv6", []byte("1"), 0)
				if err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		ipCmd(t, "-n", ns, "link", "set", "lo", "up")
	}
	ipCmd(t, "link", "add", v.ifA, "netns", v.nsA, "type", "veth", "peer", "name", v.ifB, "netns", v.nsB)
	ipCmd(t, "-n", v.nsA, "link", "set", v.ifA, "up")
	ipCmd(t, "-n", v.nsB, "link", "set", v.ifB, "up")
	for _, side := range []struct {
		ns, iface string
		mac       *net.HardwareAddr
	}{{v.nsA, v.ifA, &v.macA}, {v.nsB, v.ifB, &v.macB}} {
		if err := inNetns(side.ns, func() error {
			ifi, err := net.InterfaceByName(side.iface)
			if err == nil {
				*side.mac = ifi.HardwareAddr
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// openIn opens a live capture inside a namespace.
func openIn(t testing.TB, ns, iface string, opts LiveOptions) probe.Input {
	t.Helper()
	var in probe.Input
	if err := inNetns(ns, func() (err error) {
		in, err = OpenLive(iface, opts)
		return err
	}); errors.Is(err, errRing32) {
		t.Skip(err)
	} else if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

// ifStats reads an interface's packet counters in a namespace.
func ifStats(t testing.TB, ns, iface string) (rxPackets, txPackets, txDropped uint64) {
	t.Helper()
	if err := inNetns(ns, func() error {
		f, err := os.Open("/proc/thread-self/net/dev")
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			name, rest, ok := strings.Cut(sc.Text(), ":")
			if !ok || strings.TrimSpace(name) != iface {
				continue
			}
			f := strings.Fields(rest)
			n := func(i int) uint64 { v, _ := strconv.ParseUint(f[i], 10, 64); return v }
			rxPackets, txPackets, txDropped = n(1), n(9), n(11)
			return nil
		}
		return fmt.Errorf("%s not in /proc/net/dev of %s", iface, ns)
	}); err != nil {
		t.Fatal(err)
	}
	return
}

// frameMarker starts the payload of every test frame.
const frameMarker = "edgestat-cap"

// testFrame is Ethernet/IPv4/UDP from 169.254.1.1 to 169.254.1.2, size
// bytes long (at least 62), with frameMarker and then a sequence number
// (at seqAt) as payload; a vlan id other than 0 adds an 802.1Q tag.
func testFrame(t testing.TB, v *vethPair, size int, dstPort int, vlan uint16) []byte {
	t.Helper()
	e := &layers.Ethernet{SrcMAC: v.macA, DstMAC: v.macB, EthernetType: layers.EthernetTypeIPv4}
	ls := []gopacket.SerializableLayer{e}
	hdr := 14 + 20 + 8
	if vlan != 0 {
		e.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: vlan, Type: layers.EthernetTypeIPv4})
		hdr += 4
	}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 1, Protocol: layers.IPProtocolUDP,
		SrcIP: net.IPv4(169, 254, 1, 1).To4(), DstIP: net.IPv4(169, 254, 1, 2).To4()}
	payload := make([]byte, max(size-hdr, len(frameMarker)+8))
	copy(payload, frameMarker)
	ls = append(ls, ip, &layers.UDP{SrcPort: 40000, DstPort: layers.UDPPort(dstPort)}, gopacket.Payload(payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// seqAt is where testFrame keeps the sequence number.
func seqAt(vlan bool) int {
	if vlan {
		return 14 + 4 + 20 + 8 + len(frameMarker)
	}
	return 14 + 20 + 8 + len(frameMarker)
}

// sender writes frames on ifA through a packet socket that receives nothing.
type sender struct{ fd int }

func newSender(t testing.TB, v *vethPair) *sender {
	t.Helper()
	s := &sender{}
	if err := inNetns(v.nsA, func() error {
		ifi, err := net.InterfaceByName(v.ifA)
		if err != nil {
			return err
		}
		if s.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		unix.SetsockoptInt(s.fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
		return unix.Bind(s.fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index})
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(s.fd) })
	return s
}

// send writes n copies of frame, numbering them from first at payload
// offset seqAt, with sendmmsg in batches; it returns how many the kernel
// took.
func (s *sender) send(t testing.TB, frame []byte, seqAt, first, n int) int {
	t.Helper()
	const batch = 64
	bufs := make([][]byte, batch)
	iovs := make([]unix.Iovec, batch)
	msgs := make([]unix.Mmsghdr, batch)
	for i := range batch {
		bufs[i] = append([]byte(nil), frame...)
		iovs[i].Base = &bufs[i][0]
		iovs[i].SetLen(len(frame))
		msgs[i].Hdr.Iov = &iovs[i]
		msgs[i].Hdr.Iovlen = 1
	}
	sent := 0
	for sent < n {
		k := min(batch, n-sent)
		for i := range k {
			binary.BigEndian.PutUint64(bufs[i][seqAt:], uint64(first+sent+i))
		}
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(k), 0, 0, 0)
		switch errno {
		case 0:
			sent += int(r)
		case unix.ENOBUFS, unix.EAGAIN, unix.EINTR:
			time.Sleep(time.Millisecond)
		default:
			t.Fatalf("sendmmsg: %v", errno)
		}
	}
	runtime.KeepAlive(bufs)
	return sent
}

// reader counts the test frames an input returns, checking each.
type reader struct {
	in       probe.Input
	count    atomic.Int64
	vlanSeen atomic.Int64 // frames that came with an 802.1Q tag
	bad      atomic.Value // first problem found, a string
	done     chan error
}

func startReader(in probe.Input) *reader {
	r := &reader{in: in, done: make(chan error, 1)}
	go func() {
		for {
			data, ci, err := in.ReadPacket()
			if err != nil {
				r.done <- err
				return
			}
			off := 14 + 20 + 8
			if len(data) > 16 && data[12] == 0x81 && data[13] == 0x00 {
				r.vlanSeen.Add(1)
				off += 4
			}
			switch {
			case len(data) < off+len(frameMarker) || string(data[off:off+len(frameMarker)]) != frameMarker:
				r.bad.CompareAndSwap(nil, fmt.Sprintf("a frame that is not the test's: % x", data[:min(len(data), 64)]))
			case ci.CaptureLength != len(data) || ci.Length < len(data) || ci.Timestamp.IsZero():
				r.bad.CompareAndSwap(nil, fmt.Sprintf("capture info %+v for %d bytes", ci, len(data)))
			}
			r.count.Add(1)
		}
	}()
	return r
}

// settle waits until captured + dropped reaches want or nothing moves for
// a second, and returns both.
func settle(t testing.TB, r *reader, want uint64) (captured, drops uint64) {
	t.Helper()
	dc := r.in.(probe.DropCounter)
	last, still := uint64(0), time.Now()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		d, err := dc.Drops()
		if err != nil {
			t.Fatal(err)
		}
		captured, drops = uint64(r.count.Load()), d
		if captured+drops >= want {
			break
		}
		if captured+drops != last {
			last, still = captured+drops, time.Now()
		} else if time.Since(still) > time.Second {
			break
		}
	}
	return captured, drops
}

var liveModes = []struct {
	name string
	opts LiveOptions
}{
	{"ring-v3", LiveOptions{Mode: ModeRing, TPacketVersion: 3}},
	{"ring-v2", LiveOptions{Mode: ModeRing, TPacketVersion: 2}},
	{"socket", LiveOptions{Mode: ModeSocket}},
}

// TestLiveCapture sends a known number of frames through a veth pair and
// checks that the capture on the other end returns every one that arrived
// or that the kernel counted the rest as dropped: arrived == captured +
// drops, with arrived the receiving interface's rx_packets (which is sent
// minus what the veth itself dropped, also checked).
func TestLiveCapture(t *testing.T) {
	const n = 20000
	for _, mode := range liveModes {
		for _, tc := range []struct {
			name    string
			filter  string
			ring    int
			paused  bool // read only after everything was sent, from a small buffer: drops
			wantAll bool // no drop expected
		}{
			{name: "all", wantAll: true},
			{name: "filter", filter: "udp dst port 40001", wantAll: true},
			// tcpdump -ddd 'udp dst port 40001', by libpcap 1.10.3
			{name: "tcpdump-ddd", filter: strings.ReplaceAll("16;40 0 0 12;21 0 4 34525;48 0 0 20;21 0 11 17;40 0 0 56;21 8 9 40001;21 0 8 2048;48 0 0 23;21 0 6 17;40 0 0 20;69 4 0 8191;177 0 0 14;72 0 0 16;21 0 1 40001;6 0 0 262144;6 0 0 0", ";", "\n"), wantAll: true},
			{name: "overrun", ring: 1, paused: true},
		} {
			t.Run(mode.name+"/"+tc.name, func(t *testing.T) {
				v := newVeth(t)
				opts := mode.opts
				opts.Filter, opts.RingSize = tc.filter, tc.ring
				in := openIn(t, v.nsB, v.ifB, opts)
				if in.Name() != v.ifB || in.LinkType() != layers.LinkTypeEthernet {
					t.Errorf("Name %q LinkType %v", in.Name(), in.LinkType())
				}
				if l, ok := in.(interface{ Live() bool }); !ok || !l.Live() {
					t.Error("not Live")
				}
				if m := in.(interface{ Mode() Mode }).Mode(); m != mode.opts.Mode {
					t.Errorf("Mode %v", m)
				}
				t.Log(in)
				s := newSender(t, v)
				var r *reader
				if !tc.paused {
					r = startReader(in)
				}
				// Half the frames to port 40001, half to 40002; the
				// filter keeps the first half.
				sent, arrived, vethDrops := 0, uint64(0), uint64(0)
				want := uint64(0)
				for _, port := range []int{40001, 40002} {
					rx0, _, _ := ifStats(t, v.nsB, v.ifB)
					_, _, vdrop0 := ifStats(t, v.nsA, v.ifA)
					sent += s.send(t, testFrame(t, v, 64, port, 0), seqAt(false), sent, n/2)
					rx1, _, _ := ifStats(t, v.nsB, v.ifB)
					_, _, vdrop1 := ifStats(t, v.nsA, v.ifA)
					arrived += rx1 - rx0
					vethDrops += vdrop1 - vdrop0
					if tc.filter == "" || port == 40001 {
						want += rx1 - rx0
					}
				}
				if arrived+vethDrops != uint64(sent) {
					t.Errorf("sent %d, but %d arrived and the veth dropped %d", sent, arrived, vethDrops)
				}
				if tc.paused {
					time.Sleep(100 * time.Millisecond)
					r = startReader(in)
				}
				captured, drops := settle(t, r, want)
				in.Close()
				if err := <-r.done; err != io.EOF {
					t.Errorf("ReadPacket after Close: %v, want io.EOF", err)
				}
				final, err := in.(probe.DropCounter).Drops()
				if err != nil || final != drops {
					t.Errorf("Drops after Close: %d, %v; want %d", final, err, drops)
				}
				t.Logf("sent %d, veth dropped %d, arrived %d, wanted %d: captured %d + dropped by the kernel %d", sent, vethDrops, arrived, want, captured, drops)
				if bad := r.bad.Load(); bad != nil {
					t.Error(bad)
				}
				if captured+drops != want {
					t.Errorf("captured %d + dropped %d = %d, want %d", captured, drops, captured+drops, want)
				}
				if tc.wantAll && drops != 0 {
					t.Logf("note: %d dropped at a rate the capture should keep up with", drops)
				}
				if tc.paused && drops == 0 {
					t.Errorf("no drop reported after %d frames into a full buffer", want)
				}
			})
		}
	}
}

// Linux takes the 802.1Q tag off a received frame; the filter's "vlan ID"
// tests it in the packet's metadata, and the capture puts it back.
func TestLiveVLAN(t *testing.T) {
	for _, mode := range liveModes {
		t.Run(mode.name, func(t *testing.T) {
			v := newVeth(t)
			opts := mode.opts
			opts.Filter = "vlan 7 and udp port 40001"
			in := openIn(t, v.nsB, v.ifB, opts)
			r := startReader(in)
			s := newSender(t, v)
			const n = 500
			s.send(t, testFrame(t, v, 100, 40001, 7), seqAt(true), 0, n)
			s.send(t, testFrame(t, v, 100, 40001, 8), seqAt(true), 0, n)
			s.send(t, testFrame(t, v, 100, 40001, 0), seqAt(false), 0, n)
			s.send(t, testFrame(t, v, 100, 40002, 7), seqAt(true), 0, n)
			_, drops := settle(t, r, n)
			time.Sleep(100 * time.Millisecond) // anything that should not have come
			captured := uint64(r.count.Load())
			in.Close()
			<-r.done
			if captured+drops != n || r.vlanSeen.Load() != int64(captured) {
				t.Errorf("captured %d (%d with their tag) + dropped %d, want %d tagged", captured, r.vlanSeen.Load(), drops, n)
			}
			if bad := r.bad.Load(); bad != nil {
				t.Error(bad)
			}
		})
	}
}

// On lo a packet socket sees every packet twice, leaving and arriving;
// "inbound" keeps one.
func TestLiveLoopbackTwice(t *testing.T) {
	v := newVeth(t)
	var conn *net.UDPConn
	if err := inNetns(v.nsA, func() (err error) {
		// Bound to the port it sends to, so that no ICMP error comes back.
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40009})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go func() { // drain
		buf := make([]byte, 100)
		for {
			if _, _, err := conn.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	for _, mode := range liveModes {
		for _, tc := range []struct {
			filter string
			copies int
		}{{"udp dst port 40009", 2}, {"inbound and udp dst port 40009", 1}, {"outbound and udp dst port 40009", 1}} {
			t.Run(mode.name+"/"+tc.filter, func(t *testing.T) {
				opts := mode.opts
				opts.Filter = tc.filter
				in := openIn(t, v.nsA, "lo", opts)
				var count atomic.Int64
				done := make(chan error, 1)
				go func() {
					for {
						data, _, err := in.ReadPacket()
						if err != nil {
							done <- err
							return
						}
						if strings.Contains(string(data), frameMarker) {
							count.Add(1)
						}
					}
				}()
				n := 0
				for range 200 {
					if _, err := conn.WriteTo([]byte(frameMarker), conn.LocalAddr()); err == nil {
						n++
					}
				}
				captured, drops := uint64(0), uint64(0)
				for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
					drops, _ = in.(probe.DropCounter).Drops()
					if captured = uint64(count.Load()); captured+drops >= uint64(tc.copies*n) {
						break
					}
				}
				time.Sleep(100 * time.Millisecond)
				captured = uint64(count.Load())
				in.Close()
				<-done
				if captured+drops != uint64(tc.copies*n) {
					t.Errorf("%d datagrams: captured %d + dropped %d, want %d", n, captured, drops, tc.copies*n)
				}
			})
		}
	}
}

// Close ends a ReadPacket blocked on a quiet interface, and every way of
// closing leaves Drops answering.
func TestLiveClose(t *testing.T) {
	v := newVeth(t)
	for _, mode := range liveModes {
		t.Run(mode.name, func(t *testing.T) {
			in := openIn(t, v.nsB, v.ifB, mode.opts)
			done := make(chan error, 1)
			go func() {
				_, _, err := in.ReadPacket()
				done <- err
			}()
			time.Sleep(100 * time.Millisecond)
			start := time.Now()
			if err := in.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err != io.EOF {
					t.Errorf("blocked ReadPacket returned %v, want io.EOF", err)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("Close did not end a blocked ReadPacket")
			}
			t.Logf("a blocked ReadPacket returned %v after Close", time.Since(start))
			if err := in.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if _, _, err := in.ReadPacket(); err != io.EOF {
				t.Errorf("ReadPacket after Close: %v", err)
			}
			if _, err := in.(probe.DropCounter).Drops(); err != nil {
				t.Errorf("Drops after Close: %v", err)
			}

			// Close from the reading goroutine while it holds a packet.
			in = openIn(t, v.nsB, v.ifB, mode.opts)
			newSender(t, v).send(t, testFrame(t, v, 64, 40001, 0), seqAt(false), 0, 3)
			if _, _, err := in.ReadPacket(); err != nil {
				t.Fatal(err)
			}
			in.Close()
			if _, _, err := in.ReadPacket(); err != io.EOF {
				t.Errorf("ReadPacket after Close: %v", err)
			}
			if _, err := in.(probe.DropCounter).Drops(); err != nil {
				t.Errorf("Drops after Close: %v", err)
			}
		})
	}
}

func TestLiveErrors(t *testing.T) {
	if _, err := OpenLive("no-such-if0", LiveOptions{}); err == nil {
		t.Error("opened an interface that does not exist")
	}
	v := newVeth(t)
	for _, tc := range []struct {
		opts LiveOptions
		want string
	}{
		{LiveOptions{Filter: "tcp port http"}, "capture filter"},
		{LiveOptions{Filter: "{ 0x15, 0, 9, 0 },{ 0x6, 0, 0, 0 },"}, "capture filter"},
		{LiveOptions{Mode: ModeRing, TPacketVersion: 1}, "TPACKET version 1"},
		{LiveOptions{Mode: Mode(9)}, "unknown mode"},
	} {
		err := inNetns(v.nsB, func() error {
			in, err := OpenLive(v.ifB, tc.opts)
			if err == nil {
				in.Close()
			}
			return err
		})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), v.ifB) {
			t.Errorf("%+v: %v, want an error naming %s with %q", tc.opts, err, v.ifB, tc.want)
		}
	}
	if m, err := ParseMode("ring"); m != ModeRing || err != nil {
		t.Errorf("ParseMode(ring) = %v, %v", m, err)
	}
	if _, err := ParseMode("pcap"); err == nil {
		t.Error("ParseMode(pcap) succeeded")
	}
}

// A snap length keeps the start of each packet, cut by the kernel through
// the filter's return value; the length on the wire stays whole.
func TestLiveSnaplen(t *testing.T) {
	v := newVeth(t)
	for _, mode := range liveModes {
		t.Run(mode.name, func(t *testing.T) {
			opts := mode.opts
			opts.Snaplen = 80
			in := openIn(t, v.nsB, v.ifB, opts)
			newSender(t, v).send(t, testFrame(t, v, 1000, 40001, 0), seqAt(false), 0, 1)
			data, ci, err := in.ReadPacket()
			if err != nil {
				t.Fatal(err)
			}
			if len(data) != 80 || ci.CaptureLength != 80 || ci.Length != 1000 {
				t.Errorf("%d bytes, CaptureLength %d, Length %d; want 80, 80, 1000", len(data), ci.CaptureLength, ci.Length)
			}
			in.Close()
		})
	}
}

// BenchmarkLiveCapture measures capture over a veth pair: a sender thread
// writes 64-byte frames with sendmmsg as fast as it can (the kernel's
// delivery to the capture socket runs on that thread too), one goroutine
// reads them. Reported: frames captured per second, the fraction the
// kernel dropped, and the reader's own CPU time per frame.
//
//	go test -run '^$' -bench LiveCapture -benchtime 2000000x ./probe/capture/
func BenchmarkLiveCapture(b *testing.B) {
	for _, size := range []int{64, 1514} {
		for _, mode := range liveModes {
			b.Run(fmt.Sprintf("%s/%dB", mode.name, size), func(b *testing.B) {
				v := newVeth(b)
				in := openIn(b, v.nsB, v.ifB, mode.opts)
				s := newSender(b, v)
				frame := testFrame(b, v, size, 40001, 0)
				var count atomic.Int64
				var cpu time.Duration
				done := make(chan struct{})
				go func() {
					defer close(done)
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					var ru0, ru1 unix.Rusage
					unix.Getrusage(unix.RUSAGE_THREAD, &ru0)
					for {
						if _, _, err := in.ReadPacket(); err != nil {
							break
						}
						count.Add(1)
					}
					unix.Getrusage(unix.RUSAGE_THREAD, &ru1)
					cpu = time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
				}()
				b.ResetTimer()
				start := time.Now()
				sent := s.send(b, frame, seqAt(false), 0, b.N)
				captured, drops := uint64(0), uint64(0)
				for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
					drops, _ = in.(probe.DropCounter).Drops()
					if captured = uint64(count.Load()); captured+drops >= uint64(sent) {
						break
					}
				}
				elapsed := time.Since(start)
				b.StopTimer()
				in.Close()
				<-done
				b.ReportMetric(float64(captured)/elapsed.Seconds(), "captured/s")
				b.ReportMetric(float64(drops)/float64(sent), "dropped/op")
				if captured > 0 {
					b.ReportMetric(float64(cpu.Nanoseconds())/float64(captured), "reader-cpu-ns/pkt")
				}
			})
		}
	}
}

// BenchmarkDrain measures the reader alone: packets are queued while
// nobody reads, then the timed part reads them all. ns/op is the cost of
// one ReadPacket with a packet waiting: for the ring, a zero-copy read
// with no system call; for the socket, one recvmsg (whose receive buffer,
// the kernel's default of about 200 KiB, holds only some hundred frames,
// hence the small fill).
//
//	go test -run '^$' -bench Drain ./probe/capture/
func BenchmarkDrain(b *testing.B) {
	for _, mode := range liveModes {
		b.Run(mode.name+"/64B", func(b *testing.B) {
			v := newVeth(b)
			opts := mode.opts
			opts.RingSize = 64 << 20
			in := openIn(b, v.nsB, v.ifB, opts)
			s := newSender(b, v)
			frame := testFrame(b, v, 64, 40001, 0)
			fill := 30000 // fits in 64 MiB with either version (V2: 32768 frames of 2 KiB)
			if mode.opts.Mode == ModeSocket {
				fill = 150
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.StopTimer()
			for done := 0; done < b.N; {
				k := min(fill, b.N-done)
				s.send(b, frame, seqAt(false), done, k)
				if mode.opts.Mode == ModeRing {
					time.Sleep(2 * blockTimeout) // let the kernel retire the last V3 block
				}
				b.StartTimer()
				for range k {
					if _, _, err := in.ReadPacket(); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				done += k
			}
			if d, _ := in.(probe.DropCounter).Drops(); d != 0 {
				b.Errorf("%d dropped: the buffer was too small for the fill", d)
			}
		})
	}
}

// ModeAuto takes the ring, or says why it took the socket.
func TestLiveAuto(t *testing.T) {
	v := newVeth(t)
	in := openIn(t, v.nsB, v.ifB, LiveOptions{})
	want := ModeRing
	if bits.UintSize == 32 {
		want = ModeSocket
		if !strings.Contains(fmt.Sprint(in), "no ring: ") {
			t.Errorf("%v: the fallback does not say why", in)
		}
	}
	if got := in.(interface{ Mode() Mode }).Mode(); got != want {
		t.Errorf("ModeAuto chose %v, want %v", got, want)
	}
	t.Log(in)
}
