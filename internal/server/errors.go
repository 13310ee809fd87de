package server

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/sipht/sipht/internal/cfg"
	"github.com/sipht/sipht/internal/script"
)

// UnknownModuleError is a loadmodule of a module sipht does not have.
type UnknownModuleError struct{ Name string }

func (e *UnknownModuleError) Error() string { return "unknown module " + e.Name }

// UnknownParamError is a modparam a loaded module does not declare.
type UnknownParamError struct{ Module, Param string }

func (e *UnknownParamError) Error() string {
	return fmt.Sprintf("module %s has no parameter %s", e.Module, e.Param)
}

// Unsupported sorts the errors of a failed Load into what sipht lacks
// (modules, module parameters, functions, pseudo-variables,
// transformations) and everything else, so that `sipht -c` on a Kamailio
// config says exactly what is unsupported.
type Unsupported struct {
	Modules []string
	Params  []string // "module.param"
	Script  script.Unsupported
}

// Summarize classifies err (as returned by Load).
func Summarize(err error) Unsupported {
	var u Unsupported
	var rest []error
	mods, params := map[string]bool{}, map[string]bool{}
	for _, e := range cfg.Errors(err) {
		var um *UnknownModuleError
		var up *UnknownParamError
		switch {
		case errors.As(e, &um):
			mods[um.Name] = true
		case errors.As(e, &up):
			params[up.Module+"."+up.Param] = true
		default:
			rest = append(rest, e)
		}
	}
	u.Modules, u.Params = sortedKeys(mods), sortedKeys(params)
	u.Script = script.Summarize(cfg.ErrorList(rest))
	return u
}

// Other returns the errors that are not about something sipht lacks:
// syntax, types, bad values.
func (u Unsupported) Other() []error { return u.Script.Other }

// String renders the summary, one category per line; "" when nothing is
// unsupported.
func (u Unsupported) String() string {
	var b strings.Builder
	if len(u.Modules) > 0 {
		fmt.Fprintf(&b, "unsupported modules: %s\n", strings.Join(u.Modules, ", "))
	}
	if len(u.Params) > 0 {
		fmt.Fprintf(&b, "unsupported module parameters: %s\n", strings.Join(u.Params, ", "))
	}
	list := func(what string, m map[string]int) {
		if len(m) > 0 {
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			fmt.Fprintf(&b, "unsupported %s: %s\n", what, strings.Join(keys, ", "))
		}
	}
	list("functions", u.Script.Functions)
	list("pseudo-variables", u.Script.PVs)
	list("transformations", u.Script.Transforms)
	if n := len(u.Script.Other); n > 0 {
		fmt.Fprintf(&b, "other errors: %d\n", n)
	}
	return b.String()
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
