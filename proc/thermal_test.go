package proc

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestParseThermal(t *testing.T) {
	temps := []struct {
		file string
		want int64
	}{
		{"rpi-zero-w-armv6/sys/class/thermal/thermal_zone0/temp", 40084},
		{"misc-prometheus-procfs/sys/class/thermal/thermal_zone0/temp", 49925},
		{"misc-prometheus-procfs/sys/class/thermal/thermal_zone1/temp", -44000},
		{"misc-node-exporter/sys/class/thermal/thermal_zone0/temp", 12376},
	}
	for _, tt := range temps {
		got, err := ParseThermalTemp(fixture(t, tt.file))
		if err != nil || got != tt.want {
			t.Errorf("%s: %d, %v; want %d", tt.file, got, err, tt.want)
		}
	}
	types := []struct {
		file, want string
	}{
		{"misc-prometheus-procfs/sys/class/thermal/thermal_zone0/type", "bcm2835_thermal"},
		{"misc-prometheus-procfs/sys/class/thermal/thermal_zone1/type", "acpitz"},
		{"misc-node-exporter/sys/class/thermal/thermal_zone0/type", "cpu-thermal"},
	}
	for _, tt := range types {
		got, err := ParseThermalType(fixture(t, tt.file))
		if err != nil || string(got) != tt.want {
			t.Errorf("%s: %q, %v; want %q", tt.file, got, err, tt.want)
		}
	}
}

func TestParseThermalBroken(t *testing.T) {
	for name, in := range map[string]string{
		"empty":              "",
		"garbage":            "garbage\n",
		"cut short mid-line": "4",
		"float":              "45.2\n",
	} {
		_, err := ParseThermalTemp([]byte(in))
		if name == "cut short mid-line" {
			if err != nil { // "4" is a valid (if cold) reading: cut-short is undetectable here
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if !errors.Is(err, ErrParse) {
			t.Errorf("temp %s: err = %v, want ErrParse", name, err)
		}
	}
	if _, err := ParseThermalType([]byte(" \n")); !errors.Is(err, ErrParse) {
		t.Errorf("empty type: err = %v, want ErrParse", err)
	}
}

func TestReadThermalZones(t *testing.T) {
	zones, _, err := ReadThermalZones(FS("testdata/misc-prometheus-procfs"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []ThermalZone{
		{"thermal_zone0", "bcm2835_thermal", 49925},
		{"thermal_zone1", "acpitz", -44000},
	}
	if len(zones) != len(want) || zones[0] != want[0] || zones[1] != want[1] {
		t.Errorf("got %+v, want %+v", zones, want)
	}
	if c := zones[1].Celsius(); c != -44 {
		t.Errorf("Celsius = %v", c)
	}

	// A Pi Zero with only a temp file: the type is empty.
	zones, _, err = ReadThermalZones(FS("testdata/rpi-zero-w-armv6"), nil, zones)
	if err != nil || len(zones) != 1 || zones[0] != (ThermalZone{"thermal_zone0", "", 40084}) {
		t.Errorf("got %+v, %v", zones, err)
	}

	// No /sys/class/thermal: no zone, no error.
	zones, _, err = ReadThermalZones(FS("testdata/x86-vm-sosreport"), nil, zones)
	if err != nil || len(zones) != 0 {
		t.Errorf("got %+v, %v; want none", zones, err)
	}

	// Zones come in numeric order; unreadable and unrelated entries are skipped.
	root := t.TempDir()
	for name, temp := range map[string]string{
		"thermal_zone10": "1000\n", "thermal_zone2": "2000\n", "thermal_zone1": "oops\n", "cooling_device0": "0\n",
	} {
		dir := filepath.Join(root, "sys/class/thermal", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "temp"), []byte(temp), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	zones, _, err = ReadThermalZones(FS(root), nil, zones)
	if err != nil || len(zones) != 2 || zones[0].Name != "thermal_zone2" || zones[1].Name != "thermal_zone10" {
		t.Errorf("got %+v, %v", zones, err)
	}
}

func FuzzParseThermalTemp(f *testing.F) {
	for _, b := range fixturesNamed(f, "/temp") {
		f.Add(b)
	}
	for _, b := range fixturesNamed(f, "/type") {
		f.Add(b)
	}
	for _, s := range brokenInputs {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := ParseThermalTemp(data); err != nil && !errors.Is(err, ErrParse) {
			t.Fatalf("error does not wrap ErrParse: %v", err)
		}
		typ, err := ParseThermalType(data)
		if err != nil && !errors.Is(err, ErrParse) {
			t.Fatalf("error does not wrap ErrParse: %v", err)
		}
		if err == nil && len(typ) == 0 {
			t.Fatal("empty type without error")
		}
	})
}

func BenchmarkParseThermalTemp(b *testing.B) {
	data := fixture(b, "rpi-zero-w-armv6/sys/class/thermal/thermal_zone0/temp")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseThermalTemp(data); err != nil {
			b.Fatal(err)
		}
	}
}
