package module

import (
	"context"
	"log/slog"

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
}

// Path resolves a path from the config against the working directory.
func (h *Host) Path(p string) string { return h.Core.Path(p) }
