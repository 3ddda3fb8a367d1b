package traffic

import (
	"math"
	"net/netip"
	"strconv"

	"edgestat/probe"
)

// AppendObject appends the JSON object form of r, the `stats` event of
// MMT-Operator. Format 99 keeps the original names (flowcount, bytecount
// ...); flow reports (formats 0 to 3) and host rows (100) use the snake_case
// column names of MMT.md. Every value is written exactly as r.AppendJSON
// writes the same column, so a client may use either form.
//
// A Row that is not one of probe's types is read back through its JSON
// array, which costs allocations; probe's own types cost none when dst has
// room.
func AppendObject(dst []byte, r probe.Row) []byte {
	switch r := r.(type) {
	case *probe.StatRow:
		if r == nil {
			return append(dst, "null"...)
		}
		return appendStatObject(dst, r)
	case *probe.FlowRow:
		if r == nil {
			return append(dst, "null"...)
		}
		return appendFlowObject(dst, r)
	case *probe.HostRow:
		if r == nil {
			return append(dst, "null"...)
		}
		return appendHostObject(dst, r)
	case nil:
		return append(dst, "null"...)
	}
	c, err := probe.ParseRow(r.AppendJSON(nil))
	if err != nil {
		return append(dst, "null"...)
	}
	return AppendObject(dst, c)
}

func appendStatObject(dst []byte, r *probe.StatRow) []byte {
	dst = objHeader(dst, probe.FormatStats, r.Probe, r.Source, r.Time)
	dst = objUint(dst, "app", uint64(r.App))
	dst = objStr(dst, "path", r.Path)
	dst = objUint(dst, "flowcount", r.TotalFlows)
	dst = objUint(dst, "active_flowcount", r.ActiveFlows)
	dst = objUint(dst, "bytecount", r.Bytes)
	dst = objUint(dst, "payloadcount", r.Payload)
	dst = objUint(dst, "packetcount", r.Packets)
	return append(dst, '}')
}

func appendFlowObject(dst []byte, r *probe.FlowRow) []byte {
	dst = objHeader(dst, int(r.Format), r.Probe, r.Source, r.Time)
	dst = objUint(dst, "flow_id", r.FlowID)
	dst = objInt(dst, "start_time", r.StartTime)
	dst = objUint(dst, "ip_version", uint64(r.IPVersion))
	dst = objAddr(dst, "server_addr", r.ServerAddr)
	dst = objAddr(dst, "client_addr", r.ClientAddr)
	dst = objUint(dst, "server_port", uint64(r.ServerPort))
	dst = objUint(dst, "client_port", uint64(r.ClientPort))
	dst = objUint(dst, "transport", uint64(r.Transport))
	dst = objUint(dst, "ul_packets", r.ULPackets)
	dst = objUint(dst, "dl_packets", r.DLPackets)
	dst = objUint(dst, "ul_bytes", r.ULBytes)
	dst = objUint(dst, "dl_bytes", r.DLBytes)
	dst = objMS(dst, "tcp_rtt", r.TCPRTT)
	dst = objUint(dst, "retransmissions", r.Retransmissions)
	dst = objUint(dst, "app_family", uint64(r.AppFamily))
	dst = objUint(dst, "content_class", uint64(r.ContentClass))
	dst = objStr(dst, "path", r.Path)
	dst = objUint(dst, "app", uint64(r.App))
	switch r.Format {
	case probe.FormatHTTP:
		dst = objMS(dst, "response_time", r.ResponseTime)
		dst = objUint(dst, "transactions", r.Transactions)
		dst = objMS(dst, "interaction_time", r.InteractionTime)
		dst = objStr(dst, "hostname", r.Hostname)
		dst = objStr(dst, "mime", r.MIME)
		dst = objStr(dst, "referer", r.Referer)
		dst = objStr(dst, "device_os", r.DeviceOS)
		dst = objUint(dst, "cdn", uint64(r.CDN))
	case probe.FormatTLS:
		dst = objStr(dst, "server_name", r.ServerName)
		dst = objUint(dst, "cdn", uint64(r.CDN))
	case probe.FormatRTP:
		dst = objFloat(dst, "loss_rate", r.LossRate)
		dst = objFloat(dst, "loss_burstiness", r.LossBurstiness)
		dst = objMS(dst, "max_jitter", r.MaxJitter)
		dst = objFloat(dst, "order_error_rate", r.OrderErrorRate)
	}
	return append(dst, '}')
}

func appendHostObject(dst []byte, r *probe.HostRow) []byte {
	const hexdigits = "0123456789abcdef"
	dst = objHeader(dst, probe.FormatHosts, r.Probe, r.Source, r.Time)
	dst = append(dst, `,"mac":"`...)
	if r.MAC != ([6]byte{}) {
		for i, b := range r.MAC {
			if i > 0 {
				dst = append(dst, ':')
			}
			dst = append(dst, hexdigits[b>>4], hexdigits[b&15])
		}
	}
	dst = append(dst, '"')
	dst = objAddr(dst, "ip", r.IP)
	dst = objUint(dst, "out_bytes", r.OutBytes)
	dst = objUint(dst, "in_bytes", r.InBytes)
	dst = objUint(dst, "out_packets", r.OutPackets)
	dst = objUint(dst, "in_packets", r.InPackets)
	return append(dst, '}')
}

// The obj* helpers write `,"key":value`; objHeader opens the object. Keys
// are constants, so none needs escaping.

func objHeader(dst []byte, format int, probeID uint32, source string, ms int64) []byte {
	dst = append(dst, `{"format":`...)
	dst = strconv.AppendInt(dst, int64(format), 10)
	dst = objUint(dst, "probe", uint64(probeID))
	dst = objStr(dst, "source", source)
	return objInt(dst, "time", ms)
}

func objKey(dst []byte, key string) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}

func objUint(dst []byte, key string, v uint64) []byte {
	return strconv.AppendUint(objKey(dst, key), v, 10)
}

func objInt(dst []byte, key string, v int64) []byte {
	return strconv.AppendInt(objKey(dst, key), v, 10)
}

// objMS writes a duration in ms rounded to microseconds, as probe does.
func objMS(dst []byte, key string, v float64) []byte {
	return objFloat(dst, key, math.Round(v*1000)/1000)
}

// objFloat writes what probe writes: the shortest decimal, 0 for NaN and
// infinities (JSON has neither).
func objFloat(dst []byte, key string, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		v = 0
	}
	return strconv.AppendFloat(objKey(dst, key), v, 'f', -1, 64)
}

func objAddr(dst []byte, key string, a netip.Addr) []byte {
	dst = append(objKey(dst, key), '"')
	if a.IsValid() {
		dst = a.AppendTo(dst)
	}
	return append(dst, '"')
}

// objStr escapes as probe's JSON rows do: quote, backslash and control
// bytes; other bytes pass unchanged.
func objStr(dst []byte, key, s string) []byte {
	const hexdigits = "0123456789abcdef"
	dst = append(objKey(dst, key), '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexdigits[c>>4], hexdigits[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
