package proc

import "bytes"

// SNMPValue is one counter of /proc/net/snmp, such as Tcp CurrEstab.
type SNMPValue struct {
	Proto string // "Ip", "Icmp", "IcmpMsg", "Tcp", "Udp", "UdpLite"
	Name  string // "InReceives", "CurrEstab", ...
	Value int64  // signed: Tcp MaxConn is -1
}

// SNMP is /proc/net/snmp as a flat list of counters in file order.
type SNMP struct {
	Values []SNMPValue
}

// Get returns the counter proto/name, if the kernel prints it.
func (s *SNMP) Get(proto, name string) (int64, bool) {
	for i := range s.Values {
		if s.Values[i].Proto == proto && s.Values[i].Name == name {
			return s.Values[i].Value, true
		}
	}
	return 0, false
}

const netSNMPFile = "/proc/net/snmp"

// ParseNetSNMP parses /proc/net/snmp into dst, reusing dst.Values and their
// strings when the layout is the same as last time. The file is pairs of
// lines: "Proto: Name1 Name2 ..." then "Proto: value1 value2 ...". A value
// line must repeat its header's protocol and count.
func ParseNetSNMP(data []byte, dst *SNMP) error {
	prev := dst.Values
	dst.Values = dst.Values[:0]
	for n := 1; len(data) > 0; n++ {
		var head, vals []byte
		head, data = nextLine(data)
		if len(trimSpace(head)) == 0 {
			continue
		}
		if len(data) == 0 {
			return lineError(netSNMPFile, n, head, "header without values")
		}
		vals, data = nextLine(data)
		n++
		hc := bytes.IndexByte(head, ':')
		vc := bytes.IndexByte(vals, ':')
		if hc <= 0 || vc <= 0 {
			return lineError(netSNMPFile, n, vals, "no protocol")
		}
		proto := head[:hc]
		if !bytes.Equal(proto, vals[:vc]) {
			return lineError(netSNMPFile, n, vals, "protocol differs from header")
		}
		hr, vr := head[hc+1:], vals[vc+1:]
		for {
			var name, val []byte
			name, hr = nextField(hr)
			val, vr = nextField(vr)
			if len(name) == 0 && len(val) == 0 {
				break
			}
			if len(name) == 0 || len(val) == 0 {
				return lineError(netSNMPFile, n, vals, "value count differs from header")
			}
			v, ok := parseInt(val)
			if !ok {
				// Counters are unsigned long; one past MaxInt64 is not plausible
				// but is not worth refusing the file for.
				u, uok := parseUint(val)
				if !uok {
					return lineError(netSNMPFile, n, vals, "bad value")
				}
				v = int64(u)
			}
			i := len(dst.Values)
			var e SNMPValue
			if i < len(prev) {
				e.Proto, e.Name = prev[i].Proto, prev[i].Name
			}
			if e.Proto != string(proto) {
				e.Proto = string(proto)
			}
			if e.Name != string(name) {
				e.Name = string(name)
			}
			e.Value = v
			dst.Values = append(dst.Values, e)
		}
	}
	if len(dst.Values) == 0 {
		return fileError(netSNMPFile, "no counters")
	}
	return nil
}
