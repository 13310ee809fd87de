package module

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipht/sipht/internal/core"
	"github.com/sipht/sipht/internal/rpc"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipio"
)

// Host is what the server gives a module during its lifecycle: the logger,
// the core settings, the registries it fills, and access to the other loaded
// modules. Program and SIP are nil during Init and set before Start.
type Host struct {
	// Name is the module's name.
	Name string
	// Log is the module's logger (already tagged with the module name).
	Log *slog.Logger
	// ScriptLog is the logger for what the routing script itself writes
	// (xlog, log()): its records are tagged "<script>" as Kamailio's are.
	ScriptLog *slog.Logger
	// Core holds the config's global parameters.
	Core *core.Params
	// Script is where Init declares functions, pseudo-variables,
	// transformations and core keywords.
	Script *script.Registry
	// RPC is where Init declares management methods.
	RPC *rpc.Registry
	// Metrics is where modules register their Prometheus collectors.
	Metrics prometheus.Registerer
	// Gatherer reads every metric registered in Metrics (and the server's
	// own): what /metrics serves (xhttp_prom's prom_dispatch).
	Gatherer prometheus.Gatherer
	// Loaded returns another loaded module by name, e.g. htable asking for
	// dmq when enable_dmq is set.
	Loaded func(name string) (Module, bool)

	// Program is the compiled script (set before Start): modules look up
	// their event routes here (Program.EventRoute("htable:mod-init")).
	Program *script.Program
	// SIP is the SIP transport (set before Start; nil for `sipht -c`).
	SIP *sipio.Server
	// Go runs fn in a goroutine that the server waits for on shutdown; the
	// context is cancelled when the server stops.
	Go func(fn func(ctx context.Context))
	// Exec runs fn on one of the SIP worker goroutines with that worker's
	// script context, Reset for msg (nil for none; msg.Worker is set), and
	// waits until fn returned (usable from Start on). Kamailio runs input
	// that is not SIP, such as xhttp requests, in its SIP worker processes;
	// this is the same: the routes see the workers' $var and per-worker
	// module state. fn must not block for long (it holds a SIP worker),
	// and Exec must not be called from a worker. Errors: the transport is
	// not running (sipio.ErrNotStarted, sipio.ErrServerClosed) or ctx ended.
	Exec func(ctx context.Context, msg *sipio.Msg, fn func(c *script.Ctx)) error
	// AddFilter installs a pre-parse filter (see sipio.Filter): it runs on
	// the socket read goroutine for every UDP datagram, every framed TCP
	// message and every accepted TCP connection, before anything is parsed
	// or queued, and returning false drops the message (counted in the
	// transport's "filtered" drops; a dropped TCP connection is closed).
	// Filters run in the order they were added; the first false wins.
	//
	// A filter must be cheap (it runs once per datagram, also under a
	// flood), must never block (a blocked reader stops reading its socket)
	// and must be safe for concurrent use by several readers. A filter that
	// panics does not stop the reader: the panic is logged and the message
	// passes. Filters can be added during Init only (the transport is
	// built before Start); later calls return an error.
	AddFilter func(f sipio.Filter) error
}

// Rundir returns the runtime directory (core parameter rundir, resolved
// against the working directory), creating it with mode 0700 if it does not
// exist, as Kamailio does at start-up (one level: its parent must exist).
// Modules call it from Start, before putting sockets or FIFOs there.
func (h *Host) Rundir() (string, error) {
	dir := h.Path(h.Core.Rundir)
	if dir == "" {
		dir = "."
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return dir, fmt.Errorf("create runtime directory %s (core parameter rundir): %w", dir, err)
	}
	return dir, nil
}

// Path resolves a path from the config against the working directory.
func (h *Host) Path(p string) string { return h.Core.Path(p) }
