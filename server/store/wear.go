package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// CheckpointBytes is the WAL size at which NoteWrites copies the WAL into
// the database file. Automatic checkpoints are off so that every byte the
// database writes passes through NoteWrites and is counted.
const CheckpointBytes = 4 << 20

// walHeaderSize and walFrameHeaderSize are fixed by SQLite's WAL format.
const (
	walHeaderSize      = 32
	walFrameHeaderSize = 24
)

// ErrWAL is wrapped by the errors of the WAL parsers.
var ErrWAL = errors.New("store: bad WAL")

// WALHeader is what the wear counter needs of a WAL file's header.
type WALHeader struct {
	PageSize     int
	Salt1, Salt2 uint32
}

// ParseWALHeader parses the 32-byte header of a WAL file.
func ParseWALHeader(b []byte) (WALHeader, error) {
	if len(b) < walHeaderSize {
		return WALHeader{}, fmt.Errorf("%w: header is %d bytes, want %d", ErrWAL, len(b), walHeaderSize)
	}
	magic := binary.BigEndian.Uint32(b)
	if magic != 0x377f0682 && magic != 0x377f0683 {
		return WALHeader{}, fmt.Errorf("%w: magic %#x", ErrWAL, magic)
	}
	ps := int(binary.BigEndian.Uint32(b[8:]))
	if ps == 1 {
		ps = 65536 // how SQLite writes the largest page size
	}
	if ps < 512 || ps > 65536 || ps&(ps-1) != 0 {
		return WALHeader{}, fmt.Errorf("%w: page size %d", ErrWAL, ps)
	}
	return WALHeader{PageSize: ps, Salt1: binary.BigEndian.Uint32(b[16:]), Salt2: binary.BigEndian.Uint32(b[20:])}, nil
}

// ParseWALFrame returns the page number of a frame header, and whether the
// frame belongs to the WAL generation of h (frames left over from an older
// generation carry other salts and are not part of the log).
func ParseWALFrame(h WALHeader, b []byte) (page uint32, ok bool) {
	if len(b) < walFrameHeaderSize {
		return 0, false
	}
	page = binary.BigEndian.Uint32(b)
	return page, page != 0 && binary.BigEndian.Uint32(b[8:]) == h.Salt1 && binary.BigEndian.Uint32(b[12:]) == h.Salt2
}

// WALPages counts the frames of a WAL image and the distinct pages they
// hold: a checkpoint writes each distinct page once.
func WALPages(wal []byte) (h WALHeader, frames, distinct int, err error) {
	h, err = ParseWALHeader(wal)
	if err != nil {
		return h, 0, 0, err
	}
	seen := make(map[uint32]struct{})
	for off := walHeaderSize; off+walFrameHeaderSize+h.PageSize <= len(wal); off += walFrameHeaderSize + h.PageSize {
		page, ok := ParseWALFrame(h, wal[off:])
		if !ok {
			break
		}
		frames++
		seen[page] = struct{}{}
	}
	return h, frames, len(seen), nil
}

// walPagesFile is WALPages reading only the frame headers of the file.
func walPagesFile(path string) (frames, distinct, pageSize int, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, 0, nil
	}
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	var hb [walHeaderSize]byte
	if _, err := io.ReadFull(f, hb[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, 0, 0, nil // empty or just truncated
		}
		return 0, 0, 0, err
	}
	h, err := ParseWALHeader(hb[:])
	if err != nil {
		return 0, 0, 0, err
	}
	seen := make(map[uint32]struct{})
	var fb [walFrameHeaderSize]byte
	for off := int64(walHeaderSize); ; off += int64(walFrameHeaderSize + h.PageSize) {
		if _, err := f.ReadAt(fb[:], off); err != nil {
			break
		}
		page, ok := ParseWALFrame(h, fb[:])
		if !ok {
			break
		}
		frames++
		seen[page] = struct{}{}
	}
	return frames, len(seen), h.PageSize, nil
}

// wear counts the bytes the database writes: every byte appended to the
// WAL, and every page a checkpoint copies into the database file.
type wear struct {
	mu          sync.Mutex
	walSize     int64 // WAL size at the last look
	day         string
	today       uint64 // bytes written on day, loaded from store_writes at open
	total       uint64 // since this process opened the store
	pending     uint64 // counted but not yet in store_writes
	checkpoints uint64
}

// Wear is the database's write volume.
type Wear struct {
	Day          string // UTC day of Today, 2006-01-02
	Today        uint64 // bytes written today (this process and earlier ones)
	SinceStart   uint64 // bytes written since the store was opened
	WALBytes     int64  // current WAL size
	Checkpoints  uint64
	LastCheckErr string `json:",omitempty"`
}

func utcDay(t time.Time) string { return t.UTC().Format("2006-01-02") }

func (s *Store) loadWear(ctx context.Context) error {
	s.wear.day = utcDay(time.Now())
	var b int64
	err := s.db.QueryRowContext(ctx, `SELECT coalesce((SELECT bytes FROM store_writes WHERE day = ?), 0)`, s.wear.day).Scan(&b)
	if err != nil {
		return fmt.Errorf("store: read write counter: %w", err)
	}
	s.wear.today = uint64(b)
	if st, err := os.Stat(s.path + "-wal"); err == nil {
		s.wear.walSize = st.Size()
	}
	return nil
}

// NoteWrites counts what the last commits appended to the WAL and, once
// the WAL passes CheckpointBytes, checkpoints it (counting the pages copied).
// Every writer calls it after committing; it is cheap (one stat) until a
// checkpoint is due.
func (s *Store) NoteWrites(ctx context.Context) error {
	return s.noteWrites(ctx, CheckpointBytes)
}

func (s *Store) noteWrites(ctx context.Context, threshold int64) error {
	s.wear.mu.Lock()
	defer s.wear.mu.Unlock()
	walPath := s.path + "-wal"
	st, err := os.Stat(walPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("store: stat WAL: %w", err)
	}
	if d := st.Size() - s.wear.walSize; d > 0 {
		s.addWear(uint64(d))
	}
	s.wear.walSize = st.Size()
	if st.Size() < threshold {
		return nil
	}
	return s.checkpointLocked(ctx)
}

func (s *Store) addWear(n uint64) {
	if day := utcDay(time.Now()); day != s.wear.day {
		s.wear.day, s.wear.today = day, 0
	}
	s.wear.today += n
	s.wear.total += n
	s.wear.pending += n
}

// checkpointLocked copies the WAL into the database and truncates it.
// Readers in progress make it fail with SQLITE_BUSY; it is tried again on
// the next NoteWrites.
func (s *Store) checkpointLocked(ctx context.Context) error {
	// The counter goes into the WAL before the checkpoint, so what it
	// records is on disk with it.
	if s.wear.pending > 0 {
		if _, err := s.db.ExecContext(ctx, `INSERT INTO store_writes(day, bytes) VALUES (?, ?)
			ON CONFLICT(day) DO UPDATE SET bytes = excluded.bytes`, s.wear.day, int64(s.wear.today)); err != nil {
			return fmt.Errorf("store: record write counter: %w", err)
		}
		s.wear.pending = 0
	}
	walPath := s.path + "-wal"
	if st, err := os.Stat(walPath); err == nil {
		if d := st.Size() - s.wear.walSize; d > 0 {
			s.addWear(uint64(d))
			s.wear.pending = 0 // the row above is part of these bytes
		}
		s.wear.walSize = st.Size()
	}
	_, distinct, pageSize, err := walPagesFile(walPath)
	if err != nil {
		return fmt.Errorf("store: read WAL: %w", err)
	}
	var busy, logFrames, done int
	if err := s.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done); err != nil {
		return fmt.Errorf("store: checkpoint: %w", err)
	}
	s.wear.checkpoints++
	if busy != 0 {
		return nil // a reader holds an old snapshot; next time
	}
	s.addWear(uint64(distinct * pageSize))
	s.wear.walSize = 0
	if st, err := os.Stat(walPath); err == nil {
		s.wear.walSize = st.Size()
	}
	return nil
}

// Checkpoint forces a checkpoint now (tests, shutdown).
func (s *Store) Checkpoint(ctx context.Context) error {
	s.wear.mu.Lock()
	defer s.wear.mu.Unlock()
	return s.checkpointLocked(ctx)
}

// Wear returns the write volume counters.
func (s *Store) Wear() Wear {
	s.wear.mu.Lock()
	defer s.wear.mu.Unlock()
	if day := utcDay(time.Now()); day != s.wear.day {
		s.wear.day, s.wear.today = day, 0
	}
	return Wear{Day: s.wear.day, Today: s.wear.today, SinceStart: s.wear.total, WALBytes: s.wear.walSize, Checkpoints: s.wear.checkpoints}
}

// Size is the bytes the database's pages hold (pages in use times the
// page size; freed pages are reused, so the file stays near its peak).
func (s *Store) Size(ctx context.Context) (used, file int64, err error) {
	var pages, free, ps int64
	if err := s.db.QueryRowContext(ctx, `SELECT (SELECT page_count FROM pragma_page_count()), (SELECT freelist_count FROM pragma_freelist_count()), (SELECT page_size FROM pragma_page_size())`).Scan(&pages, &free, &ps); err != nil {
		return 0, 0, fmt.Errorf("store: size: %w", err)
	}
	return (pages - free) * ps, pages * ps, nil
}
