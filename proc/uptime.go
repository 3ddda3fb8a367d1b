package proc

// Uptime is /proc/uptime: "1690.18 2983.59".
type Uptime struct {
	Seconds float64 // since boot
	Idle    float64 // idle time summed over CPUs, so it can exceed Seconds
}

const uptimeFile = "/proc/uptime"

// ParseUptime parses /proc/uptime into dst. Both fields are required.
func ParseUptime(data []byte, dst *Uptime) error {
	line, _ := nextLine(data)
	*dst = Uptime{}
	f1, rest := nextField(line)
	f2, _ := nextField(rest)
	up, ok1 := parseFloat(f1)
	idle, ok2 := parseFloat(f2)
	if !ok1 || !ok2 || up < 0 || idle < 0 {
		return lineError(uptimeFile, 1, line, "want two non-negative numbers")
	}
	dst.Seconds, dst.Idle = up, idle
	return nil
}
