package e2e

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/testutil"
	"github.com/sipht/sipht/internal/testutil/kamailio"
)

// caseRun is the state of one test case against one running server.
type caseRun struct {
	t     *testing.T
	srv   *server
	tr    *transcript
	ports map[string]int // named sipp ports shared between steps
}

// step is one action of a test case; it appends to the transcript.
type step struct {
	title string
	run   func(r *caseRun)
}

// namedPort returns the sipp port registered under name, choosing a free one
// on ip the first time.
func (r *caseRun) namedPort(name, ip string) int {
	if p, ok := r.ports[name]; ok {
		return p
	}
	p := testutil.FreeUDPPort(r.t, ip)
	r.ports[name] = p
	r.tr.namePort(p, name+"-port")
	return p
}

// sipStep runs one sipp call from src, records it and the log lines it
// caused, and checks the status codes when want is not nil.
func (r *caseRun) sipStep(run sippRun, portName string, want []int) sippResult {
	r.t.Helper()
	if portName != "" {
		run.srcPort = r.namedPort(portName, run.srcIP)
	} else {
		run.srcPort = testutil.FreeUDPPort(r.t, run.srcIP)
		r.tr.namePort(run.srcPort, "ua-port")
	}
	run.target = r.srv.sipAddr()
	res := runSipp(r.t, r.srv.dir, run)
	r.tr.sipMessages("", res.msgs)
	sent, acks := 0, 0
	var codes []int
	for _, m := range res.msgs {
		switch {
		case m.sent && m.isRequest() && m.method() == "ACK":
			// an ACK to the server's own negative reply never reaches
			// the script (sl absorbs it), so it logs nothing
			acks++
		case m.sent && m.isRequest():
			sent++
		}
		if !m.sent && !m.isRequest() && m.statusCode() >= 200 {
			codes = append(codes, m.statusCode())
		}
	}
	if acks > 0 {
		time.Sleep(300 * time.Millisecond) // a wrongly routed ACK would log now
	}
	for _, l := range r.srv.newLogLines(sent) {
		r.tr.line("log: %s", r.tr.norm(l))
	}
	if portName == "" {
		delete(r.tr.ports, run.srcPort)
	}
	if want != nil && !slices.Equal(codes, want) {
		r.t.Errorf("%s: status codes %v, want %v", run.scenario, codes, want)
	}
	if len(res.msgs) == 0 {
		r.t.Errorf("%s: sipp sent nothing:\n%s", run.scenario, lastLines(res.output, 30))
	}
	return res
}

// codes builds an expected status-code list: codes(401, 7, 429, 2) is seven
// 401s followed by two 429s.
func codes(pairs ...int) []int {
	var out []int
	for i := 0; i+1 < len(pairs); i += 2 {
		for n := 0; n < pairs[i+1]; n++ {
			out = append(out, pairs[i])
		}
	}
	return out
}

// registerStep: a UA at src registers as user with password, answering up
// to tries challenges (register.xml).
func registerStep(src, user, password string, tries int, portName string, want []int) step {
	return step{
		title: fmt.Sprintf("REGISTER %s password=%s tries=%d from %s", user, password, tries, src),
		run: func(r *caseRun) {
			r.sipStep(sippRun{
				scenario: "register.xml",
				srcIP:    src,
				args:     []string{"-s", user, "-au", user, "-ap", password, "-set", "tries", strconv.Itoa(tries)},
			}, portName, want)
		},
	}
}

// optionsStep: OPTIONS to the server from src (options.xml).
func optionsStep(src string, want []int) step {
	return step{
		title: "OPTIONS from " + src,
		run: func(r *caseRun) {
			r.sipStep(sippRun{scenario: "options.xml", srcIP: src, args: []string{"-s", "e2e"}}, "", want)
		},
	}
}

// messageStep: MESSAGE from src to user@server, From fromUser@fromDomain
// (fromDomain "" means the server's own address, i.e. a local user).
func messageStep(src, user, fromUser, fromDomain string, want []int) step {
	return fromStep("message.xml", fmt.Sprintf("MESSAGE to %s from %s@%s, sent from %s", user, fromUser, orServer(fromDomain), src),
		src, user, fromUser, fromDomain, want)
}

func orServer(d string) string {
	if d == "" {
		return "<server>"
	}
	return d
}

// inviteStep: an INVITE from src that the server refuses, and its ACK
// (invite.xml); fromDomain "" means the server's own address.
func inviteStep(src, user, fromUser, fromDomain string, want []int) step {
	return fromStep("invite.xml", fmt.Sprintf("INVITE to %s from %s@%s, sent from %s, refused and acknowledged", user, fromUser, orServer(fromDomain), src),
		src, user, fromUser, fromDomain, want)
}

// fromStep runs scenario from src to user@server with From
// fromUser@fromDomain (the server's own address when fromDomain is "").
func fromStep(scenario, title, src, user, fromUser, fromDomain string, want []int) step {
	return step{
		title: title,
		run: func(r *caseRun) {
			d := fromDomain
			if d == "" {
				d = r.srv.sipAddr()
			}
			r.sipStep(sippRun{
				scenario: scenario,
				srcIP:    src,
				args:     []string{"-s", user, "-key", "from_user", fromUser, "-key", "from_domain", d},
			}, "", want)
		},
	}
}

// relayStep: a sipp UAS listens at uasIP on the named port (where an earlier
// registerStep with the same portName registered its Contact) and a MESSAGE
// from src to user must be forwarded to it and the 200 relayed back.
func relayStep(src, user, uasIP, portName string, want []int) step {
	return step{
		title: fmt.Sprintf("MESSAGE to %s from erin@example.com, sent from %s, forwarded to the phone at %s", user, src, uasIP),
		run: func(r *caseRun) {
			port := r.namedPort(portName, uasIP)
			wait := startSippUAS(r.t, r.srv.dir, sippRun{scenario: "uas_message.xml", srcIP: uasIP, srcPort: port})
			r.sipStep(sippRun{
				scenario: "message.xml",
				srcIP:    src,
				args:     []string{"-s", user, "-key", "from_user", "erin", "-key", "from_domain", "example.com"},
			}, "sender", want)
			uas := wait()
			r.tr.sipMessages("phone", uas.msgs)
		},
	}
}

// burstStep: n OPTIONS from src, one after the other as fast as the server
// answers; unanswered ones are given up after 300 ms. It checks that the
// answers are all 200 and, when blocked is true, that the server stopped
// answering before the end (a flood ban), else that it answered all.
func burstStep(src string, n int, blocked bool) step {
	return step{
		title: fmt.Sprintf("%d OPTIONS in a row from %s", n, src),
		run: func(r *caseRun) {
			res := r.sipStep(sippRun{
				scenario:    "options.xml",
				srcIP:       src,
				args:        []string{"-s", "e2e"},
				calls:       n,
				recvTimeout: 300 * time.Millisecond,
			}, "", nil)
			answered := 0
			for _, m := range res.msgs {
				if !m.sent && !m.isRequest() {
					answered++
					if m.statusCode() != 200 {
						r.t.Errorf("burst from %s: got %q, want only 200s", src, m.first)
					}
				}
			}
			switch {
			case blocked && (answered == 0 || answered >= n):
				r.t.Errorf("burst from %s: %d of %d answered, want some answered and then a ban", src, answered, n)
			case !blocked && answered != n:
				r.t.Errorf("burst from %s: %d of %d answered, want all", src, answered, n)
			}
		},
	}
}

// kamcmdStep records the output of the real kamcmd.
func kamcmdStep(args ...string) step {
	return step{
		title: "kamcmd " + strings.Join(args, " "),
		run: func(r *caseRun) {
			r.tr.block(r.srv.kamcmd(r.t, args...))
		},
	}
}

// jsonrpcStep records a JSON-RPC call over HTTP (POST /RPC), re-encoded
// canonically.
func jsonrpcStep(method string, params ...string) step {
	return step{
		title: fmt.Sprintf("JSON-RPC %s %s (POST /RPC)", method, strings.Join(params, " ")),
		run: func(r *caseRun) {
			ps := make([]string, len(params))
			for i, p := range params {
				ps[i] = strconv.Quote(p)
			}
			body := fmt.Sprintf(`{"jsonrpc":"2.0","method":%q,"params":[%s],"id":1}`, method, strings.Join(ps, ","))
			status, ctype, out := r.http("POST", "/RPC", body)
			r.tr.line("    HTTP %d %s", status, ctype)
			j, err := canonicalJSON(out)
			if err != nil {
				r.t.Errorf("JSON-RPC %s: reply is not JSON (%v): %q", method, err, out)
				j = string(out)
			}
			r.tr.line("    %s", r.tr.norm(j))
		},
	}
}

// httpStep records the status and media type of an HTTP GET.
func httpStep(path string) step {
	return step{
		title: "HTTP GET " + path,
		run: func(r *caseRun) {
			status, ctype, _ := r.http("GET", path, "")
			r.tr.line("    HTTP %d %s", status, ctype)
		},
	}
}

// http does one request against the server's HTTP port and returns the
// status, the media type (without parameters) and the body.
func (r *caseRun) http(method, path, body string) (int, string, []byte) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+r.srv.httpAddr()+path, strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Errorf("HTTP %s %s: %v", method, path, err)
		return 0, "", nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return resp.StatusCode, mt, b
}

// waitEmptyStep polls kamcmd htable.dump until the table is empty (expired
// items purged). It records only that it waited.
func waitEmptyStep(table string) step {
	return step{
		title: "wait until kamcmd htable.dump " + table + " is empty",
		run: func(r *caseRun) {
			deadline := time.Now().Add(30 * time.Second)
			for {
				out := strings.TrimSpace(r.srv.kamcmd(r.t, "htable.dump", table))
				if out == "" {
					return
				}
				if time.Now().After(deadline) {
					r.t.Errorf("htable %s still not empty after 30s:\n%s", table, out)
					return
				}
				time.Sleep(250 * time.Millisecond)
			}
		},
	}
}

// seedCase is one server run on examples/seed.cfg.
type seedCase struct {
	name    string
	about   string
	defines []string // extra -A defines
	steps   []step
}

// seedCases are the end-to-end checks of the seed config. Every source IP
// (127.0.0.x) plays one client, so the per-source tables stay readable.
var seedCases = []seedCase{
	{
		name:  "registrar",
		about: "the seed registrar: challenge, rate limit after the sixth counted failure, reset on success, OPTIONS, location service",
		steps: []step{
			optionsStep("127.0.0.2", codes(200, 1)),
			// no credentials: 401 with WWW-Authenticate; counts as a failure
			registerStep("127.0.0.2", "alice", "secret", 0, "", codes(401, 1)),
			// the normal registration: 401 then 200; the success clears AuthCount
			registerStep("127.0.0.2", "alice", "secret", 1, "", codes(401, 1, 200, 1)),
			kamcmdStep("htable.dump", "AuthCount"),
			// wrong password: the plain REGISTER and five wrong answers are
			// six counted failures (401); from the request after them on,
			// 429
			registerStep("127.0.0.3", "alice", "wrong", 8, "", codes(401, 6, 429, 3)),
			optionsStep("127.0.0.3", codes(429, 1)),
			kamcmdStep("htable.dump", "AuthCount"),
			// four failures, then the success resets the counter: six more
			// failures are needed before 429
			registerStep("127.0.0.4", "bob", "wrong", 3, "", codes(401, 4)),
			registerStep("127.0.0.4", "bob", "bobsecret", 1, "", codes(401, 1, 200, 1)),
			kamcmdStep("htable.dump", "AuthCount"),
			registerStep("127.0.0.4", "bob", "wrong", 6, "", codes(401, 6, 429, 1)),
			// location service: unknown user, a From claiming to be local
			// (proxy challenge), a registered phone reached through the
			// stateless forward
			messageStep("127.0.0.5", "dave", "erin", "example.com", codes(404, 1)),
			messageStep("127.0.0.5", "carol", "erin", "", codes(407, 1)),
			registerStep("127.0.0.6", "carol", "carolsecret", 1, "uas", codes(401, 1, 200, 1)),
			relayStep("127.0.0.5", "carol", "127.0.0.6", "uas", codes(200, 1)),
			// an INVITE from a local user without credentials: 407; its ACK
			// is absorbed before the script (MessageCount counts 1)
			inviteStep("127.0.0.10", "carol", "alice", "", codes(407, 1)),
			// tables and HTTP endpoints at the end
			kamcmdStep("htable.dump", "AuthCount"),
			kamcmdStep("htable.dump", "MessageCount"),
			jsonrpcStep("htable.dump", "AuthCount"),
			jsonrpcStep("htable.get", "AuthCount", "127.0.0.3"),
			httpStep("/metrics"),
			httpStep("/nothing-here"),
			// the tutorial's kamcmd commands
			kamcmdStep("htable.seti", "MessageCount", "ExampleAdd", "s:999"),
			kamcmdStep("htable.get", "MessageCount", "ExampleAdd"),
			kamcmdStep("htable.sets", "MessageCount", "ExampleAdd", "Iamastring"),
			kamcmdStep("htable.get", "MessageCount", "ExampleAdd"),
			kamcmdStep("htable.delete", "MessageCount", "ExampleAdd"),
			kamcmdStep("htable.get", "MessageCount", "ExampleAdd"),
			kamcmdStep("htable.delete", "MessageCount", "ExampleAdd"),
		},
	},
	{
		name:  "expiry",
		about: "AuthCount autoexpire=5 s and a 1 s htable timer: a rate-limited source may register again once its entry expired",
		defines: []string{
			`AUTHCOUNT_HTABLE="AuthCount=>size=12;initval=0;autoexpire=5"`,
			"HTABLE_TIMER=1",
		},
		steps: []step{
			registerStep("127.0.0.7", "alice", "wrong", 7, "", codes(401, 6, 429, 2)),
			kamcmdStep("htable.dump", "AuthCount"),
			waitEmptyStep("AuthCount"),
			kamcmdStep("htable.dump", "AuthCount"),
			registerStep("127.0.0.7", "alice", "secret", 1, "", codes(401, 1, 200, 1)),
			kamcmdStep("htable.dump", "MessageCount"),
		},
	},
}

// antifloodCases are the end-to-end checks of examples/antiflood.cfg. The
// pike sampling unit is made long (60 s) so that a burst never straddles two
// units and the ban point is the same on every run.
var antifloodCases = []seedCase{
	{
		name:  "flood",
		about: "pike bans a fast source (no answers any more), the PBX is exempt, the seed's auth-failure limit still applies",
		defines: []string{
			"PIKE_DENSITY=3",
			"PIKE_UNIT=60",
			`PBX_IP="127.0.0.9"`,
		},
		steps: []step{
			burstStep("127.0.0.8", 12, true),
			kamcmdStep("htable.dump", "ipban"),
			optionsStep("127.0.0.8", []int{}),
			burstStep("127.0.0.9", 12, false),
			registerStep("127.0.0.9", "alice", "wrong", 8, "", codes(401, 6, 429, 3)),
			// a correct password does not help while the source is limited:
			// no challenge, so the UA cannot even answer one
			registerStep("127.0.0.9", "alice", "secret", 1, "", codes(429, 2)),
			kamcmdStep("htable.dump", "AuthCount"),
		},
	},
}

// runSeedCases runs the cases of one example config against servers of one
// kind and checks the transcripts against testdata/<config>/<case>.golden.
func runSeedCases(t *testing.T, kind serverKind, bin, config string, cases []seedCase) {
	cfg := filepath.Join(repoRoot(t), "examples", config+".cfg")
	sippBin(t) // skip early when sipp is missing
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := startServer(t, startOptions{kind: kind, bin: bin, cfg: cfg, defines: c.defines})
			r := &caseRun{t: t, srv: srv, tr: newTranscript(), ports: map[string]int{}}
			r.tr.namePort(srv.sipPort, "sip-port")
			r.tr.namePort(srv.httpPort, "http-port")
			r.tr.line("# %s: %s", c.name, c.about)
			if len(c.defines) > 0 {
				r.tr.line("# defines: %s", strings.Join(c.defines, " "))
			}
			for i, s := range c.steps {
				r.tr.line("")
				r.tr.line("== %d. %s", i+1, s.title)
				start := time.Now()
				s.run(r)
				if d := time.Since(start); d > 2*time.Second {
					t.Logf("step %d (%s) took %v", i+1, s.title, d.Round(time.Millisecond))
				}
			}
			checkGolden(t, goldenPath(config, c.name), r.tr.String(), kind == kamailioServer)
		})
	}
}

// TestSeedKamailioOracle runs the seed scenarios against the real Kamailio
// 5.6 on examples/seed.cfg and checks them against the goldens (which
// -update records from it). It is the proof that the goldens are what
// Kamailio does, and that the seed config runs unmodified on Kamailio.
func TestSeedKamailioOracle(t *testing.T) {
	runSeedCases(t, kamailioServer, kamailio.Binary(t), "seed", seedCases)
}

// TestSeedSipht runs the same scenarios against the sipht binary and
// compares with the same Kamailio goldens. It skips while there is no sipht
// binary (SIPHT_BIN unset and cmd/sipht missing).
func TestSeedSipht(t *testing.T) {
	bin := siphtBin(t)
	runSeedCases(t, siphtServer, bin, "seed", seedCases)
}

// TestAntifloodKamailioOracle is TestSeedKamailioOracle for
// examples/antiflood.cfg.
func TestAntifloodKamailioOracle(t *testing.T) {
	runSeedCases(t, kamailioServer, kamailio.Binary(t), "antiflood", antifloodCases)
}

// TestAntifloodSipht is TestSeedSipht for examples/antiflood.cfg.
func TestAntifloodSipht(t *testing.T) {
	bin := siphtBin(t)
	runSeedCases(t, siphtServer, bin, "antiflood", antifloodCases)
}
