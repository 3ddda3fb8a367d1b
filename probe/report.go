package probe

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// Report formats (column 0 of every row).
const (
	FormatFlow  = 0   // flow report, no tail
	FormatHTTP  = 1   // flow report with the HTTP tail
	FormatTLS   = 2   // flow report with the TLS tail
	FormatRTP   = 3   // flow report with the RTP tail
	FormatStats = 99  // protocol statistics
	FormatHosts = 100 // host statistics (edgestat's own, see HostRow)
)

// A Row is one report in MMT column order. *StatRow, *FlowRow and *HostRow
// are Rows; ParseRow returns one of them.
type Row interface {
	// AppendJSON appends the row as a JSON array, time in milliseconds:
	// [99,123,"eth0",1429713111449,35,"99.178.354.153.35",321,3,60,6,1].
	AppendJSON(dst []byte) []byte
	// AppendCSV appends the row as MMT-Probe wrote it, time in seconds with
	// a three-digit fraction and strings quoted, without a newline:
	// 99,123,"eth0",1429713111.449,35,"99.178.354.153.35",321,3,60,6,1.
	AppendCSV(dst []byte) []byte
}

// A StatRow is a format 99 report: the traffic of one protocol path in one
// stats period.
type StatRow struct {
	Probe       uint32
	Source      string // interface or pcap file name
	Time        int64  // ms since the epoch, packet time of the period's end
	App         uint32 // last id of Path
	Path        string // dotted MMT ids from the link layer, "99.178.354.153"
	TotalFlows  uint64 // flows ever seen on the path (cumulative)
	ActiveFlows uint64 // flows on the path not yet ended (gauge)
	Bytes       uint64 // whole frame bytes in the period
	Payload     uint64 // bytes from the node's header offset to the frame end
	Packets     uint64
}

// A FlowRow is a flow report (formats 0 to 3), emitted when a flow ends.
// Durations are milliseconds.
type FlowRow struct {
	Format          uint8 // FormatFlow, FormatHTTP, FormatTLS or FormatRTP
	Probe           uint32
	Source          string
	Time            int64 // ms, packet time of the report
	FlowID          uint64
	StartTime       int64 // ms, first packet
	IPVersion       uint8
	ServerAddr      netip.Addr // destination of the first packet
	ClientAddr      netip.Addr // source of the first packet
	ServerPort      uint16
	ClientPort      uint16
	Transport       uint8 // IP protocol number
	ULPackets       uint64
	DLPackets       uint64
	ULBytes         uint64
	DLBytes         uint64
	TCPRTT          float64 // handshake round trip, ms; 0 when unknown or not TCP
	Retransmissions uint64
	AppFamily       uint8 // category id of App
	ContentClass    uint8 // 0 unspecified, 1 application ... 8 text, 9 conversation
	Path            string
	App             uint32

	// Format 1 (HTTP).
	ResponseTime    float64 // mean request to first response byte, ms
	Transactions    uint64
	InteractionTime float64 // first request to the flow's last packet, ms
	Hostname        string
	MIME            string
	Referer         string
	DeviceOS        string
	CDN             uint8 // 0 none, 1 the host is a CDN's, 2 a CDN answered (Via, X-Cache ...)

	// Format 2 (TLS): the SNI, and CDN as for HTTP.
	ServerName string

	// Format 3 (RTP).
	LossRate       float64 // lost / expected
	LossBurstiness float64 // mean length of a run of lost packets
	MaxJitter      float64 // RFC 3550 interarrival jitter, ms
	OrderErrorRate float64 // packets out of order / received
}

// A HostRow is edgestat's format 100, "host statistics" (MMT has none): the
// traffic of one LAN host (an address for which IsLocal holds, seen as a
// source) in one stats period. Columns:
//
//	0 format (100), 1 probe, 2 source, 3 time (ms; CSV: seconds),
//	4 mac ("aa:bb:cc:dd:ee:ff", "" when the link has none),
//	5 ip, 6 out_bytes, 7 in_bytes, 8 out_packets, 9 in_packets
//
// out is traffic the host sent, in what it received; a packet between two
// LAN hosts counts for both. Bytes are whole frames.
type HostRow struct {
	Probe      uint32
	Source     string
	Time       int64
	MAC        [6]byte
	IP         netip.Addr
	OutBytes   uint64
	InBytes    uint64
	OutPackets uint64
	InPackets  uint64
}

var (
	_ Row = (*StatRow)(nil)
	_ Row = (*FlowRow)(nil)
	_ Row = (*HostRow)(nil)
)

// ErrRow is wrapped by every error of ParseRow.
var ErrRow = errors.New("probe: bad report row")

// AppendJSON implements Row.
func (r *StatRow) AppendJSON(dst []byte) []byte { return r.appendRow(dst, true) }

// AppendCSV implements Row.
func (r *StatRow) AppendCSV(dst []byte) []byte { return r.appendRow(dst, false) }

func (r *StatRow) appendRow(dst []byte, js bool) []byte {
	dst = openRow(dst, js)
	dst = appendHeader(dst, FormatStats, r.Probe, r.Source, r.Time, js)
	dst = appendUint(dst, uint64(r.App))
	dst = appendStr(dst, r.Path, js)
	dst = appendUint(dst, r.TotalFlows)
	dst = appendUint(dst, r.ActiveFlows)
	dst = appendUint(dst, r.Bytes)
	dst = appendUint(dst, r.Payload)
	dst = appendUint(dst, r.Packets)
	return closeRow(dst, js)
}

// AppendJSON implements Row.
func (r *FlowRow) AppendJSON(dst []byte) []byte { return r.appendRow(dst, true) }

// AppendCSV implements Row.
func (r *FlowRow) AppendCSV(dst []byte) []byte { return r.appendRow(dst, false) }

func (r *FlowRow) appendRow(dst []byte, js bool) []byte {
	dst = openRow(dst, js)
	dst = appendHeader(dst, int(r.Format), r.Probe, r.Source, r.Time, js)
	dst = appendUint(dst, r.FlowID)
	dst = appendTime(dst, r.StartTime, js)
	dst = appendUint(dst, uint64(r.IPVersion))
	dst = appendAddr(dst, r.ServerAddr)
	dst = appendAddr(dst, r.ClientAddr)
	dst = appendUint(dst, uint64(r.ServerPort))
	dst = appendUint(dst, uint64(r.ClientPort))
	dst = appendUint(dst, uint64(r.Transport))
	dst = appendUint(dst, r.ULPackets)
	dst = appendUint(dst, r.DLPackets)
	dst = appendUint(dst, r.ULBytes)
	dst = appendUint(dst, r.DLBytes)
	dst = appendMS(dst, r.TCPRTT)
	dst = appendUint(dst, r.Retransmissions)
	dst = appendUint(dst, uint64(r.AppFamily))
	dst = appendUint(dst, uint64(r.ContentClass))
	dst = appendStr(dst, r.Path, js)
	dst = appendUint(dst, uint64(r.App))
	switch r.Format {
	case FormatHTTP:
		dst = appendMS(dst, r.ResponseTime)
		dst = appendUint(dst, r.Transactions)
		dst = appendMS(dst, r.InteractionTime)
		dst = appendStr(dst, r.Hostname, js)
		dst = appendStr(dst, r.MIME, js)
		dst = appendStr(dst, r.Referer, js)
		dst = appendStr(dst, r.DeviceOS, js)
		dst = appendUint(dst, uint64(r.CDN))
	case FormatTLS:
		dst = appendStr(dst, r.ServerName, js)
		dst = appendUint(dst, uint64(r.CDN))
	case FormatRTP:
		dst = appendFloat(dst, r.LossRate)
		dst = appendFloat(dst, r.LossBurstiness)
		dst = appendMS(dst, r.MaxJitter)
		dst = appendFloat(dst, r.OrderErrorRate)
	}
	return closeRow(dst, js)
}

// AppendJSON implements Row.
func (r *HostRow) AppendJSON(dst []byte) []byte { return r.appendRow(dst, true) }

// AppendCSV implements Row.
func (r *HostRow) AppendCSV(dst []byte) []byte { return r.appendRow(dst, false) }

func (r *HostRow) appendRow(dst []byte, js bool) []byte {
	dst = openRow(dst, js)
	dst = appendHeader(dst, FormatHosts, r.Probe, r.Source, r.Time, js)
	dst = append(dst, '"')
	if r.MAC != ([6]byte{}) {
		dst = appendMAC(dst, r.MAC)
	}
	dst = append(dst, '"', ',')
	dst = appendAddr(dst, r.IP)
	dst = appendUint(dst, r.OutBytes)
	dst = appendUint(dst, r.InBytes)
	dst = appendUint(dst, r.OutPackets)
	dst = appendUint(dst, r.InPackets)
	return closeRow(dst, js)
}

// MACString formats a hardware address as "aa:bb:cc:dd:ee:ff".
func MACString(mac [6]byte) string { return string(appendMAC(nil, mac)) }

func appendMAC(dst []byte, mac [6]byte) []byte {
	const hexdigits = "0123456789abcdef"
	for i, b := range mac {
		if i > 0 {
			dst = append(dst, ':')
		}
		dst = append(dst, hexdigits[b>>4], hexdigits[b&15])
	}
	return dst
}

func openRow(dst []byte, js bool) []byte {
	if js {
		dst = append(dst, '[')
	}
	return dst
}

func closeRow(dst []byte, js bool) []byte {
	dst = dst[:len(dst)-1] // the last comma
	if js {
		dst = append(dst, ']')
	}
	return dst
}

func appendHeader(dst []byte, format int, probe uint32, source string, t int64, js bool) []byte {
	dst = strconv.AppendInt(dst, int64(format), 10)
	dst = append(dst, ',')
	dst = appendUint(dst, uint64(probe))
	dst = appendStr(dst, source, js)
	return appendTime(dst, t, js)
}

// appendUint writes v and a comma. Most columns of a flow report are small
// numbers: those skip strconv.
func appendUint(dst []byte, v uint64) []byte {
	switch {
	case v < 10:
		return append(dst, byte('0'+v), ',')
	case v < 100:
		return append(dst, byte('0'+v/10), byte('0'+v%10), ',')
	}
	return append(strconv.AppendUint(dst, v, 10), ',')
}

// appendTime writes milliseconds (JSON) or seconds with a three-digit
// fraction (CSV).
func appendTime(dst []byte, ms int64, js bool) []byte {
	if js {
		return append(strconv.AppendInt(dst, ms, 10), ',')
	}
	if ms < 0 {
		dst = append(dst, '-')
		ms = -ms
	}
	dst = strconv.AppendInt(dst, ms/1000, 10)
	f := ms % 1000
	dst = append(dst, '.', byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10), ',')
	return dst
}

// appendMS writes a duration in ms rounded to microseconds.
func appendMS(dst []byte, v float64) []byte {
	return appendFloat(dst, math.Round(v*1000)/1000)
}

func appendFloat(dst []byte, v float64) []byte {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return append(dst, '0', ',')
	}
	return append(strconv.AppendFloat(dst, v, 'f', -1, 64), ',')
}

func appendAddr(dst []byte, a netip.Addr) []byte {
	dst = append(dst, '"')
	switch {
	case a.Is4():
		for i, o := range a.As4() {
			if i > 0 {
				dst = append(dst, '.')
			}
			switch {
			case o >= 100:
				dst = append(dst, '0'+o/100, '0'+o/10%10, '0'+o%10)
			case o >= 10:
				dst = append(dst, '0'+o/10, '0'+o%10)
			default:
				dst = append(dst, '0'+o)
			}
		}
	case a.IsValid():
		dst = a.AppendTo(dst)
	}
	return append(dst, '"', ',')
}

// appendStr writes a quoted string: JSON escapes for JSON, doubled quotes
// for CSV. Control bytes become spaces in CSV so a row stays on one line.
func appendStr(dst []byte, s string, js bool) []byte {
	const hexdigits = "0123456789abcdef"
	dst = append(dst, '"')
	if plainText(s) {
		return append(append(dst, s...), '"', ',')
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' && js:
			dst = append(dst, '\\', '"')
		case c == '"':
			dst = append(dst, '"', '"')
		case c == '\\' && js:
			dst = append(dst, '\\', '\\')
		case c < 0x20 && js:
			dst = append(dst, '\\', 'u', '0', '0', hexdigits[c>>4], hexdigits[c&15])
		case c < 0x20:
			dst = append(dst, ' ')
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"', ',')
}

// plainText reports whether s needs no escape in either format.
func plainText(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// field is one parsed column: a string (quoted in the input) or the text
// of a number.
type field struct {
	s      string
	quoted bool
}

// ParseRow parses one report: a JSON array ([99,1,"eth0",1429713111449,...],
// times in milliseconds, or in seconds when they have a fraction, as in
// MMT-Probe's CSV line wrapped in brackets that it published to Redis) or an
// MMT-Probe CSV line (99,1,"eth0",1429713111.449,..., times in seconds).
// The result is a *StatRow, *FlowRow or *HostRow. Columns beyond those
// the format defines are ignored; missing ones are an error.
func ParseRow(line []byte) (Row, error) {
	var buf [32]field
	fs, js, err := splitRow(line, buf[:0])
	if err != nil {
		return nil, err
	}
	p := rowParser{f: fs, js: js}
	format := p.uint(0, 255)
	switch {
	case p.err != nil:
		return nil, p.err
	case format == FormatStats:
		p.need(11)
		r := &StatRow{}
		r.Probe, r.Source, r.Time = uint32(p.uint(1, math.MaxUint32)), p.str(2), p.time(3)
		r.App, r.Path = uint32(p.uint(4, math.MaxUint32)), p.str(5)
		r.TotalFlows, r.ActiveFlows = p.uint(6, math.MaxUint64), p.uint(7, math.MaxUint64)
		r.Bytes, r.Payload, r.Packets = p.uint(8, math.MaxUint64), p.uint(9, math.MaxUint64), p.uint(10, math.MaxUint64)
		if p.err != nil {
			return nil, p.err
		}
		return r, nil
	case format == FormatHosts:
		p.need(10)
		r := &HostRow{}
		r.Probe, r.Source, r.Time = uint32(p.uint(1, math.MaxUint32)), p.str(2), p.time(3)
		r.MAC, r.IP = p.mac(4), p.addr(5)
		r.OutBytes, r.InBytes = p.uint(6, math.MaxUint64), p.uint(7, math.MaxUint64)
		r.OutPackets, r.InPackets = p.uint(8, math.MaxUint64), p.uint(9, math.MaxUint64)
		if p.err != nil {
			return nil, p.err
		}
		return r, nil
	case format <= FormatRTP:
		n := [...]int{22, 30, 24, 26}[format]
		p.need(n)
		r := &FlowRow{Format: uint8(format)}
		r.Probe, r.Source, r.Time = uint32(p.uint(1, math.MaxUint32)), p.str(2), p.time(3)
		r.FlowID, r.StartTime, r.IPVersion = p.uint(4, math.MaxUint64), p.time(5), uint8(p.uint(6, 6))
		r.ServerAddr, r.ClientAddr = p.addr(7), p.addr(8)
		r.ServerPort, r.ClientPort = uint16(p.uint(9, 65535)), uint16(p.uint(10, 65535))
		r.Transport = uint8(p.uint(11, 255))
		r.ULPackets, r.DLPackets = p.uint(12, math.MaxUint64), p.uint(13, math.MaxUint64)
		r.ULBytes, r.DLBytes = p.uint(14, math.MaxUint64), p.uint(15, math.MaxUint64)
		r.TCPRTT, r.Retransmissions = p.float(16), p.uint(17, math.MaxUint64)
		r.AppFamily, r.ContentClass = uint8(p.uint(18, 255)), uint8(p.uint(19, 255))
		r.Path, r.App = p.str(20), uint32(p.uint(21, math.MaxUint32))
		switch format {
		case FormatHTTP:
			r.ResponseTime, r.Transactions, r.InteractionTime = p.float(22), p.uint(23, math.MaxUint64), p.float(24)
			r.Hostname, r.MIME, r.Referer, r.DeviceOS = p.str(25), p.str(26), p.str(27), p.str(28)
			r.CDN = uint8(p.uint(29, 255))
		case FormatTLS:
			r.ServerName, r.CDN = p.str(22), uint8(p.uint(23, 255))
		case FormatRTP:
			r.LossRate, r.LossBurstiness, r.MaxJitter, r.OrderErrorRate = p.float(22), p.float(23), p.float(24), p.float(25)
		}
		if p.err != nil {
			return nil, p.err
		}
		return r, nil
	}
	return nil, fmt.Errorf("%w: unknown format %d", ErrRow, format)
}

type rowParser struct {
	f   []field
	js  bool
	err error
}

func (p *rowParser) fail(i int, what string) {
	if p.err == nil {
		v := ""
		if i < len(p.f) {
			v = p.f[i].s
		}
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		p.err = fmt.Errorf("%w: column %d: %s %q", ErrRow, i, what, v)
	}
}

func (p *rowParser) need(n int) {
	if len(p.f) < n && p.err == nil {
		p.err = fmt.Errorf("%w: %d columns, format needs %d", ErrRow, len(p.f), n)
	}
}

func (p *rowParser) get(i int) (field, bool) {
	if p.err != nil || i >= len(p.f) {
		return field{}, false
	}
	return p.f[i], true
}

func (p *rowParser) str(i int) string {
	f, _ := p.get(i)
	return f.s
}

func (p *rowParser) uint(i int, max uint64) uint64 {
	f, ok := p.get(i)
	if !ok {
		return 0
	}
	if f.quoted || f.s == "" {
		p.fail(i, "not a number")
		return 0
	}
	v, err := strconv.ParseUint(f.s, 10, 64)
	if err != nil {
		fv, ferr := strconv.ParseFloat(f.s, 64)
		if ferr != nil || fv < 0 || fv >= 1<<64 || fv != fv {
			p.fail(i, "not an unsigned number")
			return 0
		}
		v = uint64(fv)
	}
	if v > max {
		p.fail(i, "out of range")
		return 0
	}
	return v
}

func (p *rowParser) float(i int) float64 {
	f, ok := p.get(i)
	if !ok {
		return 0
	}
	v, err := strconv.ParseFloat(f.s, 64)
	if f.quoted || err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		p.fail(i, "not a number")
		return 0
	}
	return v
}

// time reads a time: in a CSV line seconds (with or without a fraction),
// in a JSON array milliseconds, or seconds when it has a fraction.
func (p *rowParser) time(i int) int64 {
	f, ok := p.get(i)
	if !ok {
		return 0
	}
	if !f.quoted {
		if v, err := strconv.ParseInt(f.s, 10, 64); err == nil {
			// Times are bounded to ±1e15 ms (the year 33658) in both
			// forms, so that any time read can be written again.
			if p.js && v > -1e15 && v < 1e15 {
				return v
			}
			if !p.js && v > -1e12 && v < 1e12 {
				return v * 1000
			}
		} else if ms, ok := secondsToMS(f.s); ok {
			return ms
		}
	}
	p.fail(i, "not a time")
	return 0
}

// secondsToMS reads seconds with a decimal fraction ("1429713111.449")
// as milliseconds, in integers: a float64 loses the milliseconds of large
// times, and a re-encoded row would then differ from the one read. Digits
// past the third of the fraction round half up.
func secondsToMS(s string) (int64, bool) {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	whole, frac, ok := strings.Cut(s, ".")
	if !ok || whole == "" || frac == "" || len(whole) > 12 {
		return 0, false
	}
	sec, err := strconv.ParseUint(whole, 10, 64)
	if err != nil {
		return 0, false
	}
	var ms int64
	for i := 0; i < len(frac); i++ {
		c := frac[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		switch {
		case i < 3:
			ms = ms*10 + int64(c-'0')
		case i == 3 && c >= '5':
			ms++
		}
	}
	for i := len(frac); i < 3; i++ {
		ms *= 10
	}
	v := int64(sec)*1000 + ms
	if neg {
		v = -v
	}
	return v, true
}

func (p *rowParser) addr(i int) netip.Addr {
	f, ok := p.get(i)
	if !ok || f.s == "" {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(f.s)
	if err != nil {
		p.fail(i, "not an IP address")
	}
	return a
}

func (p *rowParser) mac(i int) (mac [6]byte) {
	f, ok := p.get(i)
	if !ok || f.s == "" {
		return mac
	}
	s := f.s
	if len(s) != 17 {
		p.fail(i, "not a MAC address")
		return mac
	}
	for j := range mac {
		hi, lo := unhex(s[3*j]), unhex(s[3*j+1])
		if hi < 0 || lo < 0 || (j < 5 && s[3*j+2] != ':' && s[3*j+2] != '-') {
			p.fail(i, "not a MAC address")
			return [6]byte{}
		}
		mac[j] = byte(hi<<4 | lo)
	}
	return mac
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// maxColumns bounds the columns ParseRow reads.
const maxColumns = 64

// splitRow splits a JSON array or a CSV line into fields.
func splitRow(line []byte, fs []field) (_ []field, js bool, _ error) {
	i := 0
	skip := func() {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == '\n') {
			i++
		}
	}
	skip()
	js = i < len(line) && line[i] == '['
	if js {
		i++
	}
	end := len(line)
	for end > i && (line[end-1] == ' ' || line[end-1] == '\t' || line[end-1] == '\r' || line[end-1] == '\n') {
		end--
	}
	if js {
		if end <= i || line[end-1] != ']' {
			return nil, js, fmt.Errorf("%w: JSON array without ]", ErrRow)
		}
		end--
	}
	line = line[:end]
	for {
		skip()
		if len(fs) >= maxColumns {
			return nil, js, fmt.Errorf("%w: more than %d columns", ErrRow, maxColumns)
		}
		var f field
		if i < len(line) && line[i] == '"' {
			s, n, err := unquote(line[i:], js)
			if err != nil {
				return nil, js, err
			}
			f = field{s: s, quoted: true}
			i += n
			skip()
		} else {
			j := i
			for i < len(line) && line[i] != ',' {
				i++
			}
			k := i
			for k > j && (line[k-1] == ' ' || line[k-1] == '\t') {
				k--
			}
			f = field{s: string(line[j:k])}
			if js {
				if f.s == "null" {
					f.s = ""
				} else if f.s == "" {
					return nil, js, fmt.Errorf("%w: empty JSON value", ErrRow)
				}
			}
		}
		fs = append(fs, f)
		if i >= len(line) {
			break
		}
		if line[i] != ',' {
			return nil, js, fmt.Errorf("%w: expected a comma at byte %d", ErrRow, i)
		}
		i++
	}
	if len(fs) == 1 && fs[0].s == "" && !fs[0].quoted {
		return nil, js, fmt.Errorf("%w: empty", ErrRow)
	}
	return fs, js, nil
}

// unquote reads a quoted string at the start of b: JSON escapes when js,
// CSV's doubled quotes otherwise. It returns the string and the bytes used.
func unquote(b []byte, js bool) (string, int, error) {
	// Fast path: no escapes.
	for i := 1; i < len(b); i++ {
		c := b[i]
		if c == '"' {
			if !js && i+1 < len(b) && b[i+1] == '"' {
				break
			}
			return string(b[1:i]), i + 1, nil
		}
		if c == '\\' && js {
			break
		}
	}
	out := make([]byte, 0, len(b))
	for i := 1; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '"' && !js && i+1 < len(b) && b[i+1] == '"':
			out = append(out, '"')
			i++
		case c == '"':
			return string(out), i + 1, nil
		case c == '\\' && js:
			if i+1 >= len(b) {
				return "", 0, fmt.Errorf("%w: unterminated string", ErrRow)
			}
			i++
			switch b[i] {
			case '"', '\\', '/':
				out = append(out, b[i])
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				if i+4 >= len(b) {
					return "", 0, fmt.Errorf("%w: bad \\u escape", ErrRow)
				}
				r := 0
				for _, h := range b[i+1 : i+5] {
					d := unhex(h)
					if d < 0 {
						return "", 0, fmt.Errorf("%w: bad \\u escape", ErrRow)
					}
					r = r<<4 | d
				}
				i += 4
				out = appendRune(out, rune(r))
			default:
				return "", 0, fmt.Errorf("%w: bad escape \\%c", ErrRow, b[i])
			}
		default:
			out = append(out, c)
		}
	}
	return "", 0, fmt.Errorf("%w: unterminated string", ErrRow)
}

func appendRune(dst []byte, r rune) []byte {
	return append(dst, string(r)...)
}
