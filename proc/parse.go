package proc

import (
	"bytes"
	"math"
	"math/bits"
	"strconv"
)

// Byte-level helpers shared by the parsers. They work on sub-slices of the
// input, so walking a file line by line and field by field allocates nothing.

// isSpace reports the separators of /proc text. \r is included because text
// read through a remote shell may carry CRLF line ends.
func isSpace(c byte) bool { return spaceTab[c] }

var spaceTab = [256]bool{' ': true, '\t': true, '\r': true, '\v': true, '\f': true}

// nextLine splits b at its first newline. The last line may lack one.
func nextLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

// trimSpace trims separators from both ends of b.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// nextField returns the first whitespace-separated field of b and what
// follows it. field is empty when b holds only separators.
func nextField(b []byte) (field, rest []byte) {
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	j := i
	for j < len(b) && !isSpace(b[j]) {
		j++
	}
	return b[i:j], b[j:]
}

// splitKey splits "key: value" at the first colon, trimming both sides.
func splitKey(line []byte) (key, value []byte, ok bool) {
	i := bytes.IndexByte(line, ':')
	if i < 0 {
		return nil, nil, false
	}
	return trimSpace(line[:i]), trimSpace(line[i+1:]), true
}

// parseUint parses a decimal unsigned integer made only of digits.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	if len(b) < 20 { // at most 19 digits: cannot overflow, so no check per digit
		var n uint64
		for _, c := range b {
			c -= '0'
			if c > 9 {
				return 0, false
			}
			n = n*10 + uint64(c)
		}
		return n, true
	}
	for len(b) > 1 && b[0] == '0' {
		b = b[1:]
	}
	var n uint64
	for _, c := range b {
		c -= '0'
		if c > 9 {
			return 0, false
		}
		hi, lo := bits.Mul64(n, 10)
		lo, carry := bits.Add64(lo, uint64(c), 0)
		if hi != 0 || carry != 0 {
			return 0, false // overflow
		}
		n = lo
	}
	return n, true
}

// parseInt parses a decimal integer with an optional sign.
func parseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	u, ok := parseUint(b)
	if !ok {
		return 0, false
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

// parseIntField parses a small int (processor numbers, ids, counts).
func parseIntField(b []byte) (int, bool) {
	v, ok := parseInt(b)
	if !ok || v < math.MinInt32 || v > math.MaxInt32 {
		return 0, false
	}
	return int(v), true
}

var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFloat parses a decimal such as "1690.18" or "-0.5" without converting
// to a string. With at most 15 digits the mantissa and the power of ten are
// exact doubles, so one division gives the correctly rounded result, exactly
// as strconv.ParseFloat would; longer or exponent forms go to strconv. NaN
// and Inf are refused: no /proc file prints them.
func parseFloat(b []byte) (float64, bool) {
	s := b
	neg := false
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	i := 0
	for i < len(s) && s[i]-'0' <= 9 {
		i++
	}
	intPart, frac := s[:i], s[i:]
	var fracPart []byte
	if len(frac) > 0 && frac[0] == '.' {
		j := 1
		for j < len(frac) && frac[j]-'0' <= 9 {
			j++
		}
		fracPart, frac = frac[1:j], frac[j:]
	}
	for len(intPart) > 1 && intPart[0] == '0' {
		intPart = intPart[1:]
	}
	if len(frac) == 0 {
		if len(intPart)+len(fracPart) == 0 {
			return 0, false
		}
		if len(intPart)+len(fracPart) <= 15 {
			var m uint64
			for _, c := range intPart {
				m = m*10 + uint64(c-'0')
			}
			for _, c := range fracPart {
				m = m*10 + uint64(c-'0')
			}
			f := float64(m) / pow10[len(fracPart)]
			if neg {
				f = -f
			}
			return f, true
		}
	}
	// Exponents and long mantissas: strconv, but only over number bytes, as it
	// would also take "inf", "nan" and hexadecimal forms.
	for _, c := range frac {
		if !(c-'0' <= 9 || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}
