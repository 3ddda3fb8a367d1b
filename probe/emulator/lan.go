package emulator

import (
	"fmt"
	"math/rand/v2"
)

// An endpoint is one machine's addresses on the LAN.
type endpoint struct {
	mac [6]byte
	ip4 [4]byte
	ll6 [16]byte // fe80::/64 link-local (EUI-64)
	ula [16]byte // fdXX:XXXX:XXXX:1::/64 unique local
}

// role is what kind of device a host is; it decides its names, its MAC
// vendor, the services it announces over mDNS and what traffic it makes.
type role uint8

const (
	roleLaptop role = iota
	rolePhone
	roleTV
	roleNAS
	roleDesktop
	rolePrinter
	roleSpeaker
	roleTablet
	roleIoT
	roleRouter
)

// rolePlan gives the first hosts a typical home/office mix; later hosts are
// drawn from the "many of them" roles.
var rolePlan = []role{roleLaptop, rolePhone, roleTV, roleNAS, roleDesktop, rolePhone,
	rolePrinter, roleSpeaker, roleLaptop, roleTablet, roleIoT, rolePhone}

var manyRoles = []role{roleLaptop, rolePhone, rolePhone, roleDesktop, roleTablet, roleIoT}

type roleInfo struct {
	names []string // host names, used in turn
	oui   [3]byte  // vendor prefix; zero = randomized (locally administered) MAC
	ttl   uint8    // initial IP TTL of its OS
	ua    string   // HTTP User-Agent
	// mDNS service it announces
	mdnsType string
	mdnsPort uint16
	txt      []string
}

const (
	uaMac     = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15"
	uaAndroid = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36"
	uaWindows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0"
	uaLinux   = "Debian APT-HTTP/1.3 (2.6.1)"
	uaIPad    = "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
	uaTV      = "Mozilla/5.0 (X11; Linux aarch64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Safari/537.36 CrKey/1.56.500000"
	uaIoT     = "ESP32 HTTP Client/1.0"
)

var roles = [...]roleInfo{
	roleLaptop: {names: []string{"alice-macbook", "bob-thinkpad", "carol-macbook-air", "work-laptop"},
		oui: [3]byte{0xf0, 0x18, 0x98}, ttl: 64, ua: uaMac,
		mdnsType: "_companion-link._tcp.local", mdnsPort: 49153, txt: []string{"rpVr=510.12", "rpMac=0", "rpFl=0x20000"}},
	rolePhone: {names: []string{"pixel-8", "galaxy-s23", "iphone-15", "redmi-note-12"}, ttl: 64, ua: uaAndroid},
	roleTV: {names: []string{"living-room-tv", "bedroom-chromecast"}, oui: [3]byte{0xf4, 0xf5, 0xd8}, ttl: 64, ua: uaTV,
		mdnsType: "_googlecast._tcp.local", mdnsPort: 8009,
		txt: []string{"id=5e2b7f1c9a0d4e3f8b6a2c1d0e9f8a7b", "cd=3F0A1B2C3D4E5F60", "md=Chromecast", "fn=Living Room TV", "ca=201221", "st=0", "ve=05", "ic=/setup/icon.png"}},
	roleNAS: {names: []string{"nas", "backup-nas"}, oui: [3]byte{0x00, 0x11, 0x32}, ttl: 64, ua: uaLinux,
		mdnsType: "_smb._tcp.local", mdnsPort: 445, txt: []string{""}},
	roleDesktop: {names: []string{"desktop-4k7q2", "gaming-pc", "desktop-9lt3m"}, oui: [3]byte{0x04, 0xd9, 0xf5}, ttl: 128, ua: uaWindows},
	rolePrinter: {names: []string{"hp-laserjet", "brother-mfc"}, oui: [3]byte{0x3c, 0xd9, 0x2b}, ttl: 64, ua: uaIoT,
		mdnsType: "_ipp._tcp.local", mdnsPort: 631,
		txt: []string{"txtvers=1", "qtotal=1", "rp=ipp/print", "ty=HP LaserJet M209dw", "pdl=application/pdf,image/urf,image/pwg-raster", "Color=F", "Duplex=T"}},
	roleSpeaker: {names: []string{"kitchen-speaker", "office-sonos"}, oui: [3]byte{0x5c, 0xaa, 0xfd}, ttl: 64, ua: uaIoT,
		mdnsType: "_spotify-connect._tcp.local", mdnsPort: 1400, txt: []string{"VERSION=1.0", "CPath=/spotifyzc"}},
	roleTablet: {names: []string{"ipad", "kids-tablet"}, oui: [3]byte{0x3c, 0x22, 0xfb}, ttl: 64, ua: uaIPad},
	roleIoT:    {names: []string{"esp32-thermostat", "shelly-plug", "hue-bridge"}, oui: [3]byte{0x24, 0x0a, 0xc4}, ttl: 64, ua: uaIoT},
	roleRouter: {names: []string{"router"}, oui: [3]byte{0x50, 0xc7, 0xbf}, ttl: 64, ua: uaLinux,
		mdnsType: "_http._tcp.local", mdnsPort: 80, txt: []string{"path=/"}},
}

// A host is a machine on the LAN. Its byte slices are built once in New so
// that packets can point into them without allocating.
type host struct {
	endpoint
	idx      int
	role     role
	name     []byte // DHCP host name
	local    []byte // name + ".local"
	ttl      uint8
	ua       []byte
	nextPort uint16
	tsOff    uint32 // TCP timestamp clock offset
	mdnsType []byte
	instance []byte // "<name>.<mdnsType>"
	mdnsPort uint16
	txt      [][]byte
}

// newLAN builds the gateway and n hosts of 192.168.1.0/24.
func newLAN(rng *rand.Rand, n int) (gw *host, hosts []host) {
	// ULA /48 from a random global ID (RFC 4193), subnet 1.
	var ula [8]byte
	ula[0] = 0xfd
	for i := 1; i < 6; i++ {
		ula[i] = byte(rng.Uint32())
	}
	ula[6], ula[7] = 0, 1

	used := map[role]int{}
	mk := func(idx int, r role, octet byte) host {
		ri := &roles[r]
		h := host{idx: idx, role: r, ttl: ri.ttl, ua: []byte(ri.ua)}
		// MAC: vendor OUI, or a randomized locally administered address
		// (phones randomize their Wi-Fi MAC per network).
		if ri.oui == [3]byte{} {
			h.mac[0] = byte(rng.Uint32())&0xfc | 0x02
			h.mac[1], h.mac[2] = byte(rng.Uint32()), byte(rng.Uint32())
		} else {
			copy(h.mac[:3], ri.oui[:])
		}
		h.mac[3], h.mac[4], h.mac[5] = byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())
		h.ip4 = [4]byte{192, 168, 1, octet}
		// link-local from the modified EUI-64
		h.ll6[0], h.ll6[1] = 0xfe, 0x80
		eui64(h.ll6[8:], h.mac)
		copy(h.ula[:8], ula[:])
		if r == roleRouter {
			h.ula[15] = 1
		} else {
			for i := 8; i < 16; i++ {
				h.ula[i] = byte(rng.Uint32())
			}
		}
		// names: the role's list in turn, then numbered
		k := used[r]
		used[r]++
		name := ri.names[k%len(ri.names)]
		if k >= len(ri.names) {
			name = fmt.Sprintf("%s-%d", name, k/len(ri.names)+1)
		}
		h.name = []byte(name)
		h.local = []byte(name + ".local")
		if ri.mdnsType != "" {
			h.mdnsType = []byte(ri.mdnsType)
			h.instance = []byte(name + "." + ri.mdnsType)
			h.mdnsPort = ri.mdnsPort
			h.txt = bs(ri.txt...)
		}
		h.nextPort = uint16(32768 + rng.IntN(28000))
		h.tsOff = rng.Uint32()
		return h
	}

	g := mk(-1, roleRouter, 1)
	gw = &g
	hosts = make([]host, n)
	for i := range hosts {
		var r role
		if i < len(rolePlan) {
			r = rolePlan[i]
		} else {
			r = manyRoles[rng.IntN(len(manyRoles))]
		}
		// .100 upwards (the DHCP pool), wrapping to .2 for big LANs
		octet := byte(2 + (i+98)%maxHosts)
		hosts[i] = mk(i, r, octet)
	}
	return gw, hosts
}

// eui64 writes the modified EUI-64 interface identifier of mac (RFC 4291).
func eui64(dst []byte, mac [6]byte) {
	dst[0] = mac[0] ^ 0x02
	dst[1], dst[2] = mac[1], mac[2]
	dst[3], dst[4] = 0xff, 0xfe
	dst[5], dst[6], dst[7] = mac[3], mac[4], mac[5]
}

// port returns the host's next ephemeral port (Linux range 32768-60999).
func (h *host) port(rng *rand.Rand) uint16 {
	p := h.nextPort + 1 + uint16(rng.IntN(7))
	if p < 32768 || p > 60999 {
		p = 32768 + uint16(rng.IntN(64))
	}
	h.nextPort = p
	return p
}
