package traffic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"edgestat/probe"
)

// A LineError is why one report of a POST body was refused.
type LineError struct {
	Line    int    `json:"line"` // 1-based line of the body where the report starts
	Message string `json:"error"`
}

// maxLineErrors bounds the errors listed in one answer; the count is exact.
const maxLineErrors = 100

// ParseReports reads a POST /traffic/reports body: one report per line,
// each a JSON array or an MMT-Probe CSV line (blank lines and lines
// starting with # are skipped), or the whole body one JSON array of
// arrays. It returns the reports, the line each starts on, and an error
// per bad report (at most maxLineErrors of them; bad counts them all).
func ParseReports(body []byte) (rows []probe.Row, lines []int, errs []LineError, bad int) {
	fail := func(line int, err error) {
		bad++
		if len(errs) < maxLineErrors {
			errs = append(errs, LineError{line, err.Error()})
		}
	}
	if isArrayOfArrays(body) {
		d := json.NewDecoder(bytes.NewReader(body))
		if _, err := d.Token(); err != nil { // the opening [
			fail(1, err)
			return
		}
		for d.More() {
			start := d.InputOffset()
			line := lineAt(body, start+int64(len(leadingSpace(body[start:]))))
			var raw json.RawMessage
			if err := d.Decode(&raw); err != nil {
				fail(line, fmt.Errorf("not JSON: %w", err))
				return // the decoder cannot resynchronise
			}
			r, err := probe.ParseRow(raw)
			if err != nil {
				fail(line, err)
				continue
			}
			rows, lines = append(rows, r), append(lines, line)
		}
		if _, err := d.Token(); err != nil && !errors.Is(err, io.EOF) {
			fail(lineAt(body, d.InputOffset()), fmt.Errorf("not JSON: %w", err))
		}
		return
	}
	for n := 1; len(body) > 0; n++ {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		r, err := probe.ParseRow(line)
		if err != nil {
			fail(n, err)
			continue
		}
		rows, lines = append(rows, r), append(lines, n)
	}
	return
}

// isArrayOfArrays tells `[[...],[...]]` from a body whose first line is
// one report `[99,...]`.
func isArrayOfArrays(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 || b[0] != '[' {
		return false
	}
	b = bytes.TrimLeft(b[1:], " \t\r\n")
	return len(b) > 0 && (b[0] == '[' || b[0] == ']')
}

func leadingSpace(b []byte) []byte {
	return b[:len(b)-len(bytes.TrimLeft(b, " \t\r\n,"))]
}

func lineAt(b []byte, off int64) int {
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	return 1 + bytes.Count(b[:off], []byte{'\n'})
}
