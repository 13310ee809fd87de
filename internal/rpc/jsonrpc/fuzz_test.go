package jsonrpc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/sipht/sipht/internal/rpc/spool"
)

func jsonSeeds(f *testing.F) {
	for _, s := range jsonScript {
		if s[0] == '!' {
			s = s[1:]
		}
		f.Add([]byte(s))
	}
	for _, s := range []string{
		``, `{`, `}`, `{"jsonrpc":"2.0"`, `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
		`{"jsonrpc":"2.0","method":"core.echo","params":["\ud83d\ude00","\u00e9\x","\"'{"],"id":"\u0000"}`,
		`{"jsonrpc":"2.0","method":"htable.dump","params":["t"],"id":1e400}`,
		`{"jsonrpc":"2.0","method":"htable.seti","params":["t","k",-1e400],"id":-0}`,
		`{"jsonrpc":"2.0","method":"core.echo","params":{"a":{"b":[1,{"c":null}]},"d":true},"id":[1]}`,
		"{\"reply_name\":\"x\",\"jsonrpc\":\"2.0\",\"method\":\"core.version\"}",
	} {
		f.Add([]byte(s))
	}
}

// FuzzJSONRequest parses arbitrary documents and runs the valid ones
// against the core and fake htable methods: no panic, and for UTF-8 input
// the reply is valid JSON. The FIFO framing reader runs on the same input.
func FuzzJSONRequest(f *testing.F) {
	jsonSeeds(f)
	r, _ := testRegistry(f)
	d := &Dispatcher{Registry: r, Pretty: true}
	dc := &Dispatcher{Registry: r}
	sp := spool.New(1<<20, "", 1<<20)
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, _, _ := ReadDocument(bufio.NewReader(bytes.NewReader(data)), 1<<12, nil)
		if len(doc) > len(data) {
			t.Fatal("ReadDocument invented bytes")
		}
		req, err := ParseRequest(data, Limits{MaxDepth: 16, MaxParams: 64})
		if err != nil {
			return
		}
		for _, disp := range []*Dispatcher{d, dc} {
			sp.Reset()
			if _, err := disp.dispatch(context.Background(), req, "fuzz", spoolSink{sp}); err != nil {
				t.Fatalf("dispatch: %v", err)
			}
			out, _ := sp.Bytes()
			if utf8.Valid(data) && !json.Valid(out) {
				t.Fatalf("invalid JSON reply to %q:\n%s", data, out)
			}
		}
	})
}
