package script_test

import (
	"io"
	"strconv"
	"testing"

	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/script/scripttest"
)

const seedConfig = `#!KAMAILIO
loadmodule "htable.so"
loadmodule "xlog.so"
modparam("htable", "htable", "MessageCount=>size=12;initval=0")
request_route {
	$sht(MessageCount=>$si) = $sht(MessageCount=>$si) + 1;
	xlog("MessageCount is $sht(MessageCount=>$si)\n");
}
`

// BenchmarkSeedRoute runs the seed tutorial's request_route on a parsed
// message: a $sht read and write keyed by $si, an addition and an xlog
// formatted into a reused buffer written to io.Discard (test doubles shaped
// like the real modules).
func BenchmarkSeedRoute(b *testing.B) {
	env := scripttest.NewEnv()
	env.SetOutput(io.Discard)
	p, err := env.Load(seedConfig)
	if err != nil {
		b.Fatal(err)
	}
	msg, err := scripttest.NewMsg()
	if err != nil {
		b.Fatal(err)
	}
	scripttest.RunRequestRoute(b, p, msg)
	b.StopTimer()
	if v := env.Tables.Table("MessageCount").Get([]byte("127.0.0.1")); v.AsInt() != int64(b.N) {
		b.Fatalf("counter = %v, want %d", v, b.N)
	}
}

// BenchmarkSeedRouteHandWritten does the same work in plain Go on the same
// table double: the floor the compiled script is compared with.
func BenchmarkSeedRouteHandWritten(b *testing.B) {
	env := scripttest.NewEnv()
	if err := env.Tables.Define("MessageCount=>size=12;initval=0"); err != nil {
		b.Fatal(err)
	}
	t := env.Tables.Table("MessageCount")
	buf := make([]byte, 0, 256)
	key := make([]byte, 0, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		key = append(key[:0], scripttest.SourceIP...)
		v := t.Get(key)
		t.Set(key, script.Int(v.AsInt()+1))
		buf = append(buf[:0], "MessageCount is "...)
		buf = strconv.AppendInt(buf, t.Get(key).AsInt(), 10)
		buf = append(buf, '\n')
		io.Discard.Write(buf)
	}
}
