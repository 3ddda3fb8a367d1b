package proc

import "bytes"

// Loadavg is /proc/loadavg: "2.79 1.23 0.85 3/119 1351".
type Loadavg struct {
	Load1, Load5, Load15 float64
	Running              uint64 // runnable scheduling entities (threads) now
	Total                uint64 // scheduling entities that exist now
	LastPID              uint64 // most recently created PID
}

const loadavgFile = "/proc/loadavg"

// ParseLoadavg parses /proc/loadavg into dst. All five fields are required.
func ParseLoadavg(data []byte, dst *Loadavg) error {
	line, _ := nextLine(data)
	*dst = Loadavg{}
	var f [5][]byte
	rest := line
	for i := range f {
		f[i], rest = nextField(rest)
		if len(f[i]) == 0 {
			return lineError(loadavgFile, 1, line, "too few fields")
		}
	}
	var ok1, ok2, ok3, ok4, ok5 bool
	dst.Load1, ok1 = parseFloat(f[0])
	dst.Load5, ok2 = parseFloat(f[1])
	dst.Load15, ok3 = parseFloat(f[2])
	slash := bytes.IndexByte(f[3], '/')
	if slash >= 0 {
		dst.Running, ok4 = parseUint(f[3][:slash])
		if ok4 {
			dst.Total, ok4 = parseUint(f[3][slash+1:])
		}
	}
	dst.LastPID, ok5 = parseUint(f[4])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || dst.Load1 < 0 || dst.Load5 < 0 || dst.Load15 < 0 {
		*dst = Loadavg{}
		return lineError(loadavgFile, 1, line, "bad field")
	}
	return nil
}
