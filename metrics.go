package main

import (
	"log/slog"
	"net/http"

	"edgestat/proc"
	"edgestat/server/metrics"
	"edgestat/server/operator"
	probesreg "edgestat/server/probes"
	"edgestat/server/rtstat"
	"edgestat/server/sshmon"
	"edgestat/server/store"
	"edgestat/server/traffic"
)

// newMetrics is GET /metrics: the Prometheus exposition of this box
// (/proc and /sys under --proc-root), of this process, and of every
// service, in that order.
func newMetrics(cfg config, log *slog.Logger, st *store.Store, reports *traffic.Store, hub *traffic.Hub,
	reg *probesreg.Registry, rt *rtstat.Service, sessions *operator.Manager, monitor *sshmon.RPC) http.Handler {
	h := metrics.NewHandler(log)
	for _, c := range metrics.HostCollectors(proc.FS(cfg.procRoot)) {
		h.Add(c.Name, c.Collector)
	}
	h.Add("runtime", metrics.NewRuntime(version))
	h.Add("probes", metrics.Probes(reg, reports))
	h.Add("traffic", metrics.Traffic(reports, hub))
	h.Add("database", metrics.DatabaseCollector(st, int64(cfg.traffic.maxDBMB)<<20))
	h.Add("connections", metrics.Connections(rt, hub, monitor))
	h.Add("sessions", metrics.SessionsCollector(sessions))
	h.Add("sshmon", metrics.SSHMonitor(monitor))
	return h
}
