package ctlcli

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/sipht/sipht/internal/rpc"
	"github.com/sipht/sipht/internal/rpc/binrpc"
	"github.com/sipht/sipht/internal/rpc/jsonrpc"
	"github.com/sipht/sipht/internal/rpc/spool"
)

// maxJSONDepth bounds the nesting of a reply converted to JSON.
const maxJSONDepth = 1000

type jframe struct {
	pending bool // a struct whose kind (object/array) is not known yet
	named   bool
	name    string
	array   bool // a real BINRPC array (type 4)
}

// jsonConverter turns BINRPC reply records into JSON: a struct whose first
// member is named becomes an object, one whose first member is unnamed an
// array (BINRPC sends the RPC API's arrays as structs), an empty one {}.
type jsonConverter struct {
	vw    *jsonrpc.ValueWriter
	stack []jframe
	start func() // called before each top-level value
}

func (c *jsonConverter) resolve(childNamed bool) error {
	if len(c.stack) == 0 {
		return nil
	}
	top := &c.stack[len(c.stack)-1]
	if !top.pending {
		return nil
	}
	top.pending = false
	if len(c.stack) == 1 && c.start != nil {
		c.start()
	}
	return c.vw.Open(top.named, top.name, !childNamed, 0)
}

func (c *jsonConverter) record(r binrpc.Record) error {
	switch {
	case r.Type == binrpc.RecStruct && !r.End, r.Type == binrpc.RecArray && !r.End:
		if err := c.resolve(r.Named); err != nil {
			return err
		}
		if len(c.stack) >= maxJSONDepth {
			return fmt.Errorf("reply nested deeper than %d", maxJSONDepth)
		}
		f := jframe{pending: r.Type == binrpc.RecStruct, named: r.Named, name: string(r.Name), array: r.Type == binrpc.RecArray}
		c.stack = append(c.stack, f)
		if f.array {
			if len(c.stack) == 1 && c.start != nil {
				c.start()
			}
			return c.vw.Open(r.Named, f.name, true, 0)
		}
		return nil
	case r.End:
		if len(c.stack) == 0 {
			return errors.New("unbalanced struct end")
		}
		top := c.stack[len(c.stack)-1]
		if top.pending {
			if len(c.stack) == 1 && c.start != nil {
				c.start()
			}
			if err := c.vw.Open(top.named, top.name, false, 0); err != nil {
				return err
			}
		}
		c.stack = c.stack[:len(c.stack)-1]
		return c.vw.Close()
	}
	if err := c.resolve(r.Named); err != nil {
		return err
	}
	var v rpc.Value
	switch r.Type {
	case binrpc.RecInt:
		v = rpc.Int(int64(r.Int))
	case binrpc.RecDouble:
		v = rpc.Double(r.Double)
	default:
		v = rpc.Str(string(cstr(r.Str)))
	}
	if len(c.stack) == 0 && c.start != nil {
		c.start()
	}
	return c.vw.Value(r.Named, string(r.Name), v, 0)
}

// printJSON writes a reply as JSON: with array true the top-level values
// form a JSON array (the JSON-RPC result of a RET_ARRAY method), otherwise
// the last top-level value is printed ({} when there is none), as
// jsonrpcs' result. The reply is streamed: only the current value of a
// non-array reply is held, in memory or a temporary file.
func printJSON(out *bufio.Writer, src recordSource, array bool) error {
	if array {
		out.WriteByte('[')
		vw := jsonrpc.NewValueWriter(out, true)
		vw.PushArray(0)
		c := &jsonConverter{vw: vw}
		if err := convertAll(c, src); err != nil {
			return err
		}
		out.WriteString("]\n")
		return nil
	}
	sp := spool.New(1<<20, "", 0)
	defer sp.Close()
	bw := bufio.NewWriterSize(sp, 32<<10)
	vw := jsonrpc.NewValueWriter(bw, true)
	has := false
	c := &jsonConverter{vw: vw, start: func() {
		bw.Reset(sp)
		sp.Reset()
		vw.Reset(bw)
		has = true
	}}
	if err := convertAll(c, src); err != nil {
		return err
	}
	if !has {
		out.WriteString("{\n}\n")
		return nil
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if _, err := sp.WriteTo(out); err != nil {
		return err
	}
	return out.WriteByte('\n')
}

func convertAll(c *jsonConverter, src recordSource) error {
	n := 0
	for {
		r, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("while parsing the record %d: %w", n, err)
		}
		n++
		if err := c.record(r); err != nil {
			return err
		}
	}
	for len(c.stack) > 0 { // a truncated reply: close what is open
		if err := c.record(binrpc.Record{Type: binrpc.RecStruct, End: true}); err != nil {
			return err
		}
	}
	return nil
}
