package proc

import (
	"cmp"
	"slices"
	"strings"
)

// ThermalDir holds one thermal_zoneN directory per sensor; each has a "type"
// file (what it measures) and a "temp" file (millidegrees Celsius).
const ThermalDir = "/sys/class/thermal"

// ThermalZone is one /sys/class/thermal/thermal_zoneN.
type ThermalZone struct {
	Name  string // "thermal_zone0"
	Type  string // "cpu-thermal", "bcm2835_thermal", "x86_pkg_temp", "acpitz"
	Milli int64  // temperature in millidegrees Celsius; may be negative
}

// Celsius is the temperature in degrees Celsius.
func (z ThermalZone) Celsius() float64 { return float64(z.Milli) / 1000 }

const thermalTempFile = "/sys/class/thermal/thermal_zone*/temp"
const thermalTypeFile = "/sys/class/thermal/thermal_zone*/type"

// ParseThermalTemp parses /sys/class/thermal/thermal_zone*/temp: one
// integer, in millidegrees Celsius, negative below zero ("-44000").
func ParseThermalTemp(data []byte) (int64, error) {
	line, _ := nextLine(data)
	v, ok := parseInt(trimSpace(line))
	if !ok {
		return 0, lineError(thermalTempFile, 1, line, "want an integer")
	}
	return v, nil
}

// ParseThermalType parses /sys/class/thermal/thermal_zone*/type: one word.
// The result is a sub-slice of data.
func ParseThermalType(data []byte) ([]byte, error) {
	line, _ := nextLine(data)
	t := trimSpace(line)
	if len(t) == 0 {
		return nil, lineError(thermalTypeFile, 1, line, "empty type")
	}
	return t, nil
}

// ReadThermalZones reads every thermal zone of src into dst (reused, with
// its strings when nothing changed), ordered by zone number. buf is the read
// buffer, reused and returned. A box without /sys/class/thermal has no zones
// and that is no error; a zone whose temp cannot be read or parsed (drivers
// answer EINVAL or ENODATA while a sensor is off) is left out.
func ReadThermalZones(src Source, buf []byte, dst []ThermalZone) ([]ThermalZone, []byte, error) {
	prev := dst
	dst = dst[:0]
	names, err := src.ReadDir(ThermalDir)
	if err != nil {
		if IsNotExist(err) {
			return dst, buf, nil
		}
		return dst, buf, err
	}
	for _, name := range names {
		if _, ok := zoneNumber(name); !ok {
			continue
		}
		dir := ThermalDir + "/" + name
		buf, err = AppendFile(src, buf[:0], dir+"/temp")
		if err != nil {
			continue
		}
		milli, err := ParseThermalTemp(buf)
		if err != nil {
			continue
		}
		var z ThermalZone
		if i := len(dst); i < len(prev) {
			z = prev[i]
		}
		if z.Name != name {
			z.Name = name
		}
		z.Milli = milli
		var typ []byte
		if buf, err = AppendFile(src, buf[:0], dir+"/type"); err == nil {
			typ, _ = ParseThermalType(buf)
		}
		if z.Type != string(typ) {
			z.Type = string(typ)
		}
		dst = append(dst, z)
	}
	slices.SortStableFunc(dst, func(a, b ThermalZone) int {
		na, _ := zoneNumber(a.Name)
		nb, _ := zoneNumber(b.Name)
		return cmp.Compare(na, nb)
	})
	return dst, buf, nil
}

// zoneNumber returns N of "thermal_zoneN".
func zoneNumber(name string) (int, bool) {
	const prefix = "thermal_zone"
	if !strings.HasPrefix(name, prefix) {
		return 0, false
	}
	n, ok := parseUint([]byte(name[len(prefix):]))
	if !ok || n > 1<<20 {
		return 0, false
	}
	return int(n), true
}
