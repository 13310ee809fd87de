package server

import (
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"

	"github.com/sipht/sipht/internal/logging"
	"github.com/sipht/sipht/internal/sipio"
)

// namedFilter is a pre-parse filter and the module that added it.
type namedFilter struct {
	module string
	f      sipio.Filter
}

// errFiltersSealed is returned by Host.AddFilter after Init.
var errFiltersSealed = errors.New("server: pre-parse filters can only be added during Init")

func (s *Server) addFilter(module string, f sipio.Filter) error {
	if f == nil {
		return fmt.Errorf("server: module %s: nil filter", module)
	}
	if s.sealed {
		return fmt.Errorf("module %s: %w", module, errFiltersSealed)
	}
	s.filters = append(s.filters, namedFilter{module: module, f: f})
	return nil
}

// filterChain returns the transport's pre-parse filter: nil when no module
// added one (the read loop then pays nothing), else a function that runs
// them in order and recovers from a panicking filter (logged, message
// passes), so that a filter bug cannot stop a socket's read loop.
func (s *Server) filterChain() sipio.Filter {
	if len(s.filters) == 0 {
		return nil
	}
	fs := append([]namedFilter(nil), s.filters...)
	log := s.Log.With(logging.ModuleKey, "<core>")
	var panics atomic.Uint64
	return func(src netip.AddrPort, tp sipio.Transport) (pass bool) {
		i := 0
		defer func() {
			if r := recover(); r != nil {
				pass = true
				// log the 1st, 2nd, 4th, 8th ... panic: a filter that panics
				// on every datagram of a flood must not flood the log
				if n := panics.Add(1); n&(n-1) == 0 {
					log.Error("pre-parse filter panicked; message passed", "module", fs[i].module,
						"panic", fmt.Sprint(r), "source", src.String(), "panics", n)
				}
			}
		}()
		for ; i < len(fs); i++ {
			if !fs[i].f(src, tp) {
				return false
			}
		}
		return true
	}
}
