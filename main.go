// Command edgestat turns a Linux box into a LAN monitoring appliance: live
// host statistics over the Rt-Stat protocol (telnet and WebSocket) and a web
// UI, all on one port.
package main

import (
	"context"
	"crypto/tls"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"edgestat/probe"
	"edgestat/proc"
	"edgestat/server"
	"edgestat/server/guard"
	"edgestat/server/operator"
	probesreg "edgestat/server/probes"
	"edgestat/server/rtstat"
	"edgestat/server/sshmon"
	"edgestat/server/store"
	"edgestat/server/traffic"
	"edgestat/ui"
)

// version is set at release time with -ldflags "-X main.version=...".
var version = "0.1.0"

//go:embed schema.sql
var schema string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, nil)
	var status exitStatus
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.As(err, &status):
		os.Exit(int(status))
	case err != nil:
		fmt.Fprintln(os.Stderr, "edgestat:", err)
		os.Exit(1)
	}
}

// config is every setting, from flags over EDGESTAT_* variables over defaults.
type config struct {
	iface, token, data, httpAddr, rawAddr, procRoot, uiDir, logLevel string
	port, maxClients                                                 int
	plugins                                                          []rtstat.CommandSpec
	pluginTimeout                                                    time.Duration
	showVersion                                                      bool
	probe                                                            probeConfig
	traffic                                                          trafficConfig
	sessions                                                         sessionConfig
	monitorInterval                                                  time.Duration
	maxMonitorTargets                                                int
	tlsMode, tlsCert, tlsKey                                         string
	maxConnsPerIP                                                    int
}

// sessionConfig is what the operator session flags set.
type sessionConfig struct {
	addr                              string
	max, maxCount, segPackets, maxCPU int
	segAge, grace, retention          time.Duration
}

// trafficConfig is what the traffic store flags set.
type trafficConfig struct {
	flushRows     int
	flushInterval time.Duration
	retention     traffic.Retention
	maxDBMB       int
}

// run is the whole program; ready, when set, gets the bound addresses.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, ready func(*server.Server)) error {
	if len(args) > 0 {
		switch args[0] {
		case "report":
			return runReport(args[1:], stdout, stderr)
		case "emulate":
			return runEmulate(args[1:], stdout, stderr)
		}
	}
	cfg, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	if cfg.showVersion {
		fmt.Fprintln(stdout, "edgestat", version)
		return nil
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	st, err := store.Open(ctx, cfg.data, schema, version)
	if err != nil {
		return err
	}
	defer st.Close()

	src := proc.FS(cfg.procRoot)
	factory := func() []rtstat.Plugin {
		ps := rtstat.HostPlugins(src)
		for _, spec := range cfg.plugins {
			ps = append(ps, rtstat.NewCommandPlugin(spec, cfg.pluginTimeout))
		}
		return ps
	}
	svcCtx, cancelSvc := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSvc()
	rtHub := rtstat.NewHub(svcCtx, factory, log)
	// One count of wrong tokens per source, whichever way they came.
	fails := &guard.Limiter{}
	rt := rtstat.NewService(rtHub, rtstat.Config{Version: version, Token: cfg.token, MaxClients: cfg.maxClients, Log: log, Guard: fails})

	// Inputs open before the listeners, so a bad --capture or --pcap
	// fails at start and nothing is left half served.
	ins, err := openInputs(cfg.probe)
	if err != nil {
		return err
	}
	hub := traffic.NewHub(traffic.HubConfig{Log: log})
	reports, err := traffic.Open(ctx, st, traffic.Config{
		FlushRows: cfg.traffic.flushRows, FlushInterval: cfg.traffic.flushInterval, Retention: cfg.traffic.retention,
		MaxDBBytes: int64(cfg.traffic.maxDBMB) << 20, Publisher: hub, Log: log,
	})
	if err != nil {
		for _, in := range ins {
			in.Close()
		}
		return err
	}
	sink := probe.MultiSink(&probe.LogSink{Logger: slog.New(debugOnly{log.Handler()})}, reports)
	probes, err := newProbes(ins, cfg.probe, sink)
	if err != nil {
		return err
	}
	reg := probesreg.New()
	entries := make([]*probesreg.Entry, len(probes))
	for i, p := range probes {
		entries[i] = reg.Add(p, inputKind(cfg.probe, i), "")
	}
	trafficAPI := traffic.NewService(reports, hub, reg, log)
	sessions, err := operator.New(ctx, operator.Config{
		Dir: filepath.Join(cfg.data, "sessions"), StreamHost: cfg.sessions.addr, MaxSessions: cfg.sessions.max,
		MaxCount: cfg.sessions.maxCount, SegmentPackets: cfg.sessions.segPackets, SegmentAge: cfg.sessions.segAge,
		Grace: cfg.sessions.grace, Retention: cfg.sessions.retention, MaxCPU: maxCPU(cfg.sessions.maxCPU), Sink: sink, Probes: reg, DB: st.DB(), Wear: st.Wear,
		Log: log,
	})
	if err != nil {
		for _, in := range ins {
			in.Close()
		}
		return err
	}

	addr := ""
	if cfg.httpAddr == "" || cfg.rawAddr == "" {
		addr = net.JoinHostPort(cfg.iface, strconv.Itoa(cfg.port))
	}
	tlsCfg, err := tlsConfig(cfg, log)
	if err != nil {
		for _, in := range ins {
			in.Close()
		}
		return err
	}
	srv := server.New(server.Config{
		Addr: addr, HTTPAddr: cfg.httpAddr, RawAddr: cfg.rawAddr,
		Version: version, RtStat: rt, Store: st, Writes: reports.Health, UI: ui.Handler(cfg.uiDir), Log: log,
		Token: cfg.token, Guard: fails, TLS: tlsCfg, MaxConnsPerIP: cfg.maxConnsPerIP,
	})
	trafficAPI.Routes(srv.Router())
	operator.NewAPI(sessions).Routes(srv.Router())
	knownHosts := sshmon.NewKnownHosts(st.DB())
	savedHosts, err := sshmon.OpenHosts(st.DB(), cfg.data)
	if err != nil {
		for _, in := range ins {
			in.Close()
		}
		return err
	}
	monitor := sshmon.NewRPC(sshmon.NewMonitor(sshmon.MonitorConfig{
		Interval: cfg.monitorInterval, MaxTargets: cfg.maxMonitorTargets, Log: log,
		Pool: sshmon.NewPool(sshmon.PoolConfig{KnownHosts: knownHosts, Log: log}),
	}), sshmon.RPCConfig{Hosts: savedHosts, Log: log})
	sshmon.HostKeyRoutes(srv.Router(), knownHosts)
	sshmon.HostsRoutes(srv.Router(), savedHosts)
	srv.Router().Handler(http.MethodGet, "/monitor", monitor)
	srv.Router().Handler(http.MethodGet, "/metrics", newMetrics(cfg, log, st, reports, hub, reg, rt, sessions, monitor))
	if err := srv.Listen(); err != nil {
		for _, in := range ins {
			in.Close()
		}
		return err
	}
	eps := srv.Endpoints()
	greet(stdout, eps, cfg.data, tlsCfg != nil)
	log.Info("edgestat started", "version", version, "data", cfg.data, "auth", cfg.token != "", "max_clients", cfg.maxClients)
	if ready != nil {
		ready(srv)
	}

	// The store outlives the probes, so their last reports are written.
	storeCtx, stopStore := context.WithCancel(context.WithoutCancel(ctx))
	defer stopStore()
	storeDone := make(chan struct{})
	go func() { defer close(storeDone); reports.Run(storeCtx) }()
	probesDone := startProbes(ctx, probes, entries, log)
	done := make(chan struct{})
	go func() { defer close(done); rt.Run(svcCtx) }()
	hubDone := make(chan struct{})
	go func() { defer close(hubDone); hub.Run(svcCtx) }()
	janitorDone := make(chan struct{})
	go func() { defer close(janitorDone); sessions.Run(svcCtx) }()
	monitorDone := make(chan struct{})
	go func() { defer close(monitorDone); monitor.Run(svcCtx) }()
	srv.Serve(ctx) // returns when ctx ends

	log.Info("shutting down")
	shCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shCtx); err != nil {
		log.Warn("shutdown incomplete", "err", err)
	}
	hub.Close()
	cancelSvc()
	rtHub.Wait()
	<-done
	<-hubDone
	<-janitorDone // sessions stopped: their probes' last reports are in the store
	<-monitorDone
	probesDone.Wait()
	stopStore()
	<-storeDone
	return nil
}

// maxCPU turns --session-max-cpu into the Manager's share, 0 into never.
func maxCPU(percent int) float64 {
	if percent <= 0 {
		return 2
	}
	return float64(percent) / 100
}

// greet tells a new user where to point a browser and telnet.
func greet(w io.Writer, eps []server.Endpoint, data string, tlsOn bool) {
	fmt.Fprintf(w, "edgestat %s, data in %s\n", version, data)
	for _, ep := range eps {
		host, port, _ := net.SplitHostPort(ep.Addr.String())
		hosts := []string{host}
		if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
			hosts = lanHosts()
		}
		for _, h := range hosts {
			if ep.HTTP {
				fmt.Fprintf(w, "  browser: http://%s/\n", net.JoinHostPort(h, port))
				if tlsOn {
					fmt.Fprintf(w, "  secure:  https://%s/\n", net.JoinHostPort(h, port))
				}
			}
			if ep.Raw {
				fmt.Fprintf(w, "  telnet:  telnet %s %s\n", h, port)
			}
		}
	}
}

// lanHosts lists this box's addresses, LAN ones first, for the greeting.
func lanHosts() []string {
	var out []string
	ifaces, _ := net.InterfaceAddrs()
	for _, a := range ifaces {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.To4() == nil {
			continue
		}
		out = append(out, ipn.IP.String())
	}
	return append(out, "localhost")
}

// A flagDoc is one flag for --help, with its aliases and variable.
type flagDoc struct{ names, env, usage, def string }

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("edgestat", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var docs []flagDoc
	var envErr error
	envName := func(long string) string {
		return "EDGESTAT_" + strings.ToUpper(strings.ReplaceAll(long, "-", "_"))
	}
	add := func(v flag.Value, long, short, def, usage string) {
		env := envName(long)
		if e := getenv(env); e != "" {
			if err := v.Set(e); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s: %w", env, err)
			}
		}
		fs.Var(v, long, usage)
		names := "--" + long
		if short != "" {
			fs.Var(v, short, usage)
			names = "-" + short + ", " + names
		}
		docs = append(docs, flagDoc{names: names, env: env, usage: usage, def: def})
	}
	cfg.port, cfg.maxClients, cfg.data, cfg.procRoot, cfg.logLevel = 8000, 10, "./edgestat-data", "/", "info"
	cfg.pluginTimeout = 2 * time.Second
	cfg.probe = probeConfig{pcapSpeed: 1, period: 5 * time.Second, firstID: 1, emulatorRate: 100, emulatorHosts: 12, maxFlows: probe.DefaultMaxFlows}
	cfg.sessions = sessionConfig{addr: "127.0.0.1", max: 16, maxCPU: 95, maxCount: 10_000_000, segPackets: 10_000, segAge: 10 * time.Second, grace: 5 * time.Minute, retention: time.Hour}
	cfg.monitorInterval, cfg.maxMonitorTargets = time.Second, 256
	cfg.maxConnsPerIP = 64
	cfg.traffic = trafficConfig{flushRows: 20000, flushInterval: 5 * time.Minute, retention: traffic.DefaultRetention, maxDBMB: 256}
	add((*stringValue)(&cfg.iface), "interface", "i", "", "address to listen on (all when empty)")
	add((*intValue)(&cfg.port), "port", "p", "8000", "port serving HTTP, WebSocket and raw Rt-Stat")
	add((*stringValue)(&cfg.token), "auth-token", "a", "", "token clients must send with auth::TOKEN (prefer the variable: flags show in ps)")
	add((*intValue)(&cfg.maxClients), "max-clients", "c", "10", "most Rt-Stat clients at once, 0 = unlimited")
	add((*stringValue)(&cfg.tlsMode), "tls", "", "", "auto: make a self-signed certificate once (kept in DATA/tls) and speak TLS too; empty: TLS only with --tls-cert")
	add((*stringValue)(&cfg.tlsCert), "tls-cert", "", "", "PEM certificate (chain) for TLS: https, wss and TLS raw Rt-Stat on the same port")
	add((*stringValue)(&cfg.tlsKey), "tls-key", "", "", "PEM private key of --tls-cert")
	add((*intValue)(&cfg.maxConnsPerIP), "max-conns-per-ip", "", "64", "most open connections of one remote address, 0 = unlimited (loopback is not counted)")
	add((*stringValue)(&cfg.data), "data", "", "./edgestat-data", "data directory (SQLite database)")
	add((*stringValue)(&cfg.httpAddr), "http-addr", "", "", "serve HTTP only on this host:port as well")
	add((*stringValue)(&cfg.rawAddr), "raw-addr", "", "", "serve raw Rt-Stat only on this host:port as well (with --http-addr: instead of the shared port)")
	add((*pluginsValue)(&cfg.plugins), "plugin", "", "", "NAME=COMMAND: add the command's JSON output as Push key NAME (repeatable; the variable takes one per line)")
	add((*durationValue)(&cfg.pluginTimeout), "plugin-timeout", "", "2s", "how long a --plugin command may run per tick")
	add((*listValue)(&cfg.probe.captures), "capture", "", "", "capture live traffic on this interface (repeatable; needs CAP_NET_RAW)")
	add((*listValue)(&cfg.probe.pcaps), "pcap", "", "", "replay this pcap or pcapng file through the probe (repeatable)")
	add((*floatValue)(&cfg.probe.pcapSpeed), "pcap-speed", "", "1", "replay speed of --pcap files: 1 as recorded, 2 twice as fast, 0 as fast as possible")
	add((*stringValue)(&cfg.probe.filter), "capture-filter", "", "", "capture filter for --capture: a subset of tcpdump's syntax, or `tcpdump -dd` output")
	add((*durationValue)(&cfg.probe.period), "stats-period", "", "5s", "period of the probe's protocol statistics (MMT format 99)")
	add((*intValue)(&cfg.probe.firstID), "probe-id", "", "1", "id of the first probe; the others count up from it")
	add((*floatValue)(&cfg.probe.emulatorRate), "emulator-rate", "", "100", "packets per second of the built-in emulator, which runs when there is no --capture or --pcap")
	add((*intValue)(&cfg.probe.emulatorHosts), "emulator-hosts", "", "12", "LAN hosts the emulator plays")
	add((*intValue)(&cfg.probe.maxFlows), "max-flows", "", strconv.Itoa(probe.DefaultMaxFlows), "flows each probe follows at once (about 330 bytes each at most); a new flow then ends the least recently seen")
	add((*intValue)(&cfg.traffic.flushRows), "flush-rows", "", "20000", "write reports to the database when this many wait")
	add((*durationValue)(&cfg.traffic.flushInterval), "flush-interval", "", "5m", "or when the oldest waiting report is this old (a crash loses at most this much; shorter wears flash faster)")
	add((*durationValue)(&cfg.traffic.retention.Raw), "retain-raw", "", "24h", "keep raw reports this long (counted back from the newest report)")
	add((*durationValue)(&cfg.traffic.retention.Minute), "retain-minute", "", "7d", "keep minute rollups this long")
	add((*durationValue)(&cfg.traffic.retention.Hour), "retain-hour", "", "90d", "keep hour rollups this long")
	add((*durationValue)(&cfg.traffic.retention.Day), "retain-day", "", "1825d", "keep day rollups this long")
	add((*intValue)(&cfg.traffic.maxDBMB), "max-db-mb", "", "256", "bound of the database in MB, kept by pruning the oldest reports first; 0 = none")
	add((*stringValue)(&cfg.sessions.addr), "session-addr", "", "127.0.0.1", "address the streams of operator sessions listen on (0.0.0.0: the LAN)")
	add((*intValue)(&cfg.sessions.max), "max-sessions", "", "16", "operator sessions running at once (each holds a stream port)")
	add((*intValue)(&cfg.sessions.maxCPU), "session-max-cpu", "", "95", "refuse new sessions while the CPUs are busier than this percentage; 0 = never")
	add((*intValue)(&cfg.sessions.maxCount), "max-count", "", "10000000", "largest packet count of a session")
	add((*intValue)(&cfg.sessions.segPackets), "segment-packets", "", "10000", "a session's pcap segment closes at this many packets")
	add((*durationValue)(&cfg.sessions.segAge), "segment-seconds", "", "10s", "or when it is this old")
	add((*durationValue)(&cfg.sessions.grace), "session-grace", "", "5m", "an ended session stays listed this long")
	add((*durationValue)(&cfg.sessions.retention), "session-retention", "", "1h", "an ended session's segment files are kept this long")
	add((*durationValue)(&cfg.monitorInterval), "monitor-interval", "", "1s", "how often /monitor reads each SSH-monitored host")
	add((*intValue)(&cfg.maxMonitorTargets), "max-monitor-targets", "", "256", "hosts /monitor watches at once")
	add((*stringValue)(&cfg.procRoot), "proc-root", "", "/", "root under which /proc and /sys are read")
	add((*stringValue)(&cfg.uiDir), "ui-dir", "", "", "serve the web UI from this directory instead of the binary (development)")
	add((*stringValue)(&cfg.logLevel), "log-level", "", "info", "debug, info, warn or error")
	fs.BoolVar(&cfg.showVersion, "version", false, "print the version and exit")
	docs = append(docs, flagDoc{names: "--version", usage: "print the version and exit"}, flagDoc{names: "-h, --help", usage: "show this help"})

	if envErr != nil {
		return cfg, envErr
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp(stderr, docs)
			return cfg, err
		}
		return cfg, fmt.Errorf("%w (see --help)", err)
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	if cfg.port < 0 || cfg.port > 65535 {
		return cfg, fmt.Errorf("--port %d: out of range", cfg.port)
	}
	if cfg.maxClients < 0 {
		return cfg, fmt.Errorf("--max-clients %d: must be 0 or more", cfg.maxClients)
	}
	if cfg.pluginTimeout <= 0 {
		return cfg, errors.New("--plugin-timeout must be positive")
	}
	if cfg.probe.period < time.Second {
		return cfg, errors.New("--stats-period must be at least 1s")
	}
	if cfg.probe.pcapSpeed < 0 || cfg.probe.emulatorRate <= 0 || cfg.probe.emulatorRate > 1e6 {
		return cfg, errors.New("--pcap-speed must be 0 or more, --emulator-rate between 0 and 1000000")
	}
	if cfg.probe.firstID < 0 || cfg.probe.emulatorHosts < 1 || cfg.probe.emulatorHosts > 250 {
		return cfg, errors.New("--probe-id must be 0 or more, --emulator-hosts 1 to 250")
	}
	if err := probe.CheckMaxFlows(cfg.probe.maxFlows); err != nil {
		return cfg, fmt.Errorf("--max-flows: %w", err)
	}
	if cfg.sessions.max < 1 || cfg.sessions.maxCount < 1 || cfg.sessions.segPackets < 1 || cfg.sessions.segAge < time.Second || cfg.sessions.grace < 0 || cfg.sessions.retention < 0 {
		return cfg, errors.New("--max-sessions, --max-count and --segment-packets must be 1 or more, --segment-seconds at least 1s, --session-grace and --session-retention 0 or more")
	}
	if cfg.monitorInterval < 100*time.Millisecond || cfg.maxMonitorTargets < 1 {
		return cfg, errors.New("--monitor-interval must be at least 100ms, --max-monitor-targets 1 or more")
	}
	if cfg.sessions.maxCPU < 0 || cfg.sessions.maxCPU > 100 {
		return cfg, fmt.Errorf("--session-max-cpu %d: want a percentage, 0 to 100", cfg.sessions.maxCPU)
	}
	if net.ParseIP(cfg.sessions.addr) == nil {
		return cfg, fmt.Errorf("--session-addr %q: want an IP address", cfg.sessions.addr)
	}
	if cfg.traffic.flushRows < 1 || cfg.traffic.flushRows > 1_000_000 || cfg.traffic.flushInterval < 100*time.Millisecond {
		return cfg, errors.New("--flush-rows must be 1 to 1000000, --flush-interval at least 100ms")
	}
	if err := cfg.traffic.retention.Validate(); err != nil {
		return cfg, fmt.Errorf("--retain-*: %w", err)
	}
	if cfg.traffic.maxDBMB < 0 || (cfg.traffic.maxDBMB > 0 && cfg.traffic.maxDBMB < 8) {
		return cfg, errors.New("--max-db-mb must be 0 (no bound) or at least 8")
	}
	switch {
	case cfg.tlsMode != "" && cfg.tlsMode != "auto" && cfg.tlsMode != "off":
		return cfg, fmt.Errorf("--tls %q: want auto, off or nothing", cfg.tlsMode)
	case (cfg.tlsCert == "") != (cfg.tlsKey == ""):
		return cfg, errors.New("--tls-cert and --tls-key go together")
	case cfg.tlsCert != "" && cfg.tlsMode == "auto":
		return cfg, errors.New("--tls=auto makes its own certificate: drop --tls-cert/--tls-key, or --tls")
	case cfg.maxConnsPerIP < 0:
		return cfg, errors.New("--max-conns-per-ip must be 0 (no cap) or more")
	}
	return cfg, nil
}

// tlsConfig is the TLS the flags ask for, or nil.
func tlsConfig(cfg config, log *slog.Logger) (*tls.Config, error) {
	var cert tls.Certificate
	var err error
	switch {
	case cfg.tlsCert != "":
		cert, err = server.LoadCert(cfg.tlsCert, cfg.tlsKey)
	case cfg.tlsMode == "auto":
		hosts := []string{"localhost", "127.0.0.1", "::1"}
		if name, err := os.Hostname(); err == nil {
			hosts = append(hosts, name, name+".local", name+".lan")
		}
		hosts = append(hosts, lanHosts()...)
		cert, err = server.AutoCert(filepath.Join(cfg.data, "tls"), hosts)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	log.Info("tls on", "sha256", server.Fingerprint(cert))
	return server.TLSConfig(cert), nil
}

func printHelp(w io.Writer, docs []flagDoc) {
	fmt.Fprintf(w, "edgestat %s: a LAN monitoring appliance in one binary.\n\n", version)
	fmt.Fprint(w, "Usage:\n"+
		"  edgestat [flags]                         run the appliance\n"+
		"  edgestat report [--id N] FILE            print a capture's MMT reports as CSV lines\n"+
		"  edgestat emulate --count N --out FILE    write the emulator's traffic as a pcap file\n\nFlags:\n")
	for _, d := range docs {
		fmt.Fprintf(w, "  %s\n      %s", d.names, d.usage)
		if d.def != "" {
			fmt.Fprintf(w, " (default %s)", d.def)
		}
		if d.env != "" {
			fmt.Fprintf(w, " [$%s]", d.env)
		}
		fmt.Fprintln(w)
	}
}

type stringValue string

func (s *stringValue) String() string     { return string(*s) }
func (s *stringValue) Set(v string) error { *s = stringValue(v); return nil }

type intValue int

func (i *intValue) String() string { return strconv.Itoa(int(*i)) }
func (i *intValue) Set(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", v)
	}
	*i = intValue(n)
	return nil
}

type durationValue time.Duration

func (d *durationValue) String() string { return time.Duration(*d).String() }

// Set takes Go durations and whole days ("7d"), which retention wants.
func (d *durationValue) Set(v string) error {
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 100*365 {
			return fmt.Errorf("%q is not a number of days", v)
		}
		*d = durationValue(time.Duration(n) * 24 * time.Hour)
		return nil
	}
	x, err := time.ParseDuration(v)
	if err != nil {
		return err
	}
	*d = durationValue(x)
	return nil
}

type floatValue float64

func (f *floatValue) String() string { return strconv.FormatFloat(float64(*f), 'g', -1, 64) }
func (f *floatValue) Set(v string) error {
	x, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return fmt.Errorf("%q is not a number", v)
	}
	*f = floatValue(x)
	return nil
}

// listValue is a repeatable flag; its variable takes one value per line.
type listValue []string

func (l *listValue) String() string { return strings.Join(*l, ",") }
func (l *listValue) Set(v string) error {
	for _, line := range strings.Split(v, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			*l = append(*l, line)
		}
	}
	return nil
}

type pluginsValue []rtstat.CommandSpec

func (p *pluginsValue) String() string { return fmt.Sprint(len(*p), " plugins") }
func (p *pluginsValue) Set(v string) error {
	for _, line := range strings.Split(v, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		spec, err := rtstat.ParseCommandSpec(line)
		if err != nil {
			return err
		}
		for _, have := range *p {
			if have.Name == spec.Name {
				return fmt.Errorf("plugin %q given twice", spec.Name)
			}
		}
		*p = append(*p, spec)
	}
	return nil
}
