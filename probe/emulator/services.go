package emulator

import "net"

// A service is a remote (Internet) server the LAN talks to. Addresses are
// ones the names really resolved to at some point; CNAME chains follow the
// shape of the real ones (CDN and load-balancer names), so classifiers that
// look at DNS answers see what they would see on a real network.
type service struct {
	name   []byte   // name the client resolves and sends as SNI / Host
	cnames [][]byte // CNAME chain of the DNS answer, in order
	addrs  []net.IP // A records (4-byte form)
	addrs6 []net.IP // AAAA records (may be empty)
	ttl    uint8    // IP TTL of its packets as seen on the LAN
	protos proto    // what it speaks
	bulk   uint8    // response sizes: 0 pages and API calls, 1 mixed, 2 media
	weight int      // popularity among the services of one protocol
	mss    uint16   // MSS it announces in its SYN-ACK

	// HTTP (plain) resources: path, Content-Type and the body style.
	paths  [][]byte
	ctypes [][]byte
	server []byte // Server header
	status int    // 200, or 204 for connectivity checks

	// certificate chain (DER), filled by certsOnce for HTTPS services
	chain [][]byte
	// chainLen is the length of the TLS Certificate message body.
	chainLen int
}

// proto is a set of protocols a service speaks.
type proto uint8

const (
	pHTTPS proto = 1 << iota
	pHTTP
	pQUIC
	pSSH
	pNTP
	pDNSOnly // only ever looked up (background lookups)
)

func ip4(a, b, c, d byte) net.IP { return net.IP{a, b, c, d} }

func bs(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func ip6(s string) net.IP { return net.ParseIP(s).To16() }

// services is the table of remote servers. It is read-only after init.
var services = []*service{
	{name: []byte("www.google.com"), addrs: []net.IP{ip4(142, 250, 185, 100), ip4(142, 250, 186, 36)},
		addrs6: []net.IP{ip6("2a00:1450:4001:82b::2004")}, ttl: 117, protos: pHTTPS | pQUIC, weight: 20, mss: 1412},
	{name: []byte("www.youtube.com"), cnames: bs("youtube-ui.l.google.com"),
		addrs:  []net.IP{ip4(142, 250, 185, 78), ip4(142, 250, 185, 110), ip4(172, 217, 16, 142), ip4(142, 250, 184, 206)},
		addrs6: []net.IP{ip6("2a00:1450:4001:827::200e")}, ttl: 117, protos: pHTTPS | pQUIC, bulk: 1, weight: 14, mss: 1412},
	{name: []byte("rr4---sn-4g5ednsz.googlevideo.com"), cnames: bs("rr4.sn-4g5ednsz.googlevideo.com"),
		addrs: []net.IP{ip4(173, 194, 160, 137)}, ttl: 58, protos: pQUIC | pHTTPS, bulk: 2, weight: 10, mss: 1412},
	{name: []byte("fonts.gstatic.com"), cnames: bs("gstaticadssl.l.google.com"),
		addrs: []net.IP{ip4(142, 250, 185, 67)}, ttl: 117, protos: pQUIC | pHTTPS, weight: 6, mss: 1412},
	{name: []byte("www.facebook.com"), cnames: bs("star-mini.c10r.facebook.com"),
		addrs: []net.IP{ip4(157, 240, 20, 35)}, addrs6: []net.IP{ip6("2a03:2880:f12d:83:face:b00c:0:25de")},
		ttl: 55, protos: pHTTPS | pQUIC, bulk: 1, weight: 10, mss: 1440},
	{name: []byte("www.instagram.com"), cnames: bs("z-p42-instagram.c10r.instagram.com"),
		addrs: []net.IP{ip4(157, 240, 20, 174)}, ttl: 55, protos: pHTTPS | pQUIC, bulk: 1, weight: 7, mss: 1440},
	{name: []byte("web.whatsapp.com"), cnames: bs("mmx-ds.cdn.whatsapp.net"),
		addrs: []net.IP{ip4(157, 240, 20, 52)}, ttl: 55, protos: pHTTPS, weight: 3, mss: 1440},
	{name: []byte("www.netflix.com"), cnames: bs("www.dradis.netflix.com", "www.eu-west-1.internal.dradis.netflix.com",
		"apiproxy-website-nlb-prod-1-bcf28d21f4bbcf2c.elb.eu-west-1.amazonaws.com"),
		addrs: []net.IP{ip4(54, 155, 178, 5), ip4(52, 49, 96, 37), ip4(3, 251, 50, 149)}, ttl: 233, protos: pHTTPS, weight: 6, mss: 1460},
	{name: []byte("ipv4-c001-fra001-ix.1.oca.nflxvideo.net"),
		addrs: []net.IP{ip4(45, 57, 90, 1)}, ttl: 59, protos: pHTTPS, bulk: 2, weight: 6, mss: 1460},
	{name: []byte("github.com"), addrs: []net.IP{ip4(140, 82, 121, 4)}, ttl: 51, protos: pHTTPS | pSSH, weight: 5, mss: 1460},
	{name: []byte("api.github.com"), addrs: []net.IP{ip4(140, 82, 121, 6)}, ttl: 51, protos: pHTTPS, weight: 2, mss: 1460},
	{name: []byte("en.wikipedia.org"), cnames: bs("dyna.wikimedia.org"),
		addrs: []net.IP{ip4(185, 15, 59, 224)}, addrs6: []net.IP{ip6("2a02:ec80:300:ed1a::1")}, ttl: 56, protos: pHTTPS, weight: 5, mss: 1460},
	{name: []byte("upload.wikimedia.org"), addrs: []net.IP{ip4(185, 15, 59, 240)}, ttl: 56, protos: pHTTPS, bulk: 1, weight: 2, mss: 1460},
	{name: []byte("s3.amazonaws.com"), cnames: bs("s3-1-w.amazonaws.com", "s3-w.us-east-1.amazonaws.com"),
		addrs: []net.IP{ip4(52, 217, 129, 8), ip4(54, 231, 201, 96), ip4(52, 216, 8, 91)}, ttl: 232, protos: pHTTPS | pHTTP, bulk: 1, weight: 4, mss: 1460,
		paths:  bs("/edgestat-demo/photos/IMG_2041.webp", "/edgestat-demo/backup/2024-11-02.tar.gz"),
		ctypes: bs("image/webp", "application/gzip"), server: []byte("AmazonS3"), status: 200},
	{name: []byte("d1.cloudfront.net"), addrs: []net.IP{ip4(13, 32, 99, 12), ip4(13, 32, 99, 101)}, ttl: 245,
		protos: pHTTPS | pHTTP, bulk: 1, weight: 4, mss: 1460,
		paths: bs("/static/js/main.4f2a9c1e.js", "/images/hero-banner.avif"), ctypes: bs("application/javascript", "image/avif"),
		server: []byte("AmazonS3"), status: 200},
	{name: []byte("www.amazon.com"), cnames: bs("tp.47cf2c8c9-frontier.amazon.com", "d3ag4hukkh62yn.cloudfront.net"),
		addrs: []net.IP{ip4(18, 66, 27, 87)}, ttl: 245, protos: pHTTPS, weight: 5, mss: 1460},
	{name: []byte("www.apple.com"), cnames: bs("www.apple.com.edgekey.net", "e6858.dsce9.akamaiedge.net"),
		addrs: []net.IP{ip4(23, 52, 43, 44)}, ttl: 57, protos: pHTTPS, weight: 4, mss: 1460},
	{name: []byte("www.microsoft.com"), cnames: bs("www.microsoft.com-c-3.edgekey.net", "www.microsoft.com-c-3.edgekey.net.globalredir.akadns.net", "e13678.dscb.akamaiedge.net"),
		addrs: []net.IP{ip4(23, 35, 229, 160)}, ttl: 57, protos: pHTTPS, weight: 3, mss: 1460},
	{name: []byte("www.reddit.com"), cnames: bs("reddit.map.fastly.net"),
		addrs: []net.IP{ip4(151, 101, 1, 140), ip4(151, 101, 65, 140)}, ttl: 58, protos: pHTTPS, weight: 4, mss: 1460},
	{name: []byte("www.dropbox.com"), cnames: bs("www-env.dropbox-dns.com"),
		addrs: []net.IP{ip4(162, 125, 64, 18)}, ttl: 54, protos: pHTTPS, bulk: 1, weight: 2, mss: 1460},
	{name: []byte("x.com"), addrs: []net.IP{ip4(104, 244, 42, 1)}, ttl: 54, protos: pHTTPS, weight: 3, mss: 1460},

	// plain HTTP: connectivity checks, OCSP, package mirrors, updates
	{name: []byte("connectivitycheck.gstatic.com"), addrs: []net.IP{ip4(142, 250, 185, 99)}, ttl: 117, protos: pHTTP, weight: 6, mss: 1412,
		paths: bs("/generate_204"), ctypes: bs(""), server: []byte("gws"), status: 204},
	{name: []byte("detectportal.firefox.com"), cnames: bs("detectportal.prod.mozaws.net", "prod.detectportal.prod.cloudops.mozgcp.net"),
		addrs: []net.IP{ip4(34, 107, 221, 82)}, ttl: 116, protos: pHTTP, weight: 3, mss: 1412,
		paths: bs("/canonical.html", "/success.txt?ipv4"), ctypes: bs("text/html", "text/plain"), server: []byte("nginx"), status: 200},
	{name: []byte("captive.apple.com"), cnames: bs("captive.g.aaplimg.com"),
		addrs: []net.IP{ip4(17, 253, 109, 201)}, ttl: 57, protos: pHTTP, weight: 3, mss: 1460,
		paths: bs("/hotspot-detect.html"), ctypes: bs("text/html"), server: []byte("AkamaiGHost"), status: 200},
	{name: []byte("www.msftconnecttest.com"), cnames: bs("www.msftconnecttest.com.edgesuite.net", "a1961.g2.akamai.net"),
		addrs: []net.IP{ip4(2, 16, 186, 17)}, ttl: 58, protos: pHTTP, weight: 2, mss: 1460,
		paths: bs("/connecttest.txt"), ctypes: bs("text/plain"), server: []byte("Microsoft-IIS/10.0"), status: 200},
	{name: []byte("ocsp.digicert.com"), cnames: bs("ocsp.edge.digicert.com"),
		addrs: []net.IP{ip4(192, 229, 211, 108)}, ttl: 57, protos: pHTTP, weight: 3, mss: 1460,
		paths:  bs("/MFEwTzBNMEswSTAJBgUrDgMCGgUABBSAUQYBMq2awn1Rh6Doh%2FsBYgFV7gQUA95QNVbRTLtm8KPiGxvDl7I90VUCEAJ0LqoXyo4hxxe7H%2Fz9DKA%3D"),
		ctypes: bs("application/ocsp-response"), server: []byte("ECAcc (lhd/35A4)"), status: 200},
	{name: []byte("deb.debian.org"), cnames: bs("debian.map.fastly.net"),
		addrs: []net.IP{ip4(151, 101, 2, 132), ip4(151, 101, 130, 132)}, ttl: 58, protos: pHTTP, bulk: 2, weight: 3, mss: 1460,
		paths:  bs("/debian/dists/bookworm-updates/InRelease", "/debian/pool/main/o/openssl/libssl3_3.0.15-1~deb12u1_amd64.deb"),
		ctypes: bs("text/plain", "application/vnd.debian.binary-package"), server: []byte("Apache"), status: 200},
	{name: []byte("ctldl.windowsupdate.com"), cnames: bs("wu-b-net.trafficmanager.net", "ctldl.windowsupdate.com.delivery.microsoft.com"),
		addrs: []net.IP{ip4(8, 248, 117, 254)}, ttl: 57, protos: pHTTP, bulk: 1, weight: 2, mss: 1460,
		paths: bs("/msdownload/update/v3/static/trustedr/en/authrootstl.cab"), ctypes: bs("application/vnd.ms-cab-compressed"),
		server: []byte("Microsoft-IIS/10.0"), status: 200},

	// NTP servers
	{name: []byte("2.debian.pool.ntp.org"), addrs: []net.IP{ip4(162, 159, 200, 1), ip4(185, 125, 190, 56), ip4(194, 58, 207, 74)},
		ttl: 55, protos: pNTP, weight: 4},
	{name: []byte("time.google.com"), addrs: []net.IP{ip4(216, 239, 35, 0), ip4(216, 239, 35, 4)}, ttl: 117, protos: pNTP, weight: 3},
	{name: []byte("time.apple.com"), addrs: []net.IP{ip4(17, 253, 52, 253)}, ttl: 57, protos: pNTP, weight: 2},
	{name: []byte("time.windows.com"), addrs: []net.IP{ip4(20, 101, 57, 9)}, ttl: 110, protos: pNTP, weight: 1},

	// background lookups only
	{name: []byte("mtalk.google.com"), cnames: bs("mobile-gtalk.l.google.com"), addrs: []net.IP{ip4(74, 125, 133, 188)}, ttl: 117, protos: pDNSOnly, weight: 3},
	{name: []byte("play.googleapis.com"), addrs: []net.IP{ip4(142, 250, 185, 106)}, ttl: 117, protos: pDNSOnly, weight: 2},
	{name: []byte("gateway.icloud.com"), cnames: bs("gateway.icloud.com.akadns.net"), addrs: []net.IP{ip4(17, 248, 160, 71)}, ttl: 57, protos: pDNSOnly, weight: 2},
	{name: []byte("graph.facebook.com"), cnames: bs("star.c10r.facebook.com"), addrs: []net.IP{ip4(157, 240, 20, 19)}, ttl: 55, protos: pDNSOnly, weight: 2},
	{name: []byte("api.spotify.com"), cnames: bs("edge-web.dual-gslb.spotify.com"), addrs: []net.IP{ip4(35, 186, 224, 25)}, ttl: 116, protos: pDNSOnly, weight: 1},
}

// nxNames are looked up and do not exist (NXDOMAIN): the usual LAN noise.
var nxNames = bs("wpad.lan", "_ldap._tcp.dc._msdcs.lan", "nas.local.lan", "isatap.lan")

// servicesWith returns the services speaking p, and their cumulative weights.
func servicesWith(p proto) ([]*service, []int) {
	var out []*service
	var cum []int
	total := 0
	for _, s := range services {
		if s.protos&p != 0 {
			total += s.weight
			out = append(out, s)
			cum = append(cum, total)
		}
	}
	return out, cum
}

// A pick is a weighted choice among services.
type pick struct {
	svcs []*service
	cum  []int
}

func newPick(p proto) pick {
	s, c := servicesWith(p)
	return pick{s, c}
}

var (
	pickHTTPS = newPick(pHTTPS)
	pickQUIC  = newPick(pQUIC)
	pickHTTP  = newPick(pHTTP)
	pickNTP   = newPick(pNTP)
	pickAny   = newPick(pHTTPS | pHTTP | pQUIC | pNTP | pDNSOnly)
	svcGitHub = func() *service {
		for _, s := range services {
			if string(s.name) == "github.com" {
				return s
			}
		}
		panic("emulator: github.com missing from the service table")
	}()
)
