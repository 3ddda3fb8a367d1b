package proc

import (
	"errors"
	"testing"
)

func TestParseUptime(t *testing.T) {
	tests := []struct {
		file string
		want Uptime
	}{
		{"router-arm-zte-zx279128/proc/uptime", Uptime{1690.18, 2983.59}},
		{"x86-desktop-k3.13/proc/uptime", Uptime{361471.92, 2878704.76}},
		{"misc-goprocinfo/proc/uptime", Uptime{23535.50, 188023.20}},
	}
	for _, tt := range tests {
		var got Uptime
		if err := ParseUptime(fixture(t, tt.file), &got); err != nil {
			t.Errorf("%s: %v", tt.file, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.file, got, tt.want)
		}
	}
}

func TestParseUptimeBroken(t *testing.T) {
	tests := map[string]string{
		"empty":              "",
		"garbage":            "garbage\n",
		"short line":         "1690.18\n",
		"negative":           "-1690.18 2983.59\n",
		"cut short mid-line": "1690.18 ",
		"two lines":          "1690.18\n2983.59\n",
	}
	for name, in := range tests {
		var got Uptime
		if err := ParseUptime([]byte(in), &got); !errors.Is(err, ErrParse) {
			t.Errorf("%s: err = %v, want ErrParse", name, err)
		}
	}
}

func FuzzParseUptime(f *testing.F) {
	for _, b := range fixturesNamed(f, "/proc/uptime") {
		f.Add(b)
	}
	for _, s := range brokenInputs {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var u Uptime
		err := ParseUptime(data, &u)
		if err != nil {
			if !errors.Is(err, ErrParse) {
				t.Fatalf("error does not wrap ErrParse: %v", err)
			}
			return
		}
		if u.Seconds < 0 || u.Idle < 0 {
			t.Fatalf("negative %+v", u)
		}
	})
}

func BenchmarkParseUptime(b *testing.B) {
	data := fixture(b, "x86-desktop-k3.13/proc/uptime")
	var u Uptime
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseUptime(data, &u); err != nil {
			b.Fatal(err)
		}
	}
}
