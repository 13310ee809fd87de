package htable

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultTimerInterval is how often Registry.Run sweeps expired items
// when WithTimerInterval is not given (Kamailio's timer_interval).
const DefaultTimerInterval = 20 * time.Second

// Registry is a collection of named tables (Kamailio's set of htable
// definitions). It rejects duplicate names, finds tables by name without
// locking, and runs the expiry sweeper. It is safe for concurrent use.
type Registry struct {
	mu       sync.Mutex
	state    atomic.Pointer[regState]
	subs     []*subscription
	clock    Clock
	coarse   *coarseClock
	interval time.Duration
}

type regState struct {
	byName map[string]*Table
	order  []*Table // definition order
}

// NewRegistry returns an empty registry. Options: WithClock,
// WithTimerInterval.
func NewRegistry(opts ...Option) *Registry {
	o := options{interval: DefaultTimerInterval}
	for _, f := range opts {
		f(&o)
	}
	r := &Registry{interval: o.interval}
	if o.interval <= 0 {
		r.interval = DefaultTimerInterval
	}
	if o.clock != nil {
		r.clock = o.clock
	} else {
		r.coarse = &coarseClock{}
		r.clock = r.coarse.now
	}
	r.state.Store(&regState{byName: map[string]*Table{}})
	return r
}

// Define parses a definition in Kamailio's syntax (see ParseDef) and adds
// the table.
func (r *Registry) Define(spec string) (*Table, error) {
	d, err := ParseDef(spec)
	if err != nil {
		return nil, err
	}
	return r.Add(d)
}

// Add creates a table from d. A table with the same name is an error.
func (r *Registry) Add(d Def) (*Table, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.state.Load()
	if _, dup := old.byName[d.Name]; dup {
		return nil, fmt.Errorf("htable: table %q defined twice", d.Name)
	}
	t, err := New(d, WithClock(r.clock))
	if err != nil {
		return nil, err
	}
	for _, s := range r.subs {
		t.addSub(s)
	}
	st := &regState{byName: make(map[string]*Table, len(old.byName)+1), order: append(old.order[:len(old.order):len(old.order)], t)}
	for k, v := range old.byName {
		st.byName[k] = v
	}
	st.byName[d.Name] = t
	r.state.Store(st)
	return t, nil
}

// Table returns the table named name, or nil.
func (r *Registry) Table(name string) *Table { return r.state.Load().byName[name] }

// TableBytes is Table with a []byte name; it does not allocate.
func (r *Registry) TableBytes(name []byte) *Table { return r.state.Load().byName[string(name)] }

// Tables returns the tables in Kamailio's listing order (htable.listTables,
// htable.stats): the most recently defined first.
func (r *Registry) Tables() []*Table {
	o := r.state.Load().order
	out := make([]*Table, len(o))
	for i, t := range o {
		out[len(o)-1-i] = t
	}
	return out
}

// Len returns the number of tables.
func (r *Registry) Len() int { return len(r.state.Load().order) }

// Now returns the registry clock's time in Unix seconds.
func (r *Registry) Now() int64 { return r.clock() }

// Subscribe registers fn for the changes of every table, present and
// future (see Subscriber). The returned function cancels it.
func (r *Registry) Subscribe(fn Subscriber) (cancel func()) {
	s := &subscription{fn: fn}
	r.mu.Lock()
	r.subs = append(r.subs, s)
	for _, t := range r.state.Load().order {
		t.addSub(s)
	}
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		for i, x := range r.subs {
			if x == s {
				r.subs = append(r.subs[:i:i], r.subs[i+1:]...)
				break
			}
		}
		for _, t := range r.state.Load().order {
			t.removeSub(s)
		}
	}
}

// Sweep sweeps every table with autoexpire once and returns the number of
// items removed.
func (r *Registry) Sweep() int {
	n := 0
	for _, t := range r.state.Load().order {
		n += t.Sweep()
	}
	return n
}

// Run sweeps expired items every timer interval until ctx is done, and
// meanwhile keeps the registry's coarse clock (if it uses one) ticking
// once a second, which saves reading the system time on every table
// operation. It returns ctx.Err().
func (r *Registry) Run(ctx context.Context) error {
	if r.coarse != nil {
		go r.coarse.run(ctx)
	}
	tk := time.NewTicker(r.interval)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tk.C:
			r.Sweep()
		}
	}
}

// coarseClock is a Clock updated once a second by run; while run is not
// active it reads the system time.
type coarseClock struct {
	sec     atomic.Int64
	running atomic.Int32
}

func (c *coarseClock) now() int64 {
	if c.running.Load() > 0 {
		return c.sec.Load()
	}
	return time.Now().Unix()
}

func (c *coarseClock) run(ctx context.Context) {
	c.sec.Store(time.Now().Unix())
	c.running.Add(1)
	defer c.running.Add(-1)
	tm := time.NewTimer(untilNextSecond())
	defer tm.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tm.C:
			c.sec.Store(time.Now().Unix())
			tm.Reset(untilNextSecond())
		}
	}
}

// untilNextSecond returns the time to sleep until just after the next
// wall-clock second.
func untilNextSecond() time.Duration {
	return time.Second - time.Duration(time.Now().Nanosecond()) + time.Millisecond
}
