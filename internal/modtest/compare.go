package modtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/servertest"
	"github.com/sipht/sipht/internal/testutil"
	"github.com/sipht/sipht/internal/testutil/kamailio"
)

// kamailioInstalled reports whether the Kamailio binary and modules are
// there.
// (SIPHT_NO_KAMAILIO=1 pretends it is not, to exercise the recorded
// outcomes.)
func kamailioInstalled() bool {
	if os.Getenv("SIPHT_NO_KAMAILIO") == "1" {
		return false
	}
	return kamailio.Installed()
}

// Case is one scenario run on both Kamailio and sipht by Compare.
//
// Body is a route body written with macros that Compare expands for each
// side:
//
//	LOG("text")        xlog("L_ERR", "text\n")    / t_log("text")
//	HDR(Name)          $hdr(Name)                 / $t_hdr(Name)
//	RU, DU, BF         $ru, $du, $bf              / $t_ru, $t_du, $t_bf
//	REPLY(code, "r")   sl_send_reply(code, "r")   / t_reply(code, "r")
//	FWD                forward to a sink          / t_apply()
//	RELAY              forward to a sink          / t_forward(sink)
//	BR(attr,i)         $(branch(attr)[i])         / $(t_br(attr)[i])
//
// Request is a raw request; "{via}" becomes the client's address. Compare
// adds an X-Case header (it selects the case) at the end of the headers.
type Case struct {
	Name    string
	Body    string
	Request string
}

// Outcome is what one side did for a case: the lines printed, the replies
// sent (normalised: no Server header, To-tags and ports replaced) and the
// message forwarded (FWD), without its request line and the forwarder's
// own Via.
type Outcome struct {
	Lines     []string `json:"lines"`
	Replies   []string `json:"replies,omitempty"`
	Forwarded string   `json:"forwarded,omitempty"`
}

func (o Outcome) String() string {
	return fmt.Sprintf("lines: %q\nreplies:\n%s\nforwarded:\n%s", o.Lines, strings.Join(o.Replies, "----\n"), o.Forwarded)
}

var macroLOG = regexp.MustCompile(`LOG\("((?:[^"\\]|\\.)*)"\)`)
var macroREPLY = regexp.MustCompile(`REPLY\(`)
var macroHDR = regexp.MustCompile(`HDR\(`)
var macroBR = regexp.MustCompile(`BR\((\w+),(\d+)\)`)
var macroVar = regexp.MustCompile(`\b(RU|DU|BF)\b`)

func expand(body string, kam bool, sinkPort int) string {
	if kam {
		body = macroLOG.ReplaceAllString(body, `xlog("L_ERR", "$1\n")`)
		body = macroBR.ReplaceAllString(body, "$$(branch($1)[$2])")
		body = macroREPLY.ReplaceAllString(body, "sl_send_reply(")
		body = macroHDR.ReplaceAllString(body, "$$hdr(")
		body = macroVar.ReplaceAllStringFunc(body, func(s string) string { return "$" + strings.ToLower(s) })
		body = strings.ReplaceAll(body, "FWD", fmt.Sprintf(`forward("127.0.0.1", %d)`, sinkPort))
		body = strings.ReplaceAll(body, "RELAY", fmt.Sprintf(`forward("127.0.0.1", %d)`, sinkPort))
		return body
	}
	body = macroLOG.ReplaceAllString(body, `t_log("$1")`)
	body = macroBR.ReplaceAllString(body, "$$(t_br($1)[$2])")
	body = macroREPLY.ReplaceAllString(body, "t_reply(")
	body = macroHDR.ReplaceAllString(body, "$$t_hdr(")
	body = macroVar.ReplaceAllStringFunc(body, func(s string) string { return "$t_" + strings.ToLower(s) })
	body = strings.ReplaceAll(body, "FWD", "t_apply()")
	body = strings.ReplaceAll(body, "RELAY", fmt.Sprintf(`t_forward("127.0.0.1:%d")`, sinkPort))
	return body
}

func routes(cases []Case, kam bool, sinkPort int) string {
	var b strings.Builder
	hdr := "$t_hdr(X-Case)"
	end := `t_log("@@END $t_hdr(X-Case)");`
	if kam {
		hdr = "$hdr(X-Case)"
		end = `xlog("L_ERR", "@@END $hdr(X-Case)\n");`
	}
	fmt.Fprintf(&b, "request_route {\n\tswitch (%s) {\n", hdr)
	for i := range cases {
		fmt.Fprintf(&b, "\tcase \"c%d\":\n\t\troute(C%d);\n\t\tbreak;\n", i, i)
	}
	fmt.Fprintf(&b, "\tdefault:\n\t\t%s\n\t}\n}\n", end)
	for i, c := range cases {
		fmt.Fprintf(&b, "route[C%d] {\n%s\n}\n", i, expand(c.Body, kam, sinkPort))
	}
	return b.String()
}

// withCase adds "X-Case: name" at the end of the headers of a raw request
// and fixes line ends to CRLF.
func withCase(raw, name string) string {
	raw = strings.ReplaceAll(strings.ReplaceAll(raw, "\r\n", "\n"), "\n", "\r\n")
	i := strings.Index(raw, "\r\n\r\n")
	if i < 0 {
		return raw + "X-Case: " + name + "\r\n\r\n"
	}
	return raw[:i+2] + "X-Case: " + name + "\r\n" + raw[i+2:]
}

// markerRequest follows every case to learn when the case is done (one
// worker handles both in order).
const markerRequest = "OPTIONS sip:marker@127.0.0.1 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP {via};branch=z9hG4bK-marker\r\n" +
	"From: <sip:marker@127.0.0.1>;tag=m\r\n" +
	"To: <sip:marker@127.0.0.1>\r\n" +
	"Call-ID: marker@127.0.0.1\r\n" +
	"CSeq: 1 OPTIONS\r\n" +
	"Content-Length: 0\r\n\r\n"

var reToTag = regexp.MustCompile(`(?mi)^((?:To|t)\s*:.*;tag=)[^;\r\n]*`)
var rePort = regexp.MustCompile(`(127\.0\.0\.1|localhost):\d+`)
var reRport = regexp.MustCompile(`rport=\d+`)

func normalizeReply(r string, hadToTag bool) string {
	var out []string
	for _, l := range strings.Split(r, "\r\n") {
		if strings.HasPrefix(strings.ToLower(l), "server:") {
			continue
		}
		out = append(out, l)
	}
	s := strings.Join(out, "\r\n")
	if !hadToTag {
		s = reToTag.ReplaceAllString(s, "${1}TAG")
	}
	s = rePort.ReplaceAllString(s, "${1}:PORT")
	return reRport.ReplaceAllString(s, "rport=PORT")
}

// normalizeForwarded drops the forwarder's own Via and, unless keepFirst,
// the request line (t_apply() does not rewrite it).
func normalizeForwarded(m string, ownPort int, keepFirst bool) string {
	lines := strings.Split(m, "\r\n")
	var out []string
	own := fmt.Sprintf("127.0.0.1:%d;branch=", ownPort)
	for i, l := range lines {
		if i == 0 && !keepFirst {
			continue
		}
		if strings.HasPrefix(l, "Via: ") && strings.Contains(l, own) {
			continue
		}
		out = append(out, l)
	}
	return rePort.ReplaceAllString(strings.Join(out, "\r\n"), "${1}:PORT")
}

// side runs the cases against one server.
type side struct {
	addr     string
	ownPort  int
	lines    func() []string
	sink     *net.UDPConn // Kamailio forwards here
	applied  func() []string
	resetApp func()
}

func (sd *side) run(t testing.TB, cs []Case) []Outcome {
	t.Helper()
	c := servertest.Dial(t, sd.addr)
	out := make([]Outcome, len(cs))
	for i, cs := range cs {
		name := fmt.Sprintf("c%d", i)
		before := len(sd.lines())
		if sd.resetApp != nil {
			sd.resetApp()
		}
		req := withCase(cs.Request, name)
		c.Send(t, req)
		c.Send(t, withCase(markerRequest, "end"+name))
		// wait for the end marker
		marker := "@@END end" + name
		deadline := time.Now().Add(5 * time.Second)
		var lines []string
		for {
			all := sd.lines()
			if before > len(all) {
				before = 0
			}
			lines = all[before:]
			found := -1
			for j, l := range lines {
				if l == marker {
					found = j
				}
			}
			if found >= 0 {
				lines = lines[:found]
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("case %s (%s): no end marker; lines: %q", name, cs.Name, lines)
			}
			time.Sleep(5 * time.Millisecond)
		}
		o := Outcome{Lines: lines}
		hadToTag := reToTag.MatchString(req)
		for {
			r := c.Read(t, 30*time.Millisecond)
			if r == "" {
				break
			}
			o.Replies = append(o.Replies, normalizeReply(r, hadToTag))
		}
		if sd.sink != nil {
			buf := make([]byte, 65535)
			sd.sink.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			if n, _, err := sd.sink.ReadFromUDP(buf); err == nil {
				o.Forwarded = normalizeForwarded(string(buf[:n]), sd.ownPort, strings.Contains(cs.Body, "RELAY"))
			}
		}
		if sd.applied != nil {
			if a := sd.applied(); len(a) > 0 {
				o.Forwarded = normalizeForwarded(a[len(a)-1], sd.ownPort, false)
			}
		}
		out[i] = o
	}
	return out
}

var reKamLine = regexp.MustCompile(`ERROR: <script>: (.*)$`)

// UpdateEnv names the environment variable that makes Compare rewrite its
// golden files from the live Kamailio run.
const UpdateEnv = "SIPHT_UPDATE_GOLDEN"

// Compare runs every case on the real Kamailio 5.6 and on sipht, both
// loading modules (plus sl, pv and xlog on Kamailio, the probe on sipht)
// and params, and fails the test where their outcomes differ.
//
// Kamailio's outcomes are also kept in testdata/kamailio/<test>.json: when
// Kamailio is not installed the sipht side is checked against that record
// (so the tests still mean something on a machine without Kamailio), and
// when it is, a record that no longer matches the live run is an error
// (rewrite the records with SIPHT_UPDATE_GOLDEN=1).
func Compare(t *testing.T, modules []string, params string, cases []Case) {
	t.Helper()
	golden := filepath.Join("testdata", "kamailio", strings.ReplaceAll(t.Name(), "/", "_")+".json")
	var ko []Outcome
	if !kamailioInstalled() {
		b, err := os.ReadFile(golden)
		if err != nil {
			testutil.Missing(t, "kamailio (and its recorded outcomes "+golden+")", err.Error())
		}
		if err := json.Unmarshal(b, &ko); err != nil || len(ko) != len(cases) {
			t.Fatalf("%s: unreadable or stale record (%v); rerun with Kamailio and %s=1", golden, err, UpdateEnv)
		}
		t.Logf("Kamailio is not installed: comparing with the outcomes recorded in %s", golden)
	} else {
		sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer sink.Close()
		sinkPort := sink.LocalAddr().(*net.UDPAddr).Port
		kmods := append([]string{"sl", "pv", "xlog"}, modules...)
		kam := StartKamailio(t, dedupe(kmods), params+"\n"+routes(cases, true, sinkPort))
		kside := &side{addr: kam.UDP, ownPort: portOf(kam.UDP), sink: sink, lines: func() []string {
			var out []string
			for _, l := range strings.Split(kam.Log(), "\n") {
				if m := reKamLine.FindStringSubmatch(l); m != nil {
					out = append(out, m[1])
				}
			}
			return out
		}}
		ko = kside.run(t, cases)
		b, _ := json.MarshalIndent(ko, "", "\t")
		b = append(b, '\n')
		old, rerr := os.ReadFile(golden)
		switch {
		case os.Getenv(UpdateEnv) == "1" || os.IsNotExist(rerr):
			if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(golden, b, 0o644); err != nil {
				t.Fatal(err)
			}
		case !bytes.Equal(old, b):
			t.Errorf("%s does not match what Kamailio does now: rerun with %s=1 to record it", golden, UpdateEnv)
		}
	}
	ssink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ssink.Close()
	srv := Start(t, modules, params, routes(cases, false, ssink.LocalAddr().(*net.UDPAddr).Port))
	sside := &side{addr: srv.UDP, ownPort: portOf(srv.UDP), lines: srv.Probe.Lines, sink: ssink,
		applied: srv.Probe.Applied, resetApp: srv.Probe.ResetApplied}
	so := sside.run(t, cases)
	for i, c := range cases {
		if testing.Verbose() {
			t.Logf("case %d %q:\n%s", i, c.Name, ko[i])
		}
		if ko[i].String() != so[i].String() {
			t.Errorf("case %d %q differs\n--- kamailio:\n%s\n--- sipht:\n%s", i, c.Name, ko[i], so[i])
		}
	}
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	var n int
	fmt.Sscanf(p, "%d", &n)
	return n
}
