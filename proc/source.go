package proc

import (
	"errors"
	"os"
	"slices"
	"syscall"
)

// A Source delivers the bytes of a host's /proc and /sys. Names are
// absolute-looking paths such as "/proc/stat", whatever the real root, so a
// remote host read over SSH can implement Source and reuse every parser.
type Source interface {
	// ReadFile returns the whole content of the file name.
	ReadFile(name string) ([]byte, error)
	// ReadDir returns the names of the entries of the directory name.
	ReadDir(name string) ([]string, error)
	// Statfs returns the usage of the file system mounted at path.
	Statfs(path string) (Statfs, error)
}

// A FileAppender reads a file into a buffer the caller keeps between ticks.
// FS implements it; a Source that does not still works with [AppendFile].
type FileAppender interface {
	AppendFile(dst []byte, name string) ([]byte, error)
}

// AppendFile appends the content of name, read from src, to dst. It reuses
// dst's storage when src is a [FileAppender], which keeps a sampler that
// reads the same files every tick free of allocations.
func AppendFile(src Source, dst []byte, name string) ([]byte, error) {
	if a, ok := src.(FileAppender); ok {
		return a.AppendFile(dst, name)
	}
	b, err := src.ReadFile(name)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

// Statfs is the usage of one mounted file system, as statfs(2) reports it.
type Statfs struct {
	Type        int64  // file system magic number
	BlockSize   uint64 // fundamental block size (f_frsize), the unit of the block counts
	Blocks      uint64 // size of the file system in blocks
	BlocksFree  uint64 // free blocks
	BlocksAvail uint64 // free blocks available to unprivileged users
	Files       uint64 // inodes
	FilesFree   uint64 // free inodes
}

// TotalBytes is the size of the file system.
func (s Statfs) TotalBytes() uint64 { return s.Blocks * s.BlockSize }

// UsedBytes is the space in use, reserved blocks excluded, as df counts it.
func (s Statfs) UsedBytes() uint64 {
	if s.BlocksFree > s.Blocks {
		return 0
	}
	return (s.Blocks - s.BlocksFree) * s.BlockSize
}

// AvailBytes is the space an unprivileged user can still fill (df's Avail).
func (s Statfs) AvailBytes() uint64 { return s.BlocksAvail * s.BlockSize }

// FS is a local [Source] rooted at a directory: "/" in production, a fixture
// tree in tests. Names are joined to the root as they are ("/proc/stat" under
// FS("testdata/rpi4") is "testdata/rpi4/proc/stat"); FS is not a sandbox.
// FS holds no state and is safe for concurrent use.
type FS string

// path joins the root and name without allocating for the common root "/".
func (fs FS) path(name string) string {
	root := string(fs)
	switch {
	case root == "" || root == "/":
		if len(name) > 0 && name[0] == '/' {
			return name
		}
		return "/" + name
	case len(name) > 0 && name[0] == '/':
		return root + name
	default:
		return root + "/" + name
	}
}

// minRead is the first read size for a file of unknown length: files in
// /proc report a size of 0, and most of them fit in 4 KB.
const minRead = 4096

// MaxFileSize bounds what AppendFile reads of one file: kernel files are far
// smaller, so more means a wrong root (a device, a FIFO) and is an error
// rather than a process that eats its memory.
const MaxFileSize = 16 << 20

// ErrTooLarge is returned for a file over MaxFileSize.
var ErrTooLarge = errors.New("proc: file too large")

// AppendFile appends the content of name to dst and returns the extended
// slice. It reads with plain system calls until EOF (stat sizes in /proc are
// 0), so with a reused dst the only allocation is the path for the kernel.
func (fs FS) AppendFile(dst []byte, name string) ([]byte, error) {
	p := fs.path(name)
	var fd int
	var err error
	for {
		fd, err = syscall.Open(p, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return dst, &os.PathError{Op: "open", Path: p, Err: err}
	}
	defer syscall.Close(fd)
	start := len(dst)
	for {
		if cap(dst)-len(dst) < 512 {
			dst = slices.Grow(dst, max(minRead, cap(dst)))
		}
		n, err := syscall.Read(fd, dst[len(dst):cap(dst)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return dst[:start], &os.PathError{Op: "read", Path: p, Err: err}
		}
		if n <= 0 {
			return dst, nil
		}
		dst = dst[:len(dst)+n]
		if len(dst)-start > MaxFileSize {
			return dst[:start], &os.PathError{Op: "read", Path: p, Err: ErrTooLarge}
		}
	}
}

// ReadFile returns the content of name in a new slice.
func (fs FS) ReadFile(name string) ([]byte, error) {
	return fs.AppendFile(nil, name)
}

// ReadDir returns the names of the entries of the directory name, sorted.
func (fs FS) ReadDir(name string) ([]string, error) {
	ents, err := os.ReadDir(fs.path(name))
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	return names, err
}

// Statfs calls statfs(2) on path under the root.
func (fs FS) Statfs(path string) (Statfs, error) {
	var st syscall.Statfs_t
	p := fs.path(path)
	for {
		err := syscall.Statfs(p, &st)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return Statfs{}, &os.PathError{Op: "statfs", Path: p, Err: err}
		}
		break
	}
	bs := uint64(st.Frsize)
	if bs == 0 {
		bs = uint64(st.Bsize)
	}
	return Statfs{
		Type:        int64(st.Type),
		BlockSize:   bs,
		Blocks:      uint64(st.Blocks),
		BlocksFree:  uint64(st.Bfree),
		BlocksAvail: uint64(st.Bavail),
		Files:       uint64(st.Files),
		FilesFree:   uint64(st.Ffree),
	}, nil
}

// IsNotExist reports whether err means the file is not there. A process that
// exits between listing /proc and reading /proc/[pid]/stat gives ENOENT or,
// once the directory is half torn down, ESRCH.
func IsNotExist(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}
