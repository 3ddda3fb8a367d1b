package proc

import (
	"errors"
	"testing"
)

func TestParseNetSNMPFixtures(t *testing.T) {
	tests := []struct {
		file  string
		count int
		want  map[[2]string]int64
	}{
		{"router-arm-zte-zx279128/proc/1/net/snmp", 19 + 27 + 15 + 8 + 8,
			map[[2]string]int64{
				{"Ip", "Forwarding"}:        2,
				{"Ip", "InReceives"}:        2172,
				{"Ip", "OutRequests"}:       1116,
				{"Tcp", "MaxConn"}:          -1,
				{"Tcp", "CurrEstab"}:        1,
				{"Tcp", "InSegs"}:           2084,
				{"Tcp", "OutSegs"}:          1111,
				{"Udp", "IgnoredMulti"}:     0,
				{"UdpLite", "NoPorts"}:      0,
				{"Icmp", "OutAddrMaskReps"}: 0,
			}},
		{"misc-node-exporter/proc/net/snmp", 0, // IcmpMsg pairs too
			map[[2]string]int64{
				{"IcmpMsg", "InType3"}: 104,
				{"Tcp", "MaxConn"}:     -1,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var s SNMP
			if err := ParseNetSNMP(fixture(t, tt.file), &s); err != nil {
				t.Fatal(err)
			}
			if tt.count != 0 && len(s.Values) != tt.count {
				t.Errorf("%d values, want %d", len(s.Values), tt.count)
			}
			for k, want := range tt.want {
				if got, ok := s.Get(k[0], k[1]); !ok || got != want {
					t.Errorf("%s %s = %d, %v; want %d", k[0], k[1], got, ok, want)
				}
			}
			if _, ok := s.Get("Tcp", "Nope"); ok {
				t.Error("Get of a missing counter reports it")
			}
		})
	}
}

func TestParseNetSNMPBroken(t *testing.T) {
	tests := map[string]string{
		"empty":              "",
		"garbage":            "garbage\nmore garbage\n",
		"header only":        "Ip: Forwarding DefaultTTL\n",
		"protocol differs":   "Ip: Forwarding DefaultTTL\nTcp: 1 2\n",
		"short line":         "Ip: Forwarding DefaultTTL\nIp: 1\n",
		"long line":          "Ip: Forwarding\nIp: 1 2\n",
		"bad value":          "Ip: Forwarding\nIp: x\n",
		"cut short mid-line": "Ip: Forwarding DefaultTTL InReceives\nIp: 2 64",
		"no colon":           "Ip Forwarding\nIp 1\n",
	}
	for name, in := range tests {
		var s SNMP
		if err := ParseNetSNMP([]byte(in), &s); !errors.Is(err, ErrParse) {
			t.Errorf("%s: err = %v, want ErrParse", name, err)
		}
	}
}

func TestParseNetSNMPReuse(t *testing.T) {
	data := fixture(t, "router-arm-zte-zx279128/proc/1/net/snmp")
	var s SNMP
	if err := ParseNetSNMP(data, &s); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(20, func() {
		if err := ParseNetSNMP(data, &s); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("steady-state ParseNetSNMP: %v allocs, want 0", allocs)
	}
}

func FuzzParseNetSNMP(f *testing.F) {
	for _, b := range fixturesNamed(f, "/net/snmp") {
		f.Add(b)
	}
	for _, s := range brokenInputs {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s SNMP
		err := ParseNetSNMP(data, &s)
		if err != nil {
			if !errors.Is(err, ErrParse) {
				t.Fatalf("error does not wrap ErrParse: %v", err)
			}
			return
		}
		for _, v := range s.Values {
			if v.Proto == "" || v.Name == "" {
				t.Fatalf("empty proto or name: %+v", v)
			}
		}
	})
}

func BenchmarkParseNetSNMP(b *testing.B) {
	data := fixture(b, "router-arm-zte-zx279128/proc/1/net/snmp")
	var s SNMP
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseNetSNMP(data, &s); err != nil {
			b.Fatal(err)
		}
	}
}
