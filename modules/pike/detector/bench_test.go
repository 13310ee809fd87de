package detector

import (
	"net/netip"
	"testing"
)

// go test ./modules/pike/detector -run '^$' -bench . -benchmem

// BenchmarkCheck: one hit from a source whose leaf exists (the common case
// of pike_check_req), from distinct spoofed sources on a full tree
// (allocation and eviction), and from an allowed source.
func BenchmarkCheck(b *testing.B) {
	b.Run("known_source", func(b *testing.B) {
		d, _ := newTest(2, 1<<15, 120, DefaultMaxNodes)
		a := ip("192.0.2.1")
		for i := 0; i < 10; i++ {
			d.Check(a)
		}
		b.ReportAllocs()
		for b.Loop() {
			d.Check(a)
		}
	})
	b.Run("spoofed_sources_full_tree", func(b *testing.B) {
		d, _ := newTest(2, 30, 120, 50_000)
		i := uint32(0)
		next := func() netip.Addr {
			i += 2654435761 // distinct, scattered
			return netip.AddrFrom4([4]byte{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)})
		}
		for d.Stats().Nodes < 50_000 {
			d.Check(next())
		}
		b.ReportAllocs()
		for b.Loop() {
			d.Check(next())
		}
	})
	b.Run("allowed_source", func(b *testing.B) {
		d, _ := newTest(2, 30, 120, DefaultMaxNodes, "10.0.0.0/8", "192.0.2.0/24")
		a := ip("192.0.2.1")
		b.ReportAllocs()
		for b.Loop() {
			d.Check(a)
		}
	})
	b.Run("known_source_parallel", func(b *testing.B) {
		d, _ := newTest(2, 1<<15, 120, DefaultMaxNodes)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			a := ip("192.0.2.1")
			for pb.Next() {
				d.Check(a)
			}
		})
	})
}

// BenchmarkDropHot: the pre-parse filter's question, when nothing is
// blocked, for a source that is not blocked while others are, and for a
// blocked one.
func BenchmarkDropHot(b *testing.B) {
	d, _ := newTest(2, 3, 120, DefaultMaxNodes)
	a := ip("192.0.2.1")
	b.Run("nothing_blocked", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d.DropHot(a)
		}
	})
	for i := 0; i < 100; i++ {
		hits(d, netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}).String(), 8)
	}
	b.Run("not_blocked", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d.DropHot(a)
		}
	})
	hot := ip("198.51.100.7")
	b.Run("blocked", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d.DropHot(hot)
		}
	})
	b.Run("blocked_parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				d.DropHot(hot)
			}
		})
	})
}
