package script

import (
	"log/slog"

	"github.com/sipht/sipht/internal/sipio"
)

// run-state flags (Kamailio's EXIT_R_F, RETURN_R_F, BREAK_R_F, DROP_R_F)
const (
	runExit uint8 = 1 << iota
	runReturn
	runBreak
	runDrop
)

// Ctx is the state of one script execution: the message, its flags, $rc,
// the per-message $avp lists, module per-message data and scratch
// buffers; plus the per-worker $var storage.
//
// A Ctx is not safe for concurrent use. Each worker goroutine owns one
// Ctx (Program.NewCtx) and calls Reset before each message. $var values
// live in the Ctx and survive Reset: like each Kamailio process has its own
// $var set, each sipht worker has its own. Scripts must initialise $var
// before use, as with Kamailio.
type Ctx struct {
	// Msg is the message being processed; nil in event routes.
	Msg *sipio.Msg
	// Log receives the script's runtime errors; never nil.
	Log *slog.Logger

	prog      *Program
	route     RouteType
	routeName string
	flags     uint64
	rc        int
	run       uint8
	dropped   bool
	err       error
	depth     int
	gen       uint64

	vars  []Value // $var, per worker
	vnull []Value // $vn, per worker
	avps  avpStore
	slots []slotEntry
	bufs  [][]byte
}

// NewCtx returns a context for one worker. Its $var storage lives as long
// as the Ctx.
func (p *Program) NewCtx() *Ctx {
	c := &Ctx{
		prog:  p,
		Log:   p.log,
		vars:  make([]Value, len(p.varNames)),
		vnull: make([]Value, len(p.vnNames)),
		slots: make([]slotEntry, p.reg.nslots),
	}
	for i := range c.vars {
		c.vars[i] = Int(0)
	}
	c.avps.lists = make([][]Value, len(p.avpNames))
	return c
}

// Reset prepares the Ctx for a new message (msg may be nil): message flags,
// $rc, the run state, $avp lists and module slot data are cleared; $var and
// $vn keep their values.
func (c *Ctx) Reset(msg *sipio.Msg) {
	c.Msg = msg
	c.flags = 0
	c.rc = 0
	c.run = 0
	c.dropped = false
	c.err = nil
	c.depth = 0
	c.gen++
	c.avps.reset()
}

// Program returns the program the Ctx runs.
func (c *Ctx) Program() *Program { return c.prog }

// RouteType returns the type of the top route being run.
func (c *Ctx) RouteType() RouteType { return c.route }

// RouteName returns the name of the top route being run ("" for
// request_route and reply_route).
func (c *Ctx) RouteName() string { return c.routeName }

// RC returns the last return code ($rc, $retcode, $?).
func (c *Ctx) RC() int { return c.rc }

// SetRC sets $rc.
func (c *Ctx) SetRC(rc int) { c.rc = rc }

// Dropped reports whether the script executed drop.
func (c *Ctx) Dropped() bool { return c.dropped }

// Exited reports whether the last run ended with exit, drop, a function
// returning 0 or return 0.
func (c *Ctx) Exited() bool { return c.run&runExit != 0 }

// SetFlag sets message flag n (0..63; Kamailio scripts use 0..31).
func (c *Ctx) SetFlag(n int) {
	if n >= 0 && n < 64 {
		c.flags |= 1 << uint(n)
	}
}

// ResetFlag clears message flag n.
func (c *Ctx) ResetFlag(n int) {
	if n >= 0 && n < 64 {
		c.flags &^= 1 << uint(n)
	}
}

// IsFlagSet reports whether message flag n is set.
func (c *Ctx) IsFlagSet(n int) bool {
	return n >= 0 && n < 64 && c.flags&(1<<uint(n)) != 0
}

// Flags returns the message flags as a bit set.
func (c *Ctx) Flags() uint64 { return c.flags }

// SetFlags replaces the message flags (e.g. restored from a transaction).
func (c *Ctx) SetFlags(f uint64) { c.flags = f }

// GetBuf returns an empty scratch buffer owned by the Ctx; give it back with
// PutBuf when done. Buffers are reused across messages, so formatting into
// them does not allocate once they have grown.
func (c *Ctx) GetBuf() []byte {
	if n := len(c.bufs); n > 0 {
		b := c.bufs[n-1]
		c.bufs = c.bufs[:n-1]
		return b[:0]
	}
	return make([]byte, 0, 256)
}

// PutBuf returns a buffer obtained from GetBuf.
func (c *Ctx) PutBuf(b []byte) {
	if cap(b) > 64<<10 {
		return // do not keep huge buffers
	}
	c.bufs = append(c.bufs, b[:0])
}

// Errorf records a runtime error of the expression being evaluated: the
// statement that evaluates it logs the error and skips (an assignment is
// not done, an if condition is false), as Kamailio does.
func (c *Ctx) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// avpStore holds the per-message AVP stacks (the newest value last).
// Names known at compile time are indexed; names computed at run time
// ($avp($var(n))) go through dyn, which is bounded.
type avpStore struct {
	lists    [][]Value
	dyn      map[string]int
	dynLists [][]Value
}

const maxDynAVPNames = 256

func (a *avpStore) reset() {
	for i := range a.lists {
		a.lists[i] = a.lists[i][:0]
	}
	if len(a.dyn) > maxDynAVPNames {
		a.dyn = nil
		a.dynLists = nil
		return
	}
	for i := range a.dynLists {
		a.dynLists[i] = a.dynLists[i][:0]
	}
}

// dynList returns the stack for a run-time name (nil if absent and !create).
func (a *avpStore) dynList(name string, create bool) *[]Value {
	if i, ok := a.dyn[name]; ok {
		return &a.dynLists[i]
	}
	if !create {
		return nil
	}
	if a.dyn == nil {
		a.dyn = map[string]int{}
	}
	a.dyn[name] = len(a.dynLists)
	a.dynLists = append(a.dynLists, nil)
	return &a.dynLists[len(a.dynLists)-1]
}
