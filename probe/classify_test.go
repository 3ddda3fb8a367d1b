package probe

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	lanA   = ep{mac: "02:00:00:00:00:0a", ip: "192.168.1.10", port: 50000}
	lanB   = ep{mac: "02:00:00:00:00:0b", ip: "192.168.1.11", port: 50001}
	router = ep{mac: "02:00:00:00:00:01", ip: "192.168.1.1"}
	lan6   = ep{mac: "02:00:00:00:00:0a", ip: "fe80::a", port: 546}
)

func remote(ip string, port uint16) ep { return ep{mac: router.mac, ip: ip, port: port} }

func withPort(e ep, port uint16) ep { e.port = port; return e }

// extensionsStart is the offset of a ClientHello's first extension.
func extensionsStart(h []byte) int {
	p := 43
	p += 1 + int(h[p])
	p += 2 + int(binary.BigEndian.Uint16(h[p:]))
	p += 1 + int(h[p])
	return p + 2
}

func clientHelloNoSNI() []byte {
	rc := &recordConn{}
	_ = tls.Client(rc, &tls.Config{InsecureSkipVerify: true}).Handshake()
	return rc.out.Bytes()
}

func TestClassify(t *testing.T) {
	google := net.IP{142, 250, 1, 1}
	netflix := net.IP{198, 38, 120, 1}
	type tc struct {
		name  string
		build func(tl *timeline)
		want  string // a path that must have packets
		flow  bool   // and be the path of a flow report
		check func(t *testing.T, s *memSink)
	}
	cases := []tc{
		{"http host google", func(tl *timeline) {
			k := newConn(t, lanA, remote("142.250.1.1", 80))
			tl.at(0, k.handshake()...)
			tl.at(time.Second, k.data(true, httpGet("www.google.com")), k.ack(false), k.data(false, httpResponse("text/html; charset=utf-8", 500)))
		}, "99.178.354.153.134", true, func(t *testing.T, s *memSink) {
			r := flowWith(s, "99.178.354.153.134")
			if r.Format != FormatHTTP || r.Hostname != "www.google.com" || r.MIME != "text/html" || r.ContentClass != 8 ||
				r.Referer != "http://example.org/start" || r.DeviceOS != "Linux" || r.CDN != 2 || r.Transactions != 1 ||
				r.ResponseTime != 2 || r.App != idGoogle || r.AppFamily != 1 {
				t.Errorf("http flow row %+v", *r)
			}
		}},
		{"http other port", func(tl *timeline) {
			k := newConn(t, lanA, remote("203.0.113.5", 8081))
			tl.at(0, k.handshake()...)
			tl.at(time.Second, k.data(true, httpGet("example.org")))
		}, "99.178.354.153", true, nil},
		{"tls sni youtube", func(tl *timeline) {
			k := newConn(t, lanA, remote("142.250.1.2", 443))
			tl.at(0, k.handshake()...)
			tl.at(time.Second, k.data(true, clientHello("www.youtube.com")), k.data(false, bytes.Repeat([]byte{0x16}, 100)))
			tl.at(2*time.Second, k.data(true, append([]byte{0x17, 3, 3, 0, 200}, make([]byte, 200)...)))
		}, "99.178.354.341.427", true, func(t *testing.T, s *memSink) {
			r := flowWith(s, "99.178.354.341.427")
			if r.Format != FormatTLS || r.ServerName != "www.youtube.com" || r.AppFamily != 4 {
				t.Errorf("tls flow row %+v", *r)
			}
			if st := statOf(s, "99.178.354.341.427"); st == nil || st.Packets != 3 {
				t.Errorf("tls data after the hello is not on the TLS path: %+v", st)
			}
		}},
		{"tls sni in second segment", func(tl *timeline) {
			h := clientHello("github.com")
			cut := extensionsStart(h)
			k := newConn(t, lanA, remote("140.82.121.3", 443))
			tl.at(0, k.handshake()...)
			tl.at(time.Second, k.data(true, h[:cut]), k.ack(false), k.data(true, h[cut:]))
		}, "99.178.354.341.125", true, nil},
		{"tls no sni, app from dns", func(tl *timeline) {
			d := ep{mac: router.mac, ip: "192.168.1.1", port: 53}
			tl.at(0, udpFrame(t, lanA, d, dnsMsg(t, 7, "www.netflix.com", nil)), udpFrame(t, d, lanA, dnsMsg(t, 7, "www.netflix.com", netflix)))
			k := newConn(t, withPort(lanA, 50100), remote(netflix.String(), 443))
			tl.at(time.Second, k.handshake()...)
			tl.at(time.Second, k.data(true, clientHelloNoSNI()))
		}, "99.178.354.341.242", true, nil},
		{"tls by port only", func(tl *timeline) {
			k := newConn(t, lanA, remote("203.0.113.9", 443))
			tl.at(0, k.handshake()...)
			tl.at(time.Second, k.data(true, []byte("not a hello at all")))
		}, "99.178.354.341", true, nil},
		{"quic google via dns", func(tl *timeline) {
			d := ep{mac: router.mac, ip: "192.168.1.1", port: 53}
			tl.at(0, udpFrame(t, lanA, d, dnsMsg(t, 9, "www.google.com", nil)), udpFrame(t, d, lanA, dnsMsg(t, 9, "www.google.com", google)))
			tl.at(time.Second, udpFrame(t, withPort(lanA, 50200), remote(google.String(), 443), quicInitial()))
		}, "99.178.376.661.134", true, nil},
		{"quic other port", func(tl *timeline) {
			tl.at(0, udpFrame(t, lanA, remote("203.0.113.7", 8443), quicInitial()))
		}, "99.178.376.661", true, nil},
		{"gquic", func(tl *timeline) {
			b := quicInitial()
			copy(b[1:5], "Q050")
			tl.at(0, udpFrame(t, lanA, remote("203.0.113.7", 443), b))
		}, "99.178.376.627", true, nil},
		{"dns", func(tl *timeline) {
			d := remote("8.8.8.8", 53)
			tl.at(0, udpFrame(t, lanA, d, dnsMsg(t, 1, "example.org", nil)), udpFrame(t, d, lanA, dnsMsg(t, 1, "example.org", net.IP{93, 184, 216, 34})))
		}, "99.178.376.85", true, nil},
		{"dns over tcp", func(tl *timeline) {
			k := newConn(t, lanA, remote("8.8.8.8", 53))
			m := dnsMsg(t, 1, "example.org", nil)
			tl.at(0, k.handshake()...)
			tl.at(time.Second, k.data(true, append([]byte{0, byte(len(m))}, m...)))
		}, "99.178.354.85", true, nil},
		{"mdns", func(tl *timeline) {
			tl.at(0, udpFrame(t, withPort(lanA, 5353), ep{mac: "01:00:5e:00:00:fb", ip: "224.0.0.251", port: 5353}, dnsMsg(t, 0, "_googlecast._tcp.local", nil)))
		}, "99.178.376.218", true, nil},
		{"ssh banner any port", func(tl *timeline) {
			k := newConn(t, lanA, remote("203.0.113.20", 2222))
			tl.at(0, k.handshake()...)
			tl.at(time.Second, k.data(false, []byte("SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n")))
		}, "99.178.354.340", true, nil},
		{"smtp banner", func(tl *timeline) {
			k := newConn(t, lanA, remote("203.0.113.25", 25))
			tl.at(0, k.handshake()...)
			tl.at(time.Second, k.data(false, []byte("220 mx.example.org ESMTP Postfix\r\n")))
		}, "99.178.354.323", true, nil},
		{"imap banner", func(tl *timeline) {
			k := newConn(t, lanA, remote("203.0.113.26", 143))
			tl.at(0, k.handshake()...)
			tl.at(time.Second, k.data(false, []byte("* OK [CAPABILITY IMAP4rev1 STARTTLS] Dovecot ready.\r\n")))
		}, "99.178.354.169", true, nil},
		{"pop banner", func(tl *timeline) {
			k := newConn(t, lanA, remote("203.0.113.27", 110))
			tl.at(0, k.handshake()...)
			tl.at(time.Second, k.data(false, []byte("+OK Dovecot ready.\r\n")))
		}, "99.178.354.272", true, nil},
		{"ntp", func(tl *timeline) {
			tl.at(0, udpFrame(t, withPort(lanA, 123), remote("162.159.200.1", 123), ntpClient()))
		}, "99.178.376.251", true, nil},
		{"dhcp", func(tl *timeline) {
			d := &layers.DHCPv4{Operation: layers.DHCPOpRequest, HardwareType: layers.LinkTypeEthernet, HardwareLen: 6,
				Xid: 0x1234, ClientHWAddr: mustMAC(lanA.mac), Options: layers.DHCPOptions{
					layers.NewDHCPOption(layers.DHCPOptMessageType, []byte{byte(layers.DHCPMsgTypeDiscover)})}}
			tl.at(0, udpFrame(t, ep{mac: lanA.mac, ip: "0.0.0.0", port: 68}, ep{mac: "ff:ff:ff:ff:ff:ff", ip: "255.255.255.255", port: 67}, serialize(t, d)))
		}, "99.178.376.81", true, nil},
		{"dhcpv6", func(tl *timeline) {
			d := &layers.DHCPv6{MsgType: layers.DHCPv6MsgTypeSolicit, TransactionID: []byte{1, 2, 3}}
			tl.at(0, udpFrame(t, lan6, ep{mac: "33:33:00:01:00:02", ip: "ff02::1:2", port: 547}, serialize(t, d)))
		}, "99.182.376.82", true, nil},
		{"ssdp", func(tl *timeline) {
			tl.at(0, udpFrame(t, lanA, ep{mac: "01:00:5e:7f:ff:fa", ip: "239.255.255.250", port: 1900},
				[]byte("M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n")))
		}, "99.178.376.339", true, nil},
		{"netbios", func(tl *timeline) {
			tl.at(0, udpFrame(t, withPort(lanA, 137), ep{mac: "ff:ff:ff:ff:ff:ff", ip: "192.168.1.255", port: 137}, nbnsQuery()))
		}, "99.178.376.241", true, nil},
		{"stun any port", func(tl *timeline) {
			tl.at(0, udpFrame(t, lanA, remote("74.125.250.129", 19302), stunBinding()))
		}, "99.178.376.347", true, nil},
		{"rtp", func(tl *timeline) {
			a, b := withPort(lanA, 40000), remote("203.0.113.40", 40002)
			for i := range 50 {
				seq := uint16(100 + i)
				if i == 20 || i == 21 {
					continue // two lost
				}
				tl.at(time.Duration(i)*20*time.Millisecond, udpFrame(t, a, b, rtpPacket(seq, uint32(i)*160)))
			}
		}, "99.178.376.298", true, func(t *testing.T, s *memSink) {
			r := flowWith(s, "99.178.376.298")
			if r.Format != FormatRTP || r.LossRate < 0.039 || r.LossRate > 0.041 || r.LossBurstiness != 2 || r.OrderErrorRate != 0 {
				t.Errorf("rtp flow row %+v", *r)
			}
		}},
		{"arp", func(tl *timeline) {
			a := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
				Operation: layers.ARPRequest, SourceHwAddress: mustMAC(lanA.mac), SourceProtAddress: []byte{192, 168, 1, 10},
				DstHwAddress: make([]byte, 6), DstProtAddress: []byte{192, 168, 1, 1}}
			tl.at(0, serialize(t, &layers.Ethernet{SrcMAC: mustMAC(lanA.mac), DstMAC: mustMAC("ff:ff:ff:ff:ff:ff"), EthernetType: layers.EthernetTypeARP}, a))
		}, "99.30", false, nil},
		{"icmp", func(tl *timeline) {
			eth, ip, _ := ipLayers(lanA, remote("8.8.8.8", 0), layers.IPProtocolICMPv4)
			tl.at(0, serialize(t, eth, ip, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 1}, gopacket.Payload(make([]byte, 56))))
		}, "99.178.163", true, nil},
		{"icmpv6", func(tl *timeline) {
			eth, ip, nl := ipLayers(ep{mac: lanA.mac, ip: "fd00::10"}, ep{mac: router.mac, ip: "fd00::1"}, layers.IPProtocolICMPv6)
			ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
			ic.SetNetworkLayerForChecksum(nl)
			tl.at(0, serialize(t, eth, ip, ic, gopacket.Payload([]byte{0, 1, 0, 1, 'p', 'i', 'n', 'g'})))
		}, "99.182.164", true, nil},
		{"igmp", func(tl *timeline) {
			eth, ip, _ := ipLayers(lanA, ep{mac: "01:00:5e:00:00:fb", ip: "224.0.0.251"}, layers.IPProtocolIGMP)
			tl.at(0, serialize(t, eth, ip, gopacket.Payload([]byte{0x16, 0, 0x09, 0x04, 224, 0, 0, 251})))
		}, "99.178.166", true, nil},
		{"sctp", func(tl *timeline) {
			eth, ip, _ := ipLayers(lanA, remote("203.0.113.50", 0), layers.IPProtocolSCTP)
			tl.at(0, serialize(t, eth, ip, &layers.SCTP{SrcPort: 2905, DstPort: 2905, VerificationTag: 1}, gopacket.Payload(make([]byte, 16))))
		}, "99.178.304", true, nil},
		{"gre tunnel", func(tl *timeline) {
			eth, ip, _ := ipLayers(lanA, remote("203.0.113.60", 0), layers.IPProtocolGRE)
			inner := tcpFrame(t, ep{mac: lanA.mac, ip: "10.9.0.1", port: 40000}, ep{mac: router.mac, ip: "10.9.0.2", port: 80}, tcpACK, 1, 1, httpGet("example.org"))
			tl.at(0, serialize(t, eth, ip, &layers.GRE{Protocol: layers.EthernetTypeIPv4}, gopacket.Payload(inner[14:])))
		}, "99.178.137.178.354.153", true, nil},
		{"vlan", func(tl *timeline) {
			f := tcpFrame(t, lanA, remote("203.0.113.70", 80), tcpACK, 1, 1, httpGet("example.org"))
			v := append(append(append([]byte{}, f[:12]...), 0x81, 0, 0, 10), f[12:]...)
			tl.at(0, v)
		}, "99.7.178.354.153", true, nil},
		{"ipv6 extension headers", func(tl *timeline) {
			eth, _, _ := ipLayers(ep{mac: lanA.mac, ip: "fd00::10"}, ep{mac: router.mac, ip: "fd00::1"}, 0)
			udp := &layers.UDP{SrcPort: 40000, DstPort: 53}
			ip := &layers.IPv6{Version: 6, HopLimit: 1, NextHeader: layers.IPProtocolIPv6HopByHop, SrcIP: net.ParseIP("fd00::10"), DstIP: net.ParseIP("fd00::1")}
			udp.SetNetworkLayerForChecksum(ip)
			hbh := &layers.IPv6HopByHop{}
			hbh.NextHeader = layers.IPProtocolIPv6Destination
			hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 5, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
			dst := &layers.IPv6Destination{}
			dst.NextHeader = layers.IPProtocolUDP
			dst.Options = []*layers.IPv6DestinationOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
			tl.at(0, serialize(t, eth, ip, hbh, dst, udp, gopacket.Payload(dnsMsg(t, 3, "example.org", nil))))
		}, "99.182.376.85", true, nil},
		{"ipv4 fragment", func(tl *timeline) {
			eth, ipl, _ := ipLayers(lanA, remote("203.0.113.80", 0), layers.IPProtocolUDP)
			ip := ipl.(*layers.IPv4)
			ip.Flags, ip.FragOffset = 0, 185
			tl.at(0, serialize(t, eth, ip, gopacket.Payload(make([]byte, 100))))
		}, "99.178", false, func(t *testing.T, s *memSink) {
			if len(s.flows) != 0 {
				t.Errorf("a fragment made a flow: %+v", s.flows)
			}
		}},
		{"ipv6 fragment", func(tl *timeline) {
			eth, _, _ := ipLayers(ep{mac: lanA.mac, ip: "fd00::10"}, ep{mac: router.mac, ip: "fd00::1"}, 0)
			ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6Fragment, SrcIP: net.ParseIP("fd00::10"), DstIP: net.ParseIP("fd00::1")}
			tl.at(0, serialize(t, eth, ip, &layers.IPv6Fragment{NextHeader: layers.IPProtocolUDP, FragmentOffset: 100, Identification: 7}, gopacket.Payload(make([]byte, 64))))
		}, "99.182", false, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tl := &timeline{}
			c.build(tl)
			s, cn := runFrames(t, tl.frames, Options{ID: 7})
			for i, n := range cn.DecodeErrors {
				if n != 0 {
					t.Errorf("%d decode errors %v", n, DecodeError(i))
				}
			}
			found := false
			for _, r := range s.stats {
				if r.Path == c.want && r.Packets > 0 {
					found = true
				}
			}
			if !found {
				var paths []string
				for _, r := range s.stats {
					paths = append(paths, r.Path)
				}
				t.Fatalf("no packets on %s; paths %v", c.want, paths)
			}
			if c.flow && flowWith(s, c.want) == nil {
				var paths []string
				for _, r := range s.flows {
					paths = append(paths, r.Path)
				}
				t.Fatalf("no flow on %s; flows %v", c.want, paths)
			}
			if c.check != nil {
				c.check(t, s)
			}
		})
	}
}

func statOf(s *memSink, path string) *StatRow {
	for i := range s.stats {
		if s.stats[i].Path == path {
			return &s.stats[i]
		}
	}
	return nil
}

func flowWith(s *memSink, path string) *FlowRow {
	for i := range s.flows {
		if s.flows[i].Path == path {
			return &s.flows[i]
		}
	}
	return nil
}

func TestHostApp(t *testing.T) {
	for _, c := range []struct {
		host string
		want uint16
	}{
		{"www.google.com", idGoogle}, {"WWW.GOOGLE.COM.", idGoogle}, {"google.com:8080", idGoogle},
		{"mail.google.com", idGmail}, {"rr3---sn-4g5e6nsz.googlevideo.com", idYouTube},
		{"scontent.xx.fbcdn.net", idFacebook}, {"instagram.com", idInstagram}, {"web.whatsapp.com", idWhatsApp},
		{"occ-0-1.1.nflxso.net", idNetflix}, {"s3.eu-west-1.amazonaws.com", idAWS}, {"www.amazon.de", idAmazon},
		{"gsp-ssl.ls.apple.com", idApple}, {"login.microsoftonline.com", idMicrosoft}, {"pbs.twimg.com", idTwitter},
		{"dl.dropboxusercontent.com", idDropbox}, {"raw.githubusercontent.com", idGitHub},
		{"en.wikipedia.org", idWikipedia}, {"a1.akamaihd.net", idAkamai}, {"d1.cloudfront.net", idCloudFront},
		{"foo.global.ssl.fastly.net", idFastly},
		{"notgoogle.com", 0}, {"google.com.evil.org", 0}, {"", 0}, {"com", 0}, {strings.Repeat("a.", 200) + "google.com", 0},
	} {
		if got := hostApp([]byte(c.host)); got != c.want {
			t.Errorf("hostApp(%q) = %d, want %d", c.host, got, c.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { hostApp([]byte("static.xx.fbcdn.net")) }); n != 0 {
		t.Errorf("hostApp allocates %v", n)
	}
}
