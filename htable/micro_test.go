package htable

import (
	"hash/maphash"
	"testing"
)

var sinkU uint32

func BenchmarkMicroHash(b *testing.B) {
	k := []byte("10.123.45.67")
	for i := 0; i < b.N; i++ {
		sinkU += Hash(k)
	}
}

func BenchmarkMicroH2(b *testing.B) {
	k := []byte("10.123.45.67")
	s := maphash.MakeSeed()
	for i := 0; i < b.N; i++ {
		sinkU += h2(s, k)
	}
}

func BenchmarkMicroIncHot(b *testing.B) {
	d := NewDef("m")
	d.AutoExpire = 300
	d.HasInitVal = true
	tb, _ := New(d, WithClock(func() int64 { return 1700000000 }))
	k := []byte("10.123.45.67")
	for i := 0; i < b.N; i++ {
		tb.AddBytes(k, 1)
	}
}
