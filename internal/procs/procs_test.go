package procs

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// fake is a process whose CPU use per sample the test sets.
type fake struct {
	now   time.Time
	cpu   time.Duration
	procs int
	sets  []int
}

func (f *fake) governor() *Governor {
	g := &Governor{
		Max: 4,
		cpu: func() time.Duration { return f.cpu },
		now: func() time.Time { return f.now },
		setMax: func(n int) int {
			old := f.procs
			if n > 0 {
				f.procs = n
				f.sets = append(f.sets, n)
			}
			return old
		},
	}
	g.defaults()
	return g
}

// run feeds samples of the given load (in cores), one per Interval.
func (f *fake) run(s *state, cores ...float64) {
	for _, c := range cores {
		f.now = f.now.Add(100 * time.Millisecond)
		f.cpu += time.Duration(c * float64(100*time.Millisecond))
		s.step()
	}
}

func repeat(c float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = c
	}
	return out
}

func TestGovernor(t *testing.T) {
	for _, tc := range []struct {
		name  string
		loads []float64
		want  int // GOMAXPROCS after the samples
	}{
		{"starts at max", nil, 4},
		{"quiet for less than Hold keeps max", repeat(0.1, 19), 4},
		{"quiet for Hold drops to one", repeat(0.1, 20), 1},
		{"a middle sample resets the quiet time", append(append(repeat(0.1, 15), 0.5), repeat(0.1, 15)...), 4},
		{"load after quiet restores max at once", append(repeat(0.1, 20), 0.9), 4},
		{"middle load at one P stays at one", append(repeat(0.1, 20), repeat(0.6, 50)...), 1},
		{"busy stays at max", repeat(1.5, 50), 4},
		{"back and forth", append(append(repeat(0.05, 25), repeat(0.9, 5)...), repeat(0.05, 25)...), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fake{now: time.Unix(1000, 0), procs: 4}
			s := f.governor().start()
			f.run(s, tc.loads...)
			if f.procs != tc.want {
				t.Errorf("GOMAXPROCS = %d, want %d (switches %v)", f.procs, tc.want, f.sets)
			}
		})
	}
}

func TestGovernorSwitchesOnlyOnChange(t *testing.T) {
	f := &fake{now: time.Unix(1000, 0), procs: 4}
	s := f.governor().start()
	f.run(s, repeat(0.1, 100)...)
	f.run(s, repeat(2, 10)...)
	if want := []int{1, 4}; len(f.sets) != 2 || f.sets[0] != want[0] || f.sets[1] != want[1] {
		t.Errorf("switches %v, want %v", f.sets, want)
	}
}

// Run on the real runtime restores GOMAXPROCS when it stops.
func TestRunRestores(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	g := &Governor{Max: before, Interval: time.Millisecond, Hold: time.Millisecond}
	go func() { g.Run(ctx); close(done) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	<-done
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Errorf("GOMAXPROCS after Run = %d, want %d", got, before)
	}
}
