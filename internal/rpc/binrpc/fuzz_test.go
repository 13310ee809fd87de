package binrpc

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/sipht/sipht/internal/rpc/spool"
)

func fuzzSeeds(f *testing.F) {
	f.Add(unhex(f, `a1 03 11 61 9b 25 0d 91 0c "htable.dump" 00 21 "t" 00`))
	f.Add(unhex(f, dumpReplyCapture))
	f.Add(unhex(f, `a1 03 18 12 34 56 78 91 0c "htable.sets" 00 21 "t" 00 31 "15" 00 21 "x" 00`))
	f.Add(unhex(f, `a1 03 15 00 00 00 01 91 0c "htable.seti" 00 21 "t" 00 41 "neg" 00 40 ff ff ff fb`))
	f.Add(unhex(f, `a1 33 27 61 9b 25 0d 20 01 f4 91 22 "Key name doesn't exist in htable." 00`))
	f.Add(unhex(f, `a1 0f ff ff ff ff 00 00 00 01 91 0c "htable.dump" 00`)) // huge length
	f.Add(unhex(f, `a1 03 05 01 91 0c "ht"`))                               // truncated string
	f.Add(unhex(f, `a1 03 06 01 03 55 "a" 00 03 83`))                       // struct param
	f.Add(unhex(f, `a1 03 03 01 f2 ff ff`))                                 // double with 15 bytes
	f.Add(unhex(f, `a1 03 02 01 98 ff`))                                    // length of length
	f.Add([]byte{})
	f.Add([]byte{0xa1})
}

// FuzzDecode feeds arbitrary packets to the header parser, the request
// decoder and the reply decoder in both buffer and stream mode: none may
// panic, and both decoder modes must agree record by record.
func FuzzDecode(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		h, n, err := ParseHeader(pkt)
		body := pkt
		if err == nil {
			body = pkt[n:]
			if int64(h.Len) < int64(len(body)) {
				body = body[:h.Len]
			}
		}
		if req, err := DecodeRequest(body); err == nil && req.Method == "" && len(body) == 0 {
			t.Fatal("empty body decoded as a request")
		}
		for _, smode := range []bool{false, true} {
			a := NewDecoder(body, smode)
			b := NewStreamDecoder(bufio.NewReader(bytes.NewReader(body)), int64(len(body)), smode)
			b.MaxValue = 1 << 16
			for i := 0; i < 1<<16; i++ {
				ra, ea := a.Next()
				rb, eb := b.Next()
				if (ea == nil) != (eb == nil) {
					t.Fatalf("record %d: buffer err %v, stream err %v", i, ea, eb)
				}
				if ea != nil {
					break
				}
				if ra.Type != rb.Type || ra.Int != rb.Int || ra.End != rb.End || ra.Named != rb.Named ||
					!bytes.Equal(ra.Name, rb.Name) || !bytes.Equal(ra.Str, rb.Str) ||
					(ra.Double != rb.Double && ra.Double == ra.Double) {
					t.Fatalf("record %d differs: %+v / %+v", i, ra, rb)
				}
				if a.InStruct != b.InStruct || a.InArray != b.InArray {
					t.Fatalf("depths differ")
				}
			}
		}
	})
}

// FuzzServe runs arbitrary request bodies through the server's request
// processing with the core and fake htable methods: it must never panic
// and must always answer a well-formed reply or fault packet.
func FuzzServe(f *testing.F) {
	fuzzSeeds(f)
	s, _ := startServer(f, testRegistry(f), Options{})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		body := pkt
		if _, n, err := ParseHeader(pkt); err == nil {
			body = pkt[n:]
		}
		var out bytes.Buffer
		s.process(0x1234, body, 1<<20, func(p []byte, sp *spool.Buffer) error {
			out.Write(p)
			if sp != nil {
				sp.WriteTo(&out)
			}
			return nil
		})
		h, hn, err := ParseHeader(out.Bytes())
		if err != nil || h.Cookie != 0x1234 || int(h.Len) != out.Len()-hn {
			t.Fatalf("bad reply packet %x: %v", out.Bytes(), err)
		}
		d := NewDecoder(out.Bytes()[hn:], true)
		for {
			_, err := d.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("reply does not decode: %v\n%x", err, out.Bytes())
			}
		}
		if d.InStruct != 0 || d.InArray != 0 {
			t.Fatalf("unbalanced reply %x", out.Bytes())
		}
	})
}
