package proc

import (
	"bytes"
	"strings"
)

// Mount is one line of /proc/mounts (fstab(5) format).
type Mount struct {
	Device     string // "/dev/sda1", "proc", "ubi0:rootfs_data", "server:/export"
	MountPoint string
	FSType     string
	Options    string
}

// Mounts is /proc/mounts in file order.
type Mounts struct {
	List    []Mount
	scratch []byte // unescaping buffer, kept between parses
}

const mountsFile = "/proc/mounts"

// ParseMounts parses /proc/mounts into dst, reusing dst.List and its strings
// when the mount table has not changed. The kernel escapes space, tab,
// newline and backslash in the first two fields as octal ("\040"); they are
// unescaped. The dump and pass fields are optional.
func ParseMounts(data []byte, dst *Mounts) error {
	prev := dst.List
	dst.List = dst.List[:0]
	for n := 1; len(data) > 0; n++ {
		var line []byte
		line, data = nextLine(data)
		if len(trimSpace(line)) == 0 {
			continue
		}
		var f [4][]byte
		rest := line
		for i := range f {
			f[i], rest = nextField(rest)
			if len(f[i]) == 0 {
				return lineError(mountsFile, n, line, "too few fields")
			}
		}
		for range 2 { // dump and pass, when present, are numbers
			var num []byte
			if num, rest = nextField(rest); len(num) == 0 {
				break
			}
			if _, ok := parseUint(num); !ok {
				return lineError(mountsFile, n, line, "bad dump/pass field")
			}
		}
		i := len(dst.List)
		var m Mount
		if i < len(prev) {
			m = prev[i]
		}
		dst.setString(&m.Device, f[0])
		dst.setString(&m.MountPoint, f[1])
		dst.setString(&m.FSType, f[2])
		dst.setString(&m.Options, f[3])
		dst.List = append(dst.List, m)
	}
	return nil
}

// setString stores the unescaped b in *s, keeping *s when it is unchanged.
func (m *Mounts) setString(s *string, b []byte) {
	if bytes.IndexByte(b, '\\') >= 0 {
		m.scratch = unescapeOctal(m.scratch[:0], b)
		b = m.scratch
	}
	if *s != string(b) {
		*s = string(b)
	}
}

// unescapeOctal appends b to dst with "\ooo" octal escapes decoded. A
// backslash not followed by three octal digits is kept as it is.
func unescapeOctal(dst, b []byte) []byte {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '\\' && i+3 < len(b) && isOctal(b[i+1]) && isOctal(b[i+2]) && isOctal(b[i+3]) {
			v := (int(b[i+1]-'0')<<6 | int(b[i+2]-'0')<<3 | int(b[i+3]-'0'))
			if v <= 0xff {
				dst = append(dst, byte(v))
				i += 3
				continue
			}
		}
		dst = append(dst, c)
	}
	return dst
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// pseudoFS lists file systems that are never a disk worth reporting even
// when their device looks like one: memory and kernel interfaces, unions,
// and squashfs, a read-only image that is always 100% full (OpenWrt's /rom,
// Ubuntu's snaps).
var pseudoFS = map[string]bool{
	"proc": true, "sysfs": true, "tmpfs": true, "devtmpfs": true, "devpts": true,
	"ramfs": true, "rootfs": true, "cgroup": true, "cgroup2": true, "overlay": true,
	"overlayfs": true, "aufs": true, "securityfs": true, "pstore": true,
	"debugfs": true, "tracefs": true, "configfs": true, "fusectl": true,
	"mqueue": true, "hugetlbfs": true, "binfmt_misc": true, "autofs": true,
	"rpc_pipefs": true, "nfsd": true, "bpf": true, "efivarfs": true,
	"selinuxfs": true, "nsfs": true, "squashfs": true, "usbfs": true,
	"sockfs": true, "pipefs": true,
}

// OnBlockDevice reports whether m is a file system stored on a local block
// device or flash: the device is a /dev node ("/dev/sda1", "/dev/root",
// "/dev/mapper/vg-root", "/dev/mtdblock6"), or the file system is one that
// names its storage otherwise (ubifs "ubi0:rootfs_data", zfs "pool/data").
// Pseudo and network file systems are not: statfs on a dead NFS server can
// block a sampler for minutes.
func (m *Mount) OnBlockDevice() bool {
	if pseudoFS[m.FSType] {
		return false
	}
	if strings.HasPrefix(m.FSType, "fuse") && m.FSType != "fuseblk" {
		return false // sshfs, gvfs, portals...; ntfs-3g's fuseblk is a disk
	}
	switch m.FSType {
	case "ubifs", "zfs":
		return true
	}
	return strings.HasPrefix(m.Device, "/dev/")
}

// BlockMounts appends to dst the mounts that are [Mount.OnBlockDevice],
// keeping only the first mount of each device: bind mounts and btrfs
// subvolumes would report the same space again.
func (m *Mounts) BlockMounts(dst []Mount) []Mount {
	start := len(dst)
next:
	for i := range m.List {
		mt := &m.List[i]
		if !mt.OnBlockDevice() {
			continue
		}
		for j := start; j < len(dst); j++ {
			if dst[j].Device == mt.Device {
				continue next
			}
		}
		dst = append(dst, *mt)
	}
	return dst
}
