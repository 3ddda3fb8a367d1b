package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"edgestat/probe"
	"edgestat/probe/capture"
	"edgestat/probe/emulator"
	probesreg "edgestat/server/probes"
)

// probeConfig is what the probe flags set.
type probeConfig struct {
	captures      []string
	pcaps         []string
	pcapSpeed     float64
	filter        string
	period        time.Duration
	firstID       int
	emulatorRate  float64
	emulatorHosts int
	maxFlows      int
}

// openInputs opens the inputs the flags name: each --capture, each --pcap,
// or the emulator when there is neither, so a new user sees traffic at once.
func openInputs(pc probeConfig) ([]probe.Input, error) {
	var ins []probe.Input
	closeAll := func() {
		for _, in := range ins {
			in.Close()
		}
	}
	for _, iface := range pc.captures {
		in, err := capture.OpenLive(iface, capture.LiveOptions{Filter: pc.filter, Promiscuous: true})
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("--capture %s: %w", iface, err)
		}
		ins = append(ins, in)
	}
	for _, path := range pc.pcaps {
		in, err := capture.Open(path, capture.FileOptions{Speed: pc.pcapSpeed})
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("--pcap %s: %w", path, err)
		}
		ins = append(ins, in)
	}
	if len(ins) == 0 {
		ins = append(ins, emulator.New(emulator.Options{
			Hosts: pc.emulatorHosts, Rate: pc.emulatorRate, Paced: true,
			Start: time.Now(), Seed: uint64(time.Now().UnixNano()),
		}))
	}
	return ins, nil
}

// inputKind names what the i-th input of openInputs reads.
func inputKind(pc probeConfig, i int) string {
	switch {
	case i < len(pc.captures):
		return "capture"
	case i < len(pc.captures)+len(pc.pcaps):
		return "replay"
	}
	return "emulator"
}

// newProbes makes one probe per input; on error every input is closed.
func newProbes(ins []probe.Input, pc probeConfig, sink probe.Sink) ([]*probe.Probe, error) {
	probes := make([]*probe.Probe, 0, len(ins))
	for i, in := range ins {
		p, err := probe.New(in, probe.Options{ID: uint32(pc.firstID + i), Period: pc.period, MaxFlows: pc.maxFlows, Sink: sink})
		if err != nil {
			for _, in := range ins {
				in.Close()
			}
			return nil, fmt.Errorf("probe %s: %w", in.Name(), err)
		}
		probes = append(probes, p)
	}
	return probes, nil
}

// startProbes runs the probes until ctx ends; a finite input (a pcap
// replay) ends its probe, not the program.
func startProbes(ctx context.Context, probes []*probe.Probe, entries []*probesreg.Entry, log *slog.Logger) *sync.WaitGroup {
	var wg sync.WaitGroup
	for i, p := range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer entries[i].End()
			log.Info("probe started", "probe", p.ID(), "source", p.Source())
			if err := p.Run(ctx); errors.Is(err, capture.ErrDamaged) {
				// Every packet before the damage was reported and is stored.
				c := p.Counters()
				log.Warn("replay ended early: damaged capture; the reports of the packets before it are kept",
					"probe", p.ID(), "source", p.Source(), "packets", c.Packets, "err", err)
				return
			} else if err != nil {
				log.Error("probe stopped", "probe", p.ID(), "source", p.Source(), "err", err)
				return
			}
			c := p.Counters()
			log.Info("probe ended", "probe", p.ID(), "source", p.Source(), "packets", c.Packets, "drops", c.Drops,
				"flows", c.FlowsTotal, "evicted", c.FlowsEvicted)
		}()
	}
	return &wg
}

// debugOnly logs a chatty component's Info records at Debug level, so the
// per-period report summaries show only with --log-level debug.
type debugOnly struct{ slog.Handler }

func (d debugOnly) Enabled(ctx context.Context, _ slog.Level) bool {
	return d.Handler.Enabled(ctx, slog.LevelDebug)
}

func (d debugOnly) Handle(ctx context.Context, r slog.Record) error {
	if r.Level > slog.LevelDebug {
		r.Level = slog.LevelDebug
	}
	return d.Handler.Handle(ctx, r)
}

func (d debugOnly) WithAttrs(a []slog.Attr) slog.Handler { return debugOnly{d.Handler.WithAttrs(a)} }
func (d debugOnly) WithGroup(n string) slog.Handler      { return debugOnly{d.Handler.WithGroup(n)} }

// runReport is `edgestat report FILE`: the reports of a capture file as
// MMT-Probe's CSV lines on stdout.
func runReport(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("edgestat report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	id := fs.Uint("id", 1, "probe id, column 1 of every report")
	period := fs.Duration("period", 5*time.Second, "stats period in packet time")
	maxFlows := fs.Int("max-flows", probe.DefaultMaxFlows, "flows followed at once (about 330 bytes each at most); a new flow then ends the least recently seen")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: edgestat report [flags] FILE\n\nReads a pcap or pcapng file and prints its MMT reports as CSV lines, as MMT-Probe wrote them.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("report: want one capture file")
	}
	if err := probe.CheckMaxFlows(*maxFlows); err != nil {
		return fmt.Errorf("report: --max-flows: %w", err)
	}
	in, err := capture.Open(fs.Arg(0), capture.FileOptions{})
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	c, err := probe.WriteReportCSV(stdout, in, probe.Options{ID: uint32(*id), Period: *period, MaxFlows: *maxFlows})
	if err != nil && !errors.Is(err, capture.ErrDamaged) {
		return fmt.Errorf("report %s: %w", fs.Arg(0), err)
	}
	fmt.Fprintf(stderr, "edgestat report: %s\n", reportSummary(c))
	if w, ok := in.(capture.Warner); ok {
		for _, s := range w.Warnings() {
			fmt.Fprintf(stderr, "edgestat report: warning: %s\n", s)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "edgestat report: warning: %v; the reports cover the %d packets before it\n", err, c.Packets)
		return exitStatus(2)
	}
	return nil
}

// reportSummary is one line of what a report run saw, for stderr.
func reportSummary(c probe.Counters) string {
	var errs []string
	var nerr uint64
	for i, n := range c.DecodeErrors {
		if n > 0 {
			nerr += n
			errs = append(errs, fmt.Sprintf("%s %d", probe.DecodeError(i), n))
		}
	}
	s := fmt.Sprintf("%d packets, %d bytes; %d flows, %d evicted from the full table",
		c.Packets, c.Bytes, c.FlowsTotal, c.FlowsEvicted)
	if c.DetailsMissed > 0 {
		s += fmt.Sprintf(", %d without their HTTP/TLS/RTP details (detail pool full)", c.DetailsMissed)
	}
	s += fmt.Sprintf("; %d decode errors", nerr)
	if nerr > 0 {
		s += " (" + strings.Join(errs, ", ") + ")"
	}
	s += fmt.Sprintf("; %d stats rows, %d flow rows, %d host rows", c.StatRows, c.FlowRows, c.HostRows)
	if c.PathsOverflow > 0 || c.HostsEvicted > 0 {
		s += fmt.Sprintf("; %d paths cut short, %d hosts evicted", c.PathsOverflow, c.HostsEvicted)
	}
	return s
}

// exitStatus ends the program with that status, its message already printed.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// runEmulate is `edgestat emulate`: the emulator's packets as a pcap file.
func runEmulate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("edgestat emulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	count := fs.Int("count", 10000, "packets to write")
	out := fs.String("out", "", "pcap file to write (- for stdout)")
	seed := fs.Uint64("seed", 1, "seed: the same seed and flags give the same file")
	hosts := fs.Int("hosts", 12, "LAN hosts besides the router")
	rate := fs.Float64("rate", 1000, "packets per second of packet time")
	scan := fs.Bool("scan", false, "flow-heavy traffic: most packets open a new flow (a port scan, a torrent client, a DDoS)")
	scanShare := fs.Float64("scan-share", 0.9, "with --scan, the share of packets that open a new flow (0-1)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: edgestat emulate --count N --out FILE.pcap\n\nWrites the traffic emulator's packets as a pcap file (tcpdump and tshark read it).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 || *count < 1 {
		fs.Usage()
		return errors.New("emulate: want --count N (N >= 1) and --out FILE")
	}
	w := stdout
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			return fmt.Errorf("emulate: %w", err)
		}
		defer f.Close()
		w = f
	}
	opts := emulator.Options{Count: *count, Seed: *seed, Hosts: *hosts, Rate: *rate}
	if *scan {
		if *scanShare < 0 || *scanShare > 1 {
			return fmt.Errorf("emulate: --scan-share %v: want 0 to 1", *scanShare)
		}
		opts.Scan = *scanShare
	}
	if err := emulator.WritePcap(w, opts); err != nil {
		return fmt.Errorf("emulate: %w", err)
	}
	if f, ok := w.(*os.File); ok && f != os.Stdout {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("emulate: %w", err)
		}
	}
	return nil
}
