// Package procs adapts the Go scheduler's parallelism (GOMAXPROCS) to the
// load of a process whose work arrives as many small messages.
//
// With several Ps, every datagram that arrives at an idle process wakes
// one goroutine to read it and another to handle it, and the runtime
// wakes spare OS threads to run them, which spin looking for work before
// they sleep again. At a few thousand SIP requests a second that costs
// more CPU than the requests themselves: measured with sipp on the seed
// config, 2 CPUs, 2,000 OPTIONS/s, sipht used 0.64–0.69 CPU seconds per
// 10,000 requests with GOMAXPROCS=1 against 0.89–0.97 with 2 (and 3×
// fewer context switches); at 10,000/s 0.25 against 0.34 (perf stat). One P is
// enough until the process needs more than one core.
//
// A Governor samples the process's CPU time and runs with one P while
// the process uses less than Low of a core over a whole Hold, and with
// the full count as soon as a sample shows more than High of a core, so
// a burst gets every core within one Interval.
package procs

import (
	"context"
	"log/slog"
	"runtime"
	"syscall"
	"time"
)

// Governor switches GOMAXPROCS between 1 and Max by CPU use.
type Governor struct {
	// Max is the parallelism under load (default: GOMAXPROCS when Run
	// starts, which follows the CPU count and container limits).
	Max int
	// Interval between samples (default 100 ms).
	Interval time.Duration
	// High: a sample above this many cores switches to Max (default
	// 0.75).
	High float64
	// Low: samples below this many cores for all of Hold switch to one
	// P (default 0.45).
	Low float64
	// Hold is how long the load must stay under Low (default 2 s).
	Hold time.Duration
	// Logger gets a debug line on every switch (default: none).
	Logger *slog.Logger

	// for tests
	cpu    func() time.Duration
	now    func() time.Time
	setMax func(int) int
}

// Run governs GOMAXPROCS until ctx is cancelled, then restores Max. It
// does nothing when Max is 1.
func (g *Governor) Run(ctx context.Context) {
	g.defaults()
	if g.Max <= 1 {
		return
	}
	t := time.NewTicker(g.Interval)
	defer t.Stop()
	s := g.start()
	defer func() { s.set(g.Max) }()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.step()
		}
	}
}

func (g *Governor) defaults() {
	if g.setMax == nil {
		g.setMax = runtime.GOMAXPROCS
	}
	if g.cpu == nil {
		g.cpu = processCPU
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.Max <= 0 {
		g.Max = g.setMax(0)
	}
	if g.Interval <= 0 {
		g.Interval = 100 * time.Millisecond
	}
	if g.High <= 0 {
		g.High = 0.75
	}
	if g.Low <= 0 {
		g.Low = 0.45
	}
	if g.Hold <= 0 {
		g.Hold = 2 * time.Second
	}
	if g.Logger == nil {
		g.Logger = slog.New(slog.DiscardHandler)
	}
}

// state is one Run's view: the last sample and since when it was quiet.
type state struct {
	g        *Governor
	cur      int
	lastCPU  time.Duration
	lastAt   time.Time
	quietFor time.Duration
}

func (g *Governor) start() *state {
	return &state{g: g, cur: g.setMax(0), lastCPU: g.cpu(), lastAt: g.now()}
}

// step takes one sample and switches when the rules say so.
func (s *state) step() {
	g := s.g
	cpu, at := g.cpu(), g.now()
	wall := at.Sub(s.lastAt)
	used := cpu - s.lastCPU
	s.lastCPU, s.lastAt = cpu, at
	if wall <= 0 {
		return
	}
	cores := float64(used) / float64(wall)
	switch {
	case cores > g.High:
		s.quietFor = 0
		if s.cur != g.Max {
			g.Logger.Debug("procs: load, using every P", "cores", cores, "gomaxprocs", g.Max)
			s.set(g.Max)
		}
	case cores < g.Low:
		s.quietFor += wall
		if s.cur != 1 && s.quietFor >= g.Hold {
			g.Logger.Debug("procs: quiet, using one P", "cores", cores)
			s.set(1)
		}
	default:
		s.quietFor = 0
	}
}

func (s *state) set(n int) {
	if s.cur != n {
		s.g.setMax(n)
		s.cur = n
	}
}

// processCPU is the user and system CPU time of the whole process.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
