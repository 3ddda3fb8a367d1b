package proc

import (
	"errors"
	"strings"
	"testing"
)

func TestParseMountsFixtures(t *testing.T) {
	var m Mounts
	if err := ParseMounts(fixture(t, "misc-goprocinfo/proc/mounts"), &m); err != nil {
		t.Fatal(err)
	}
	if len(m.List) != 34 {
		t.Errorf("%d mounts, want 34", len(m.List))
	}
	want := Mount{"/dev/mapper/fedora_lzapx-root", "/", "ext4", "rw,noatime,data=ordered"}
	if m.List[21] != want {
		t.Errorf("List[21] = %+v, want %+v", m.List[21], want)
	}
	var block []string
	for _, b := range m.BlockMounts(nil) {
		block = append(block, b.MountPoint)
	}
	// rootfs, proc, sysfs, tmpfs, cgroup, autofs "-hosts" ... are left out.
	if got, want := strings.Join(block, " "), "/ /home"; got != want {
		t.Errorf("BlockMounts = %q, want %q", got, want)
	}

	if err := ParseMounts(fixture(t, "router-arm-zte-zx279128/proc/15/mounts"), &m); err != nil {
		t.Fatal(err)
	}
	want = Mount{"devtmpfs", "/", "devtmpfs", "rw,relatime,size=47096k,nr_inodes=11774,mode=755"}
	if len(m.List) != 1 || m.List[0] != want {
		t.Errorf("got %+v, want [%+v]", m.List, want)
	}
	if len(m.BlockMounts(nil)) != 0 {
		t.Error("devtmpfs root counted as a block mount")
	}
}

func TestParseMountsEscapes(t *testing.T) {
	in := `/dev/sdb1 /media/My\040Disk vfat rw,relatime 0 0
/dev/sdc1 /mnt/tab\011and\012newline\134back ext4 rw 0 0
/dev/sdd1 /mnt/odd\\x\9 ext4 rw
`
	var m Mounts
	if err := ParseMounts([]byte(in), &m); err != nil {
		t.Fatal(err)
	}
	want := []string{"/media/My Disk", "/mnt/tab\tand\nnewline\\back", `/mnt/odd\\x\9`}
	for i, w := range want {
		if m.List[i].MountPoint != w {
			t.Errorf("MountPoint[%d] = %q, want %q", i, m.List[i].MountPoint, w)
		}
	}
}

func TestOnBlockDevice(t *testing.T) {
	tests := []struct {
		m    Mount
		want bool
	}{
		{Mount{Device: "/dev/root", FSType: "ext4"}, true},
		{Mount{Device: "/dev/mmcblk0p1", FSType: "vfat"}, true},
		{Mount{Device: "/dev/mtdblock6", FSType: "jffs2"}, true},
		{Mount{Device: "ubi0:rootfs_data", FSType: "ubifs"}, true},
		{Mount{Device: "rpool/ROOT/ubuntu", FSType: "zfs"}, true},
		{Mount{Device: "/dev/sdb1", FSType: "fuseblk"}, true},
		{Mount{Device: "/dev/root", FSType: "squashfs"}, false},
		{Mount{Device: "overlayfs:/overlay", FSType: "overlay"}, false},
		{Mount{Device: "tmpfs", FSType: "tmpfs"}, false},
		{Mount{Device: "server:/export", FSType: "nfs4"}, false},
		{Mount{Device: "//nas/share", FSType: "cifs"}, false},
		{Mount{Device: "sshfs#me@host:", FSType: "fuse.sshfs"}, false},
		{Mount{Device: "/dev/fuse", FSType: "fuse"}, false},
		{Mount{Device: "cgroup2", FSType: "cgroup2"}, false},
	}
	for _, tt := range tests {
		if got := tt.m.OnBlockDevice(); got != tt.want {
			t.Errorf("%+v.OnBlockDevice() = %v, want %v", tt.m, got, tt.want)
		}
	}
	// Bind mounts of one device are reported once, at their first mount point.
	m := Mounts{List: []Mount{
		{"/dev/sda1", "/", "ext4", "rw"},
		{"/dev/sda1", "/var/lib/docker", "ext4", "rw"},
		{"/dev/sda2", "/home", "btrfs", "rw"},
		{"/dev/sda2", "/home/snap", "btrfs", "rw"},
	}}
	var got []string
	for _, b := range m.BlockMounts(nil) {
		got = append(got, b.MountPoint)
	}
	if strings.Join(got, " ") != "/ /home" {
		t.Errorf("BlockMounts = %v", got)
	}
}

func TestParseMountsBroken(t *testing.T) {
	tests := map[string]string{
		"garbage":            "garbage\n",
		"short line":         "/dev/sda1 / ext4\n",
		"bad dump":           "/dev/sda1 / ext4 rw x 0\n",
		"cut short mid-line": "/dev/sda1 / ext4 rw 0 0\n/dev/sda2 /ho",
	}
	for name, in := range tests {
		var m Mounts
		if err := ParseMounts([]byte(in), &m); !errors.Is(err, ErrParse) {
			t.Errorf("%s: err = %v, want ErrParse", name, err)
		}
	}
}

func TestParseMountsReuse(t *testing.T) {
	data := fixture(t, "misc-goprocinfo/proc/mounts")
	var m Mounts
	if err := ParseMounts(data, &m); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(20, func() {
		if err := ParseMounts(data, &m); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("steady-state ParseMounts: %v allocs, want 0", allocs)
	}
}

func FuzzParseMounts(f *testing.F) {
	for _, b := range fixturesNamed(f, "mounts") {
		f.Add(b)
	}
	for _, s := range brokenInputs {
		f.Add([]byte(s))
	}
	f.Add([]byte(`a\040b\ c\7 d\777 e 0 0`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Mounts
		err := ParseMounts(data, &m)
		if err != nil {
			if !errors.Is(err, ErrParse) {
				t.Fatalf("error does not wrap ErrParse: %v", err)
			}
			return
		}
		for _, x := range m.List {
			if x.Device == "" || x.MountPoint == "" || x.FSType == "" || x.Options == "" {
				t.Fatalf("empty field in %+v", x)
			}
		}
		_ = m.BlockMounts(nil)
	})
}

func BenchmarkParseMounts(b *testing.B) {
	data := fixture(b, "misc-goprocinfo/proc/mounts")
	var m Mounts
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseMounts(data, &m); err != nil {
			b.Fatal(err)
		}
	}
}
