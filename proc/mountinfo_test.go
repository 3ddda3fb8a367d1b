package proc

import (
	"errors"
	"os"
	"testing"
)

// piMountInfo is the shape of a Raspberry Pi OS mountinfo (root given as
// root=PARTUUID=..., so the kernel calls it /dev/root).
const piMountInfo = `21 1 179:2 / / rw,noatime shared:1 - ext4 /dev/root rw
22 21 0:5 / /dev rw,relatime shared:2 - devtmpfs devtmpfs rw,size=1867796k,nr_inodes=466949,mode=755
27 21 0:21 / /proc rw,relatime shared:12 - proc proc rw
33 21 179:1 / /boot/firmware rw,relatime shared:17 - vfat /dev/mmcblk0p1 rw,fmask=0022,dmask=0022,codepage=437,iocharset=ascii,shortname=mixed,errors=remount-ro
40 21 8:1 /data /media/My\040Disk rw,nosuid,nodev,relatime - ext4 /dev/sda1 rw
`

func TestParseMountInfo(t *testing.T) {
	var m MountInfos
	if err := ParseMountInfo([]byte(piMountInfo), &m); err != nil {
		t.Fatal(err)
	}
	if len(m.List) != 5 {
		t.Fatalf("%d mounts", len(m.List))
	}
	want := MountInfo{MountID: 21, ParentID: 1, Major: 179, Minor: 2, Root: "/", MountPoint: "/",
		Options: "rw,noatime", FSType: "ext4", Source: "/dev/root", SuperOptions: "rw"}
	if m.List[0] != want {
		t.Errorf("got  %+v\nwant %+v", m.List[0], want)
	}
	if got := m.FindMountPoint("/media/My Disk"); got == nil || got.Root != "/data" || got.Major != 8 || got.Minor != 1 {
		t.Errorf("FindMountPoint = %+v", got)
	}
	if m.FindMountPoint("/nope") != nil {
		t.Error("FindMountPoint(/nope) != nil")
	}

	allocs := testing.AllocsPerRun(20, func() {
		if err := ParseMountInfo([]byte(piMountInfo), &m); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 { // the []byte conversion of the constant
		t.Errorf("steady-state ParseMountInfo: %v allocs", allocs)
	}
}

func TestParseMountInfoLocal(t *testing.T) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Skip(err)
	}
	var m MountInfos
	if err := ParseMountInfo(data, &m); err != nil {
		t.Fatal(err)
	}
	if m.FindMountPoint("/") == nil {
		t.Error("no root mount")
	}
}

func TestParseMountInfoBroken(t *testing.T) {
	tests := map[string]string{
		"garbage":            "garbage\n",
		"no separator":       "21 1 179:2 / / rw,noatime shared:1 ext4 /dev/root rw\n",
		"nothing after -":    "21 1 179:2 / / rw,noatime shared:1 - ext4\n",
		"bad device":         "21 1 179-2 / / rw,noatime - ext4 /dev/root rw\n",
		"bad id":             "x 1 179:2 / / rw,noatime - ext4 /dev/root rw\n",
		"cut short mid-line": piMountInfo[:40],
	}
	for name, in := range tests {
		var m MountInfos
		if err := ParseMountInfo([]byte(in), &m); !errors.Is(err, ErrParse) {
			t.Errorf("%s: err = %v, want ErrParse", name, err)
		}
	}
}

func FuzzParseMountInfo(f *testing.F) {
	f.Add([]byte(piMountInfo))
	for _, s := range brokenInputs {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m MountInfos
		err := ParseMountInfo(data, &m)
		if err != nil {
			if !errors.Is(err, ErrParse) {
				t.Fatalf("error does not wrap ErrParse: %v", err)
			}
			return
		}
		for _, x := range m.List {
			if x.MountPoint == "" || x.FSType == "" || x.Source == "" {
				t.Fatalf("empty field in %+v", x)
			}
		}
	})
}

func BenchmarkParseMountInfo(b *testing.B) {
	data := []byte(piMountInfo)
	var m MountInfos
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseMountInfo(data, &m); err != nil {
			b.Fatal(err)
		}
	}
}
