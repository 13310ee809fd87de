package scripttest

import (
	"testing"

	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipio"
)

// RunRequestRoute is the loop of the route benchmarks: it runs p's
// request_route on msg b.N times, with the timer reset first and
// allocations reported.
func RunRequestRoute(b *testing.B, p *script.Program, msg *sipio.Msg) {
	r := p.RequestRoute()
	c := p.NewCtx()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Reset(msg)
		r.Run(c)
	}
}
