package store

import (
	"context"
	"os"
	"strings"
	"testing"
)

// TestWearCountsWALAndCheckpoint writes rows, and checks that the counter
// grows by the WAL's size and then by the checkpoint's distinct pages.
func TestWearCountsWALAndCheckpoint(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	if _, err := s.DB().Exec(`CREATE TABLE t (v TEXT)`); err != nil {
		t.Fatal(err)
	}
	before := s.Wear()
	for i := 0; i < 20; i++ {
		if _, err := s.DB().Exec(`INSERT INTO t VALUES (?)`, strings.Repeat("x", 3000)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.noteWrites(ctx, 1<<30); err != nil {
		t.Fatal(err)
	}
	w := s.Wear()
	st, err := os.Stat(s.Path() + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if grown := w.SinceStart - before.SinceStart; grown == 0 || int64(grown) > st.Size() {
		t.Fatalf("counted %d bytes for a WAL of %d", grown, st.Size())
	}
	// The WAL image names the pages a checkpoint will write.
	img, err := os.ReadFile(s.Path() + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	h, frames, distinct, err := WALPages(img)
	if err != nil || frames < 20 || distinct > frames || distinct == 0 || h.PageSize != 4096 {
		t.Fatalf("WALPages = %+v %d frames %d pages, %v", h, frames, distinct, err)
	}
	if err := s.noteWrites(ctx, 1); err != nil {
		t.Fatal(err)
	}
	after := s.Wear()
	if after.SinceStart < w.SinceStart+uint64(distinct*h.PageSize) || after.WALBytes != 0 || after.Checkpoints != w.Checkpoints+1 {
		t.Fatalf("after checkpoint %+v, before %+v (%d pages)", after, w, distinct)
	}
	// The day's total survives a restart.
	dir := strings.TrimSuffix(s.Path(), "/"+FileName)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(ctx, dir, realSchema(t), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := s2.Wear(); got.Today < after.Today {
		t.Fatalf("today after restart %d, before %d", got.Today, after.Today)
	}
}

func TestWALPagesRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("not a wal file at all, but 32 bytes long"), make([]byte, 64)} {
		if _, _, _, err := WALPages(b); err == nil {
			t.Errorf("WALPages(%q) accepted", b)
		}
	}
}

func FuzzWALPages(f *testing.F) {
	hdr := []byte{0x37, 0x7f, 0x06, 0x82, 0, 0x2d, 0xe2, 0x18, 0, 0, 2, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0}
	frame := append([]byte{0, 0, 0, 1, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 512)...)
	f.Add(append(append([]byte{}, hdr...), frame...))
	f.Add(hdr)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, frames, distinct, err := WALPages(b)
		if err != nil {
			return
		}
		if distinct > frames || frames*(h.PageSize+walFrameHeaderSize)+walHeaderSize > len(b) {
			t.Fatalf("%d frames, %d pages of %d in %d bytes", frames, distinct, h.PageSize, len(b))
		}
	})
}
