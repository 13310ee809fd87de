package binrpc

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/rpc"
	"github.com/sipht/sipht/internal/rpc/rpctest"
	"github.com/sipht/sipht/internal/testutil"
)

// unhex decodes a capture written as hex bytes and "quoted" ASCII runs.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	var out []byte
	for len(s) > 0 {
		s = strings.TrimLeft(s, " \n\t|")
		if s == "" {
			break
		}
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			out = append(out, s[1:1+end]...)
			s = s[end+2:]
			continue
		}
		b, err := hex.DecodeString(s[:2])
		if err != nil {
			t.Fatalf("bad capture near %q", s)
		}
		out = append(out, b...)
		s = s[2:]
	}
	return out
}

// captureTable is the table of fact sheet §1.7.
func captureTable() *rpctest.FakeHTable {
	f := rpctest.NewFakeHTable(rpctest.TableDef{Name: "t", Size: 4}, rpctest.TableDef{Name: "iv", Size: 3, AutoExpire: 100})
	f.SetInt("t", "bob", 42)
	f.SetStr("t", "15", "x")
	f.SetStr("t", "alice", "hello")
	return f
}

func testRegistry(t testing.TB) *rpc.Registry {
	t.Helper()
	r := rpc.NewRegistry()
	if err := rpc.RegisterCore(r, rpc.CoreInfo{Version: "0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if err := captureTable().Register(r); err != nil {
		t.Fatal(err)
	}
	return r
}

func startServer(t testing.TB, r *rpc.Registry, opts Options) (*Server, string) {
	t.Helper()
	path := filepath.Join(testutil.ShortTempDir(t), "ctl")
	opts.Registry = r
	s, err := Listen(context.Background(), "unixs:"+path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// exchange sends raw request bytes and returns the raw reply packet.
func exchange(t testing.TB, path string, req []byte) []byte {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	return readPacket(t, c)
}

func readPacket(t testing.TB, c io.Reader) []byte {
	t.Helper()
	var hb [MaxHeaderSize]byte
	if _, err := io.ReadFull(c, hb[:2]); err != nil {
		t.Fatalf("read header: %v", err)
	}
	n := HeaderLen(hb[1])
	if _, err := io.ReadFull(c, hb[2:n]); err != nil {
		t.Fatal(err)
	}
	h, _, err := ParseHeader(hb[:n])
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, h.Len)
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatal(err)
	}
	return append(hb[:n:n], body...)
}

const dumpReplyCapture = `
a1 13 bb 61 9b 25 0d 03 65 65 6e 74 72 79 00 10
03 55 73 69 7a 65 00 10 01 55 73 6c 6f 74 00 03
03 55 6e 61 6d 65 00 41 62 6f 62 00 65 76 61 6c
75 65 00 10 2a 55 74 79 70 65 00 41 69 6e 74 00
83 83 83 03 65 65 6e 74 72 79 00 10 0a 55 73 69
7a 65 00 10 01 55 73 6c 6f 74 00 03 03 55 6e 61
6d 65 00 31 31 35 00 65 76 61 6c 75 65 00 21 78
00 55 74 79 70 65 00 41 73 74 72 00 83 83 83 03
65 65 6e 74 72 79 00 10 0d 55 73 69 7a 65 00 10
01 55 73 6c 6f 74 00 03 03 55 6e 61 6d 65 00 61
61 6c 69 63 65 00 65 76 61 6c 75 65 00 61 68 65
6c 6c 6f 00 55 74 79 70 65 00 41 73 74 72 00 83
83 83`

// TestCaptureDump replays the §1.7 capture: the exact request bytes kamcmd
// sent must produce the exact 194 reply bytes Kamailio 5.6.3 sent.
func TestCaptureDump(t *testing.T) {
	_, path := startServer(t, testRegistry(t), Options{})
	req := unhex(t, `a1 03 11 | 61 9b 25 0d | 91 0c "htable.dump" 00 | 21 "t" 00`)
	if len(req) != 24 {
		t.Fatalf("request capture is %d bytes", len(req))
	}
	got := exchange(t, path, req)
	want := unhex(t, dumpReplyCapture)
	if len(want) != 194 {
		t.Fatalf("reply capture is %d bytes", len(want))
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("reply differs from the capture\n got %x\nwant %x", got, want)
	}
}

func TestCaptureOthers(t *testing.T) {
	_, path := startServer(t, testRegistry(t), Options{})
	cookie := "61 9b 25 0d"
	req := func(method string, args ...rpc.Value) []byte {
		return AppendRequest(nil, 0x619b250d, method, args)
	}
	cases := []struct {
		name string
		req  []byte
		want string
	}{
		{"get missing key", req("htable.get", rpc.Str("t"), rpc.Str("nokey")),
			`a1 33 27 ` + cookie + ` 20 01 f4 91 22 "Key name doesn't exist in htable." 00`},
		{"get missing table", req("htable.get", rpc.Str("nosuch"), rpc.Str("x")),
			`a1 33 14 ` + cookie + ` 20 01 f4 91 0f "No such htable" 00`},
		{"unknown command", req("no.such"),
			`a1 33 1f ` + cookie + ` 20 01 f4 91 1a "command no.such not found" 00`},
		{"get", req("htable.get", rpc.Str("t"), rpc.Str("alice")),
			`a1 13 3d ` + cookie + ` 03 55 "item" 00 03 55 "name" 00 61 "alice" 00
			65 "value" 00 61 "hello" 00 65 "flags" 00 10 02 75 "expire" 00 61 "NEVER" 00 83 83`},
		{"empty dump", req("htable.dump", rpc.Str("iv")), `a1 13 00 ` + cookie},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := exchange(t, path, tc.req)
			want := unhex(t, tc.want)
			if !bytes.Equal(got, want) {
				t.Fatalf("\n got %x\nwant %x", got, want)
			}
		})
	}
	// htable.stats: the per-table struct of an empty size=3 table
	got := exchange(t, path, req("htable.stats"))
	want := unhex(t, `03 55 "name" 00 31 "iv" 00 65 "slots" 00 10 08 45 "all" 00 00 45 "min" 00 00 45 "max" 00 00 83`)
	if !bytes.Contains(got, want) {
		t.Fatalf("stats reply %x lacks %x", got, want)
	}
}

func TestRequestEncodingCaptures(t *testing.T) {
	// htable.seti t neg -5 and htable.seti t dbl 2.5 (param bytes captured)
	got := AppendRequest(nil, 1, "htable.seti", []rpc.Value{rpc.Str("t"), rpc.Str("neg"), rpc.Int(-5)})
	if want := unhex(t, `21 "t" 00 41 "neg" 00 40 ff ff ff fb`); !bytes.HasSuffix(got, want) {
		t.Fatalf("seti -5: %x", got)
	}
	got = AppendRequest(nil, 1, "htable.seti", []rpc.Value{rpc.Str("t"), rpc.Str("dbl"), rpc.Double(2.5)})
	if want := unhex(t, `22 09 c4`); !bytes.HasSuffix(got, want) {
		t.Fatalf("seti 2.5: %x", got)
	}
	// reconstructed kamcmd htable.sets t s:15 x, cookie 0x12345678
	got = AppendRequest(nil, 0x12345678, "htable.sets", []rpc.Value{rpc.Str("t"), rpc.Str("15"), rpc.Str("x")})
	want := unhex(t, `a1 03 18 12 34 56 78 91 0c "htable.sets" 00 21 "t" 00 31 "15" 00 21 "x" 00`)
	if !bytes.Equal(got, want) {
		t.Fatalf("\n got %x\nwant %x", got, want)
	}
	// request of the dump capture
	got = AppendRequest(nil, 0x619b250d, "htable.dump", []rpc.Value{rpc.Str("t")})
	if want := unhex(t, `a1 03 11 61 9b 25 0d 91 0c "htable.dump" 00 21 "t" 00`); !bytes.Equal(got, want) {
		t.Fatalf("\n got %x\nwant %x", got, want)
	}
}

func TestRecordEncoding(t *testing.T) {
	cases := []struct {
		got  []byte
		want string
	}{
		{AppendInt(nil, 0), "00"},
		{AppendInt(nil, 7), "10 07"},
		{AppendInt(nil, 0x1234), "20 12 34"},
		{AppendInt(nil, -5), "40 ff ff ff fb"},
		{AppendInt(nil, 500), "20 01 f4"},
		{AppendStr(nil, ""), "11 00"},
		{AppendStr(nil, "t"), `21 "t" 00`},
		{AppendStr(nil, "abcdef"), `71 "abcdef" 00`},
		{AppendStr(nil, "abcdefhij"), `91 0a "abcdefhij" 00`},
		{AppendBytes(nil, "abcdef"), `66 "abcdef"`},
		{AppendDouble(nil, 2.5), "22 09 c4"},
		{AppendDouble(nil, 0), "02"},
		{AppendDouble(nil, -1), "82 ff ff ff ff ff ff fc 18"},
		{AppendAVP(nil, "test"), `55 "test" 00`},
		{AppendHeader(nil, TypeReply, 0, 0x619b250d), "a1 13 00 61 9b 25 0d"},
		{AppendHeader(nil, TypeRequest, 0x1234, 0), "a1 04 12 34 00"},
	}
	for i, tc := range cases {
		if want := unhex(t, tc.want); !bytes.Equal(tc.got, want) {
			t.Errorf("case %d: got %x want %x", i, tc.got, want)
		}
	}
	// a 65535-byte string takes a 2-byte length
	s := strings.Repeat("a", 65534)
	if got := AppendStr(nil, s)[:3]; !bytes.Equal(got, []byte{0xa1, 0xff, 0xff}) {
		t.Errorf("long string mark %x", got)
	}
}

func TestDecoderRoundTrip(t *testing.T) {
	body := unhex(t, dumpReplyCapture)[7:]
	d := NewDecoder(body, true)
	var lines []string
	for {
		rec, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.Repeat("\t", max(0, d.InStruct+d.InArray-boolInt(rec.Type == RecStruct && !rec.End)))+recText(rec))
	}
	got := strings.Join(lines, "\n")
	want := "{\n\tentry: 3\n\tsize: 1\n\tslot: {\n\t\t{\n\t\t\tname: bob\n\t\t\tvalue: 42\n\t\t\ttype: int\n\t\t}\n\t}\n}"
	if !strings.HasPrefix(got, want) {
		t.Fatalf("got\n%s", got)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func recText(r Record) string {
	s := ""
	if r.Named {
		s = string(r.Name) + ": "
	}
	switch r.Type {
	case RecInt:
		return s + strconv.Itoa(int(r.Int))
	case RecStr, RecBytes:
		return s + string(r.Str)
	case RecStruct:
		if r.End {
			return s + "}"
		}
		return s + "{"
	}
	return s + "?"
}
