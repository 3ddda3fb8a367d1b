package probe

import (
	"bytes"
	"encoding/binary"
)

// tlsHello is the state of a ClientHello whose extensions continue in the
// next client segment (large ClientHellos with post-quantum key shares
// span two segments, and the SNI may be in the second).
type tlsHello struct {
	skip    uint32 // bytes of the next segment before the next extension header
	extLeft uint32 // extension bytes from there to the end of the list
	pending bool
}

// tlsClientHello parses a ClientHello at the start of b and returns the
// server name (a slice of b), nil when there is none or it is not in b;
// st.pending is set when the extensions go on in the next segment.
func tlsClientHello(b []byte, st *tlsHello) []byte {
	st.pending = false
	if len(b) < 43 || b[0] != 0x16 || b[5] != 1 {
		return nil
	}
	p := 43 // record header 5, handshake type 1 and length 3, version 2, random 32
	if p+1 > len(b) {
		return nil
	}
	p += 1 + int(b[p]) // session id
	if p+2 > len(b) {
		return nil
	}
	p += 2 + int(binary.BigEndian.Uint16(b[p:])) // cipher suites
	if p+1 > len(b) {
		return nil
	}
	p += 1 + int(b[p]) // compression methods
	if p+2 > len(b) {
		return nil
	}
	end := p + 2 + int(binary.BigEndian.Uint16(b[p:]))
	return tlsExtensions(b, p+2, end, st)
}

// tlsContinue goes on with a pending ClientHello in the next segment.
func tlsContinue(b []byte, st *tlsHello) []byte {
	st.pending = false
	p := int(st.skip)
	return tlsExtensions(b, p, p+int(st.extLeft), st)
}

func tlsExtensions(b []byte, p, end int, st *tlsHello) []byte {
	for p < end {
		if p+4 > len(b) {
			if p >= len(b) && end-p < 1<<16 {
				st.pending, st.skip, st.extLeft = true, uint32(p-len(b)), uint32(end-p)
			}
			return nil
		}
		typ := binary.BigEndian.Uint16(b[p:])
		l := int(binary.BigEndian.Uint16(b[p+2:]))
		if typ == 0 { // server_name
			if p+4+l > len(b) || l < 5 || b[p+6] != 0 {
				return nil
			}
			nl := int(binary.BigEndian.Uint16(b[p+7:]))
			if 5+nl > l || nl == 0 {
				return nil
			}
			return b[p+9 : p+9+nl]
		}
		p += 4 + l
	}
	return nil
}

// httpFields are the headers the probe reads from an HTTP message.
type httpFields struct {
	host, referer, userAgent, contentType []byte
	cdn                                   bool // Via, X-Cache, X-Served-By, CF-Ray, X-Amz-Cf-Id
}

// scanHTTP reads the headers of the HTTP message at the start of b (the
// part of them in b).
func scanHTTP(b []byte, f *httpFields) {
	*f = httpFields{}
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return
	}
	b = b[i+1:]
	for len(b) > 0 {
		eol := bytes.IndexByte(b, '\n')
		line := b
		if eol >= 0 {
			line, b = b[:eol], b[eol+1:]
		} else {
			b = nil
		}
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if len(line) == 0 {
			return
		}
		c := bytes.IndexByte(line, ':')
		if c <= 0 {
			continue
		}
		name, val := line[:c], bytes.TrimSpace(line[c+1:])
		switch len(name) {
		case 3:
			f.cdn = f.cdn || eqFold(name, "via")
		case 4:
			if eqFold(name, "host") {
				f.host = val
			}
		case 6:
			f.cdn = f.cdn || eqFold(name, "cf-ray")
		case 7:
			if eqFold(name, "referer") {
				f.referer = val
			} else {
				f.cdn = f.cdn || eqFold(name, "x-cache")
			}
		case 10:
			if eqFold(name, "user-agent") {
				f.userAgent = val
			}
		case 11:
			f.cdn = f.cdn || eqFold(name, "x-served-by") || eqFold(name, "x-amz-cf-id")
		case 12:
			if eqFold(name, "content-type") {
				f.contentType = val
			}
		}
	}
}

// eqFold compares ASCII b with lower-case s, ignoring case.
func eqFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// deviceOS names the operating system of a User-Agent, 0 when unknown.
func deviceOS(ua []byte) uint8 {
	for i, tok := range osTokens {
		if bytes.Contains(ua, []byte(tok.token)) {
			return uint8(i + 1)
		}
	}
	return 0
}

var osTokens = [...]struct{ token, name string }{
	{"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iOS"}, {"CrOS", "ChromeOS"},
	{"Windows", "Windows"}, {"Macintosh", "macOS"}, {"Mac OS X", "macOS"}, {"Linux", "Linux"},
}

func osName(os uint8) string {
	if os == 0 || int(os) > len(osTokens) {
		return ""
	}
	return osTokens[os-1].name
}

// contentClass maps a MIME type to MMT's content class.
func contentClass(mime []byte) uint8 {
	i := bytes.IndexByte(mime, '/')
	if i < 0 {
		return 0
	}
	switch t := mime[:i]; {
	case eqFold(t, "application"):
		return 1
	case eqFold(t, "image"):
		return 2
	case eqFold(t, "audio"):
		return 3
	case eqFold(t, "video"):
		return 4
	case eqFold(t, "message"):
		return 5
	case eqFold(t, "model"):
		return 6
	case eqFold(t, "multipart"):
		return 7
	case eqFold(t, "text"):
		return 8
	}
	return 0
}

// mimeType is a Content-Type without its parameters.
func mimeType(ct []byte) []byte {
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return bytes.TrimSpace(ct)
}

// rtpHeader reads an RTP header: version 2, not RTCP (payload types 72 to
// 76 with the marker bit are RTCP's 200 to 204).
func rtpHeader(b []byte) (pt uint8, seq uint16, ts, ssrc uint32, ok bool) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return
	}
	pt = b[1] & 0x7f
	if pt >= 72 && pt <= 76 || pt > 34 && pt < 96 {
		return
	}
	return pt, binary.BigEndian.Uint16(b[2:]), binary.BigEndian.Uint32(b[4:]), binary.BigEndian.Uint32(b[8:]), true
}

// rtpClock is the clock rate of a static payload type, 0 when dynamic.
func rtpClock(pt uint8) float64 {
	switch {
	case pt <= 9 || pt == 12 || pt == 13 || pt == 15 || pt == 18:
		return 8000
	case pt == 10 || pt == 11:
		return 44100
	case pt == 14 || pt >= 25 && pt <= 34:
		return 90000
	}
	return 0
}
