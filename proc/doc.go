// Package proc reads host statistics from Linux /proc and /sys.
//
// Parsing is apart from reading. Every parser is a pure function over the
// bytes of one kernel file (one Go file per kernel file, named after its
// path) that fills a destination the caller owns, so a sampler that runs
// every second reuses its buffers and does not allocate in steady state.
// Reading goes through a [Source]: [FS] reads a local tree (the real "/" in
// production, a fixture tree in tests), and a remote host's /proc over SSH
// can implement the same interface so the same parsers run on its bytes.
//
// Input is never trusted: output read over SSH may be cut short, and old or
// odd kernels print odd things. A malformed line is an error that wraps
// [ErrParse] and names the file and the line; no parser indexes a field it
// has not counted, and none panics (each has a fuzz target to keep it so).
//
// Samplers ([CPUSampler], [NetSampler], [DiskSampler]) turn two samples of
// kernel counters into fractions and per-second rates.
package proc

import (
	"errors"
	"fmt"
)

// ErrParse is wrapped by every parse error of this package:
// errors.Is(err, proc.ErrParse) tells bad input from a failed read.
var ErrParse = errors.New("proc: parse error")

// maxQuoted bounds how much of a bad line an error message quotes: the intr
// line of /proc/stat can be 130 KB long.
const maxQuoted = 80

// lineError reports a malformed line of file (1-based line number n).
func lineError(file string, n int, line []byte, why string) error {
	q := line
	if len(q) > maxQuoted {
		q = q[:maxQuoted]
	}
	return fmt.Errorf("%w: %s line %d %q: %s", ErrParse, file, n, q, why)
}

// fileError reports a problem with a file as a whole (empty, missing lines).
func fileError(file, why string) error {
	return fmt.Errorf("%w: %s: %s", ErrParse, file, why)
}
