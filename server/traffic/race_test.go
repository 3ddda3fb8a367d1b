//go:build race

package traffic

// raceEnabled: the race detector slows the transpiled SQLite some tenfold,
// so the heaviest tests check a sample.
const raceEnabled = true
