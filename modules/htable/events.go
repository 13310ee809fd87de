package htable

import (
	"errors"
	"fmt"
	"sync"

	ht "github.com/sipht/sipht/htable"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipio"
)

// Event route names.
const (
	modInitRoute  = "htable:mod-init"
	expiredPrefix = "htable:expired:"
)

// runModInit runs event_route[htable:mod-init] once, on its own context;
// a drop there aborts start-up (as in Kamailio).
func (m *Module) runModInit(p *script.Program) error {
	r := p.EventRoute(modInitRoute)
	if r == nil {
		return nil
	}
	c := p.NewCtx()
	c.Reset(sipio.FakedMsg())
	if err := runSafely(r, c); err != nil {
		return err
	}
	if c.Dropped() {
		return errors.New("exit due to 'drop' in event_route[htable:mod-init]")
	}
	return nil
}

// armExpiredRoutes installs, for every table with an
// event_route[htable:expired:<table>], an expired-item handler that runs
// the route with $shtrecord(key) and $shtrecord(value) set. The handler
// runs in the sweeper goroutine on a context of its own.
func (m *Module) armExpiredRoutes(p *script.Program) {
	for _, name := range p.EventRouteNames() {
		if len(name) <= len(expiredPrefix) || name[:len(expiredPrefix)] != expiredPrefix {
			continue
		}
		tname := name[len(expiredPrefix):]
		t := m.table(tname)
		if t == nil {
			m.log.Warn("event_route for an undefined htable is never run", "route", name)
			continue
		}
		if t.Def().AutoExpire == 0 {
			m.log.Warn("event_route for an htable without autoexpire is never run", "route", name)
		}
		r := p.EventRoute(name)
		var mu sync.Mutex
		c := p.NewCtx()
		t.OnExpired(func(it ht.Item) {
			mu.Lock()
			defer mu.Unlock()
			c.Reset(sipio.FakedMsg())
			rec := m.recordSlot.Get(c)
			rec.item = &it
			if err := runSafely(r, c); err != nil {
				m.log.Error("event_route failed", "route", name, "err", err)
			}
			rec.item = nil
		})
	}
}

// runSafely runs an event route outside the SIP workers (which recover
// from a panicking function themselves): a bug in a module function must
// not take the sweeper, or the server, down.
func runSafely(r *script.Route, c *script.Ctx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in the route: %v", p)
		}
	}()
	r.Run(c)
	return nil
}
