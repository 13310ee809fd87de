package htable

import (
	"errors"
	"sync"

	ht "github.com/sipht/sipht/htable"
	"github.com/sipht/sipht/internal/script"
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
	c.Reset(nil)
	r.Run(c)
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
			c.Reset(nil)
			rec := m.recordSlot.Get(c)
			rec.item = &it
			r.Run(c)
			rec.item = nil
		})
	}
}
