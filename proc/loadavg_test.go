package proc

import (
	"errors"
	"testing"
)

func TestParseLoadavg(t *testing.T) {
	tests := []struct {
		file string
		want Loadavg
	}{
		{"router-arm-zte-zx279128/proc/loadavg", Loadavg{2.79, 1.23, 0.85, 3, 119, 1351}},
		{"x86-desktop-k3.13/proc/loadavg", Loadavg{0.80, 0.29, 0.14, 3, 368, 16235}},
		{"misc-prometheus-procfs/proc/loadavg", Loadavg{0.02, 0.04, 0.05, 1, 497, 11947}},
		{"misc-goprocinfo/proc/loadavg", Loadavg{0.01, 0.02, 0.05, 1, 135, 11975}},
	}
	for _, tt := range tests {
		var got Loadavg
		if err := ParseLoadavg(fixture(t, tt.file), &got); err != nil {
			t.Errorf("%s: %v", tt.file, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.file, got, tt.want)
		}
	}
}

func TestParseLoadavgBroken(t *testing.T) {
	tests := map[string]string{
		"empty":              "",
		"garbage":            "garbage\n",
		"short line":         "0.80 0.29 0.14\n",
		"no slash":           "0.80 0.29 0.14 3 16235\n",
		"bad load":           "0.80 x 0.14 3/368 16235\n",
		"negative load":      "-0.80 0.29 0.14 3/368 16235\n",
		"cut short mid-line": "0.80 0.29 0.14 3/",
		"empty total":        "0.80 0.29 0.14 3/ 16235\n",
	}
	for name, in := range tests {
		var got Loadavg
		if err := ParseLoadavg([]byte(in), &got); !errors.Is(err, ErrParse) {
			t.Errorf("%s: err = %v, want ErrParse", name, err)
		}
		if got != (Loadavg{}) {
			t.Errorf("%s: dst = %+v, want zero after an error", name, got)
		}
	}
}

func FuzzParseLoadavg(f *testing.F) {
	for _, b := range fixturesNamed(f, "/proc/loadavg") {
		f.Add(b)
	}
	for _, s := range brokenInputs {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var l Loadavg
		err := ParseLoadavg(data, &l)
		if err != nil {
			if !errors.Is(err, ErrParse) {
				t.Fatalf("error does not wrap ErrParse: %v", err)
			}
			return
		}
		if l.Load1 < 0 || l.Load5 < 0 || l.Load15 < 0 {
			t.Fatalf("negative load %+v", l)
		}
	})
}

func BenchmarkParseLoadavg(b *testing.B) {
	data := fixture(b, "x86-desktop-k3.13/proc/loadavg")
	var l Loadavg
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseLoadavg(data, &l); err != nil {
			b.Fatal(err)
		}
	}
}
