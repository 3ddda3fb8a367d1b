package proc

import "bytes"

// NetDevLine is one interface of /proc/net/dev.
type NetDevLine struct {
	Name                                     string
	RxBytes, RxPackets, RxErrs, RxDrop       uint64
	RxFifo, RxFrame, RxCompressed, RxMcast   uint64
	TxBytes, TxPackets, TxErrs, TxDrop       uint64
	TxFifo, TxColls, TxCarrier, TxCompressed uint64
}

// NetDev is /proc/net/dev: the interfaces in file order.
type NetDev struct {
	Ifaces []NetDevLine
}

// Find returns the interface called name, or nil.
func (d *NetDev) Find(name string) *NetDevLine {
	for i := range d.Ifaces {
		if d.Ifaces[i].Name == name {
			return &d.Ifaces[i]
		}
	}
	return nil
}

const netDevFile = "/proc/net/dev"

// ParseNetDev parses /proc/net/dev into dst, reusing dst.Ifaces and, when
// the interfaces come in the same order as last time, their Name strings, so
// a steady-state parse allocates nothing.
//
// The name ends at the first colon, not at a blank: names of 7 characters
// and more ("ip6tnl0:", "vethf345468:") have no leading padding, and on old
// kernels a counter wider than its column runs into the colon
// ("eth0:23443246382 63554887 ..."). The two header lines hold '|'.
// All 16 counters are required.
func ParseNetDev(data []byte, dst *NetDev) error {
	prev := dst.Ifaces
	dst.Ifaces = dst.Ifaces[:0]
	for n := 1; len(data) > 0; n++ {
		var line []byte
		line, data = nextLine(data)
		if len(trimSpace(line)) == 0 {
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			if n <= 2 && bytes.IndexByte(line, '|') >= 0 {
				continue // header
			}
			return lineError(netDevFile, n, line, "no colon")
		}
		name := trimSpace(line[:colon])
		if len(name) == 0 {
			return lineError(netDevFile, n, line, "empty interface name")
		}
		i := len(dst.Ifaces)
		var e NetDevLine
		if i < len(prev) {
			e.Name = prev[i].Name // same slot as last parse: keep its string
		}
		if e.Name != string(name) {
			e.Name = string(name)
		}
		cols := [...]*uint64{&e.RxBytes, &e.RxPackets, &e.RxErrs, &e.RxDrop,
			&e.RxFifo, &e.RxFrame, &e.RxCompressed, &e.RxMcast,
			&e.TxBytes, &e.TxPackets, &e.TxErrs, &e.TxDrop,
			&e.TxFifo, &e.TxColls, &e.TxCarrier, &e.TxCompressed}
		rest := line[colon+1:]
		for _, p := range cols {
			var f []byte
			f, rest = nextField(rest)
			v, ok := parseUint(f)
			if !ok {
				if len(f) == 0 {
					return lineError(netDevFile, n, line, "too few counters")
				}
				return lineError(netDevFile, n, line, "bad counter")
			}
			*p = v
		}
		dst.Ifaces = append(dst.Ifaces, e)
	}
	if len(dst.Ifaces) == 0 {
		return fileError(netDevFile, "no interface")
	}
	return nil
}
