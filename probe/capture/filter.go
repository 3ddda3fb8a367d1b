package capture

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// ErrFilter is wrapped by every error about a capture filter.
var ErrFilter = errors.New("capture filter")

// maxSnaplen is libpcap's MAXIMUM_SNAPLEN: the most of a packet any capture
// keeps, and the snap length when none is asked for.
const maxSnaplen = 262144

// maxInstructions is the kernel's BPF_MAXINSNS.
const maxInstructions = 4096

// CompileFilter turns a capture filter into a classic BPF program for a
// capture of link type link that keeps at most snaplen bytes of a packet
// (0 means 262144). The filter is one of:
//
//   - the output of `tcpdump -dd EXPR` ({ 0x28, 0, 0, 0x0000000c }, ...)
//     or of `tcpdump -ddd EXPR` (a count, then "code jt jf k" lines), so any
//     tcpdump expression can be compiled by libpcap on another machine;
//   - an expression in the subset of the pcap-filter language that
//     edgestat compiles itself (see the package documentation).
//
// The program's accepting returns are capped at snaplen, so the kernel
// copies no more of a packet than is kept.
func CompileFilter(filter string, link layers.LinkType, snaplen int) ([]bpf.Instruction, error) {
	if snaplen <= 0 || snaplen > maxSnaplen {
		snaplen = maxSnaplen
	}
	text := strings.TrimSpace(filter)
	if text == "" {
		return []bpf.Instruction{bpf.RetConstant{Val: uint32(snaplen)}}, nil
	}
	var prog []bpf.Instruction
	var err error
	switch c := text[0]; {
	case c == '{':
		prog, err = parseDD(text)
	case c >= '0' && c <= '9':
		prog, err = parseDDD(text)
	default:
		return compileExpr(text, link, snaplen)
	}
	if err != nil {
		return nil, err
	}
	if err := checkProgram(prog); err != nil {
		return nil, err
	}
	return capReturns(prog, uint32(snaplen)), nil
}

// parseDD reads the C array `tcpdump -dd` prints.
func parseDD(text string) ([]bpf.Instruction, error) {
	var prog []bpf.Instruction
	rest := text
	for n := 1; ; n++ {
		rest = strings.TrimLeft(rest, " \t\r\n,")
		if rest == "" {
			break
		}
		if rest[0] != '{' {
			return nil, fmt.Errorf("%w: tcpdump -dd output: instruction %d does not start with '{'", ErrFilter, n)
		}
		end := strings.IndexByte(rest, '}')
		if end < 0 {
			return nil, fmt.Errorf("%w: tcpdump -dd output: instruction %d has no closing '}'", ErrFilter, n)
		}
		fields := strings.Split(rest[1:end], ",")
		rest = rest[end+1:]
		ins, err := rawInstruction(fields)
		if err != nil {
			return nil, fmt.Errorf("%w: tcpdump -dd output: instruction %d: %v", ErrFilter, n, err)
		}
		prog = append(prog, ins)
	}
	return prog, nil
}

// parseDDD reads the decimal form `tcpdump -ddd` prints: the number of
// instructions, then four numbers per instruction.
func parseDDD(text string) ([]bpf.Instruction, error) {
	fields := strings.Fields(text)
	count, err := strconv.ParseUint(fields[0], 10, 16)
	if err != nil {
		return nil, fmt.Errorf("%w: tcpdump -ddd output: bad instruction count %q", ErrFilter, fields[0])
	}
	if uint64(len(fields)-1) != 4*count {
		return nil, fmt.Errorf("%w: tcpdump -ddd output: %d instructions announced, %d numbers follow", ErrFilter, count, len(fields)-1)
	}
	prog := make([]bpf.Instruction, 0, count)
	for i := 1; i < len(fields); i += 4 {
		ins, err := rawInstruction(fields[i : i+4])
		if err != nil {
			return nil, fmt.Errorf("%w: tcpdump -ddd output: instruction %d: %v", ErrFilter, len(prog)+1, err)
		}
		prog = append(prog, ins)
	}
	return prog, nil
}

// rawInstruction parses code, jt, jf and k (decimal or 0x hexadecimal).
func rawInstruction(fields []string) (bpf.Instruction, error) {
	if len(fields) != 4 {
		return nil, fmt.Errorf("want 4 numbers, have %d", len(fields))
	}
	var v [4]uint64
	bits := [4]int{16, 8, 8, 32}
	for i, f := range fields {
		n, err := strconv.ParseUint(strings.TrimSpace(f), 0, bits[i])
		if err != nil {
			return nil, fmt.Errorf("bad number %q", strings.TrimSpace(f))
		}
		v[i] = n
	}
	return bpf.RawInstruction{Op: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])}.Disassemble(), nil
}

// checkProgram does the kernel's structural checks, so a bad program is
// refused with a reason rather than the kernel's EINVAL.
func checkProgram(prog []bpf.Instruction) error {
	if len(prog) == 0 {
		return fmt.Errorf("%w: empty program", ErrFilter)
	}
	if len(prog) > maxInstructions {
		return fmt.Errorf("%w: %d instructions, the kernel takes at most %d", ErrFilter, len(prog), maxInstructions)
	}
	for i, ins := range prog {
		left := len(prog) - i - 1
		var skips []int
		switch ins := ins.(type) {
		case bpf.Jump:
			skips = []int{int(ins.Skip)}
		case bpf.JumpIf:
			skips = []int{int(ins.SkipTrue), int(ins.SkipFalse)}
		case bpf.JumpIfX:
			skips = []int{int(ins.SkipTrue), int(ins.SkipFalse)}
		case bpf.RawInstruction:
			return fmt.Errorf("%w: instruction %d: unknown opcode %#x", ErrFilter, i, ins.Op)
		}
		for _, s := range skips {
			if s >= left {
				return fmt.Errorf("%w: instruction %d jumps past the end of the program", ErrFilter, i)
			}
		}
	}
	switch prog[len(prog)-1].(type) {
	case bpf.RetA, bpf.RetConstant:
	default:
		return fmt.Errorf("%w: the program does not end with a return", ErrFilter)
	}
	return nil
}

// capReturns lowers every accepting constant return to snaplen.
func capReturns(prog []bpf.Instruction, snaplen uint32) []bpf.Instruction {
	out := make([]bpf.Instruction, len(prog))
	for i, ins := range prog {
		if r, ok := ins.(bpf.RetConstant); ok && r.Val > snaplen {
			ins = bpf.RetConstant{Val: snaplen}
		}
		out[i] = ins
	}
	return out
}
