package module

import (
	"log/slog"
)

// Host is what the server gives a module during its lifecycle: the logger,
// the registries it fills, and access to the other loaded modules. Fields
// that only exist once the server runs (the SIP transport, the compiled
// script) are nil during Init.
type Host struct {
	// Log is the module's logger (already tagged with the module name).
	Log *slog.Logger
	// Loaded returns another loaded module by name, e.g. htable asking for
	// dmq when enable_dmq is set.
	Loaded func(name string) (Module, bool)
}
