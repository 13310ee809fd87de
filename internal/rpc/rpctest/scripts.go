package rpctest

// Request scripts and clients shared by the tests that compare sipht's
// RPC transports with Kamailio 5.6's: internal/rpc/binrpc and
// internal/rpc/jsonrpc, and the ctl and jsonrpcs modules, which run them
// through a whole server.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// HTTPReply is an HTTP reply: the status line text ("500 No such
// htable"), the Content-Type and the body.
type HTTPReply struct {
	Status, CType, Body string
}

// PostRPC sends one request as POST /RPC on a fresh connection.
func PostRPC(t testing.TB, addr, body string) HTTPReply {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "POST /RPC HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", addr, len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return HTTPReply{Status: "NO REPLY (" + err.Error() + ")"}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading reply to %s: %v", body, err)
	}
	return HTTPReply{resp.Status, resp.Header.Get("Content-Type"), string(b)}
}

// JSONRequest builds {"jsonrpc":"2.0","method":...,"params":[...],"id":...}:
// params are JSON texts; an empty id leaves "id" out.
func JSONRequest(method string, id string, params ...string) string {
	s := `{"jsonrpc":"2.0","method":"` + method + `"`
	if params != nil {
		s += `,"params":[` + strings.Join(params, ",") + `]`
	}
	if id != "" {
		s += `,"id":` + id
	}
	return s + "}"
}

// JSONScript is sent to Kamailio 5.6's jsonrpcs and to sipht (the core
// methods and FakeHTable's tables t and iv); "!" compares by shape only
// (ShapeJSON).
var JSONScript = []string{
	JSONRequest("htable.seti", "1", `"t"`, `"bob"`, `42`),
	JSONRequest("htable.sets", "2", `"t"`, `"15"`, `"x"`),
	JSONRequest("htable.sets", "3", `"t"`, `"alice"`, `"hello"`),
	JSONRequest("htable.sets", "4", `"t"`, `"num"`, `123`),
	JSONRequest("htable.seti", "5", `"t"`, `"neg"`, `-5`),
	JSONRequest("htable.seti", "6", `"t"`, `"flt"`, `7.9`),
	JSONRequest("htable.sets", "7", `"t"`, `"k2"`, `"same slot as bob"`),
	JSONRequest("htable.dump", "8", `"t"`),
	JSONRequest("htable.dump", `"str-id"`, `"iv"`),
	JSONRequest("htable.dump", "", `"t"`),
	JSONRequest("htable.dump", "10", `"nosuch"`),
	JSONRequest("htable.dump", "11"),
	JSONRequest("htable.get", "12", `"t"`, `"alice"`),
	JSONRequest("htable.get", "13", `"t"`, `"bob"`),
	JSONRequest("htable.get", "14", `"t"`, `"num"`),
	JSONRequest("htable.get", "15", `"t"`, `"nokey"`),
	JSONRequest("htable.get", "16", `"nosuch"`, `"x"`),
	JSONRequest("htable.get", "17", `"t"`),
	JSONRequest("htable.get", "18", `"t"`, `15`),
	JSONRequest("htable.get", "1.5", `"t"`, `"15"`),
	`{"jsonrpc":"2.0","method":"htable.get","params":{"a":"t","b":"neg"},"id":20}`,
	`{"jsonrpc":"2.0","method":"htable.get","params":"t","id":21}`,
	`{"jsonrpc":"2.0","method":"htable.dump","params":7,"id":22}`,
	`{"jsonrpc":"1.0","method":"core.echo","id":23}`,
	`{"jsonrpc":"2.0","id":24}`,
	`{"method":"core.echo","id":25}`,
	`{"JSONRPC":"2.0","Method":"core.echo","Params":["case"],"ID":26}`,
	`{"jsonrpc":"2.0","method":"core.echo","params":["first"],"params":["second"],"id":27}`,
	`["not","an","object"]`,
	`{"jsonrpc":"2.0","method":"core.echo","params":["a",5,"b"],"id":28} trailing`,
	JSONRequest("no.such", "29"),
	JSONRequest("htable.delete", "30", `"t"`, `"alice"`),
	JSONRequest("htable.delete", "31", `"t"`, `"alice"`),
	JSONRequest("htable.delete", "32", `"t"`),
	JSONRequest("htable.seti", "33", `"t"`),
	JSONRequest("htable.setxs", "34", `"nosuch"`, `"k"`, `"v"`, `10`),
	JSONRequest("htable.setex", "35", `"t"`, `"k"`),
	JSONRequest("htable.listTables", "36"),
	JSONRequest("htable.stats", "37"),
	JSONRequest("htable.flush", "38", `"iv"`),
	JSONRequest("htable.flush", "39"),
	JSONRequest("htable.reload", "40", `"t"`),
	JSONRequest("core.echo", "41", `"a"`, `"b\"q\\\n\t\u0001é"`),
	JSONRequest("core.echo", "42"),
	JSONRequest("core.prints", "43", `"x"`, `"y"`),
	JSONRequest("core.printi", "44", `1`, `2`),
	JSONRequest("system.methodHelp", "45", `"core.echo"`),
	JSONRequest("system.methodHelp", "46", `"nosuch"`),
	JSONRequest("system.methodHelp", "47"),
	"!" + JSONRequest("core.version", "48"),
	"!" + JSONRequest("core.uptime", "49"),
	"!" + JSONRequest("core.psx", "50"),
	"!" + JSONRequest("system.listMethods", "51"),
	JSONRequest("htable.dump", "52", `"t"`),
	JSONRequest("htable.flush", "53", `"t"`),
	JSONRequest("htable.dump", "54", `"t"`),
}

var jsonShapes = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`"(kamailio|sipht) \S+ \(\S+/\S+\) ?"`), `"NAME VERSION (ARCH/OS)"`},
	{regexp.MustCompile(`"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}"`), `"CTIME"`},
	{regexp.MustCompile(`("uptime":\t)\d+`), "${1}N"},
	{regexp.MustCompile(`("PID":\t)\d+`), "${1}PID"},
	{regexp.MustCompile(`("DSC":\t)"[^"]*"`), `${1}"DESC"`},
	{regexp.MustCompile(`(?s)("result":\t\[\{.*?\})(, \{.*\})?\]`), "${1}]"}, // first process only
	{regexp.MustCompile(`("result":\t\[)"[^\]]*"\]`), `${1}METHODS]`},
	{regexp.MustCompile(`Content-Length: \d+`), ""},
}

// ShapeJSON replaces the variable parts of core.* replies.
func ShapeJSON(s string) string {
	for _, r := range jsonShapes {
		s = r.re.ReplaceAllString(s, r.repl)
	}
	return s
}

// DatagramCall sends one datagram from a unix socket bound in dir to
// server and returns the reply.
func DatagramCall(t testing.TB, dir, server, doc string) string {
	t.Helper()
	local := filepath.Join(dir, fmt.Sprintf("c%d", time.Now().UnixNano()))
	c, err := net.DialUnix("unixgram", &net.UnixAddr{Name: local, Net: "unixgram"}, &net.UnixAddr{Name: server, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(local)
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(doc)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<17)
	n, err := c.Read(buf)
	if err != nil {
		return "NO REPLY (" + err.Error() + ")"
	}
	return string(buf[:n])
}

// FIFOCall writes a request to a jsonrpcs FIFO the way kamctl does (its
// reply FIFO in replyDir) and returns the reply.
func FIFOCall(t testing.TB, fifo, replyDir, doc string) string {
	t.Helper()
	name := fmt.Sprintf("sipht_receiver_%d", time.Now().UnixNano())
	rpath := filepath.Join(replyDir, name)
	if err := syscall.Mkfifo(rpath, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(rpath)
	doc = strings.Replace(doc, `{`, `{"reply_name":"`+name+`",`, 1)
	got := make(chan string, 1)
	go func() {
		f, err := os.OpenFile(rpath, os.O_RDONLY, 0)
		if err != nil {
			got <- err.Error()
			return
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		got <- string(b)
	}()
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(doc + "\n"))
	w.Close()
	select {
	case s := <-got:
		return s
	case <-time.After(5 * time.Second):
		// unblock the reader
		if f, err := os.OpenFile(rpath, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
		return "NO REPLY"
	}
}

// KamcmdSeed are the writes KamcmdScript and the htable module's kamcmd
// comparison start with: integers (negative, fractional, beyond 32 bits),
// keys and values that look like numbers or carry a type prefix, mixed
// case, and two keys in one slot of table t.
var KamcmdSeed = [][]string{
	{"htable.seti", "t", "bob", "42"},
	{"htable.sets", "t", "s:15", "x"},
	{"htable.sets", "t", "alice", "hello"},
	{"htable.sets", "t", "s:16", "123"},
	{"--", "htable.seti", "t", "neg", "-5"},
	{"htable.seti", "t", "dbl", "2.5"},
	{"htable.seti", "t", "big", "12345678901"},
	{"htable.seti", "t", "str", "s:77"},
	{"htable.sets", "t", "ABCdef", "upper"},
	{"htable.sets", "t", "k2", "same-slot-as-bob"},
}

// KamcmdScript is run by the real kamcmd against sipht and against
// Kamailio 5.6 holding the same tables (FakeHTable's t and iv). Each
// entry is one kamcmd invocation; "!" marks one whose output is compared
// by shape only (ShapeKamcmd).
var KamcmdScript = append(slices.Clone(KamcmdSeed), [][]string{
	{"htable.dump", "t"},
	{"htable.get", "t", "alice"},
	{"htable.get", "t", "bob"},
	{"htable.get", "t", "neg"},
	{"htable.get", "t", "s:16"},
	{"htable.get", "t", "16"},
	{"htable.get", "t", "nokey"},
	{"htable.get", "nosuch", "x"},
	{"htable.get", "t"},
	{"htable.get"},
	{"htable.seti", "t"},
	{"htable.seti", "t", "k"},
	{"htable.seti", "t", "15", "5"},
	{"htable.seti", "t", "k", "notanumber"},
	{"htable.sets", "t", "k"},
	{"htable.sets", "nosuch", "k", "v"},
	{"htable.setxs", "nosuch", "k", "v", "10"},
	{"htable.setxi", "nosuch", "k", "1", "10"},
	{"htable.setxs", "t"},
	{"htable.setex", "t", "k"},
	{"htable.setex", "t", "alice", "10"},
	{"htable.delete", "t", "alice"},
	{"htable.delete", "t", "alice"},
	{"htable.delete", "t"},
	{"htable.delete", "nosuch", "k"},
	{"htable.dump", "t"},
	{"htable.dump", "iv"},
	{"htable.dump", "nosuch"},
	{"htable.dump"},
	{"htable.listTables"},
	{"htable.stats"},
	{"htable.reload", "t"},
	{"htable.store", "t"},
	{"-f", "%v|%v\\n", "htable.dump", "t"},
	{"-f", "entry=%v ", "htable.stats"},
	{"htable.flush", "iv"},
	{"htable.flush"},
	{"core.echo", "a", "1", "s:x", "", "-1"},
	{"core.echo"},
	{"core.printi", "a"},
	{"core.printi", "1", "2"},
	{"core.prints", "1"},
	{"core.prints", "a", "b"},
	{"no.such"},
	{"no.such", "arg"},
	{"system.methodHelp", "core.echo"},
	{"system.methodHelp", "htable.dump"},
	{"system.methodHelp", "nosuch"},
	{"system.methodHelp"},
	{"system.methodHelp", "1"},
	{"!", "core.version"},
	{"!", "core.uptime"},
	{"!", "core.psx"},
	{"!", "core.ps"},
	{"!", "system.listMethods"},
	{"-f", "%v %v", "core.echo", "a", "b", "c"},
	{"-f", "x", "core.echo", "v"},
	{"htable.flush", "t"},
	{"htable.dump", "t"},
}...)

// KamcmdResult is kamcmd's stdout, and its stderr followed by the exit status.
type KamcmdResult struct{ Out, Err string }

// RunKamcmdScript runs KamcmdScript against the ctl socket spec.
func RunKamcmdScript(t testing.TB, spec string) []KamcmdResult {
	t.Helper()
	var res []KamcmdResult
	for _, cmd := range KamcmdScript {
		args := cmd
		if args[0] == "!" {
			args = args[1:]
		}
		o, e, code := Kamcmd(t, append([]string{"-s", spec}, args...)...)
		res = append(res, KamcmdResult{o, fmt.Sprintf("%s[exit %d]", e, code)})
	}
	return res
}

// shapes replaces the variable parts of core.* replies.
var shapeRes = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`^(kamailio|sipht) \S+ \(\S+/\S+\) ?\n$`), "NAME VERSION (ARCH/OS)\n"},
	{regexp.MustCompile(`(?m)^(\t(now|up_since): )\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$`), "${1}CTIME"},
	{regexp.MustCompile(`(?m)^(\tuptime: )\d+$`), "${1}N"},
	{regexp.MustCompile(`(?m)^(\tPID: )\d+$`), "${1}PID"},
	{regexp.MustCompile(`(?m)^(\tDSC: ).*$`), "${1}DESC"},
}

// ShapeKamcmd replaces the variable parts of kamcmd's output for cmd.
func ShapeKamcmd(cmd []string, s string) string {
	for _, r := range shapeRes {
		s = r.re.ReplaceAllString(s, r.repl)
	}
	switch cmd[len(cmd)-1] {
	case "core.psx":
		// one {IDX PID DSC} block per process: keep the first block
		if i := strings.Index(s, "}\n"); i >= 0 {
			s = s[:i+2]
		}
	case "core.ps":
		lines := strings.Split(strings.TrimSpace(s), "\n")
		if len(lines) >= 2 {
			s = regexp.MustCompile(`^\d+$`).ReplaceAllString(lines[0], "PID") + "\n" + "DESC\n"
		}
	case "system.listMethods":
		lines := strings.Split(strings.TrimSpace(s), "\n")
		if !sort.StringsAreSorted(lines) {
			return "NOT SORTED:\n" + s
		}
		s = "SORTED LIST\n"
	}
	return s
}
