package proc

import (
	"errors"
	"strings"
	"testing"
)

func TestParseNetDevFixtures(t *testing.T) {
	tests := []struct {
		file  string
		names string
		check map[string]NetDevLine
	}{
		{"router-arm-zte-zx279128/proc/1/net/dev",
			"br0 pon idm0 apcli0 idm1 wlan3 nbif1 wlan0 pon0 wlan5 sit0 wlan2 lo nbif0 wlan7 sw wlan4 eth0 eth1 nbif2 eth2 ip6tnl0 omci eth3 wlan1 wlan6",
			map[string]NetDevLine{
				"br0":     {Name: "br0", RxBytes: 135572, RxPackets: 2268, RxDrop: 1, TxBytes: 100013, TxPackets: 1177},
				"apcli0":  {Name: "apcli0", RxDrop: 3235057664},
				"wlan0":   {Name: "wlan0", RxBytes: 1237252, RxPackets: 21602, RxErrs: 4, RxDrop: 13005, RxMcast: 121, TxBytes: 706817, TxPackets: 8683},
				"ip6tnl0": {Name: "ip6tnl0"}, // no leading blank before the name
				"pon":     {Name: "pon", TxDrop: 2},
			}},
		{"misc-goprocinfo/proc/net/dev", // counters run into the colon
			"lo eth0",
			map[string]NetDevLine{
				"eth0": {Name: "eth0", RxBytes: 23443246382, RxPackets: 63554887, TxBytes: 10900929232, TxPackets: 27373481},
				"lo":   {Name: "lo", RxBytes: 480134461, RxPackets: 2323077, TxBytes: 480134461, TxPackets: 2323077},
			}},
		{"misc-goprocinfo/proc/net/dev.laptop",
			"eth0 lo virbr0 wlan0",
			map[string]NetDevLine{
				"wlan0": {Name: "wlan0", RxBytes: 1163823097, RxPackets: 838432, TxBytes: 73047180, TxPackets: 641124},
			}},
		{"misc-prometheus-procfs/proc/net/dev",
			"vethf345468 lo docker0 eth0",
			map[string]NetDevLine{
				"vethf345468": {Name: "vethf345468", RxBytes: 648, RxPackets: 8, TxBytes: 438, TxPackets: 5},
				"eth0":        {Name: "eth0", RxBytes: 874354587, RxPackets: 1036395, TxBytes: 563352563, TxPackets: 732147},
			}},
		{"old-arm-arm720t/proc/net/dev",
			"lo eth0",
			map[string]NetDevLine{
				"eth0": {Name: "eth0", RxBytes: 2384650, RxPackets: 11882, TxBytes: 5329278, TxPackets: 13901},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var d NetDev
			if err := ParseNetDev(fixture(t, tt.file), &d); err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, i := range d.Ifaces {
				names = append(names, i.Name)
			}
			if got := strings.Join(names, " "); got != tt.names {
				t.Errorf("names %q, want %q", got, tt.names)
			}
			for name, want := range tt.check {
				got := d.Find(name)
				if got == nil || *got != want {
					t.Errorf("%s = %+v, want %+v", name, got, want)
				}
			}
		})
	}
}

func TestParseNetDevBroken(t *testing.T) {
	head := "Inter-|   Receive                                                |  Transmit\n" +
		" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"
	good := string(fixture(t, "old-arm-arm720t/proc/net/dev"))
	tests := map[string]string{
		"empty":              "",
		"headers only":       head,
		"garbage":            "garbage\n",
		"no name":            head + "   :  1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
		"short line":         head + "  eth0: 1 2 3\n",
		"bad counter":        head + "  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x6\n",
		"cut short mid-line": good[:len(good)-40],
		"pipe not in header": head + "lo: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n" + "a|b\n",
	}
	for name, in := range tests {
		var d NetDev
		if err := ParseNetDev([]byte(in), &d); !errors.Is(err, ErrParse) {
			t.Errorf("%s: err = %v, want ErrParse", name, err)
		}
	}
}

func TestParseNetDevReuse(t *testing.T) {
	data := fixture(t, "router-arm-zte-zx279128/proc/1/net/dev")
	var d NetDev
	if err := ParseNetDev(data, &d); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(50, func() {
		if err := ParseNetDev(data, &d); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("steady-state ParseNetDev: %v allocs, want 0", allocs)
	}
	// A changed interface list still parses right into the reused slots.
	if err := ParseNetDev(fixture(t, "old-arm-arm720t/proc/net/dev"), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Ifaces) != 2 || d.Ifaces[0].Name != "lo" || d.Ifaces[1].Name != "eth0" || d.Ifaces[1].RxBytes != 2384650 {
		t.Errorf("after reuse: %+v", d.Ifaces)
	}
}

func FuzzParseNetDev(f *testing.F) {
	for _, b := range fixturesNamed(f, "/net/dev") {
		f.Add(b)
	}
	for _, b := range fixturesNamed(f, "/net/dev.laptop") {
		f.Add(b)
	}
	for _, s := range brokenInputs {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d NetDev
		err := ParseNetDev(data, &d)
		if err != nil {
			if !errors.Is(err, ErrParse) {
				t.Fatalf("error does not wrap ErrParse: %v", err)
			}
			return
		}
		for _, i := range d.Ifaces {
			if i.Name == "" || strings.ContainsAny(i.Name, ":\n") {
				t.Fatalf("bad name %q", i.Name)
			}
		}
	})
}

func BenchmarkParseNetDev(b *testing.B) {
	data := fixture(b, "router-arm-zte-zx279128/proc/1/net/dev")
	var d NetDev
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseNetDev(data, &d); err != nil {
			b.Fatal(err)
		}
	}
}
