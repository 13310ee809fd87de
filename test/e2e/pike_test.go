package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/cfg"
	"github.com/sipht/sipht/internal/rpc/binrpc"
	"github.com/sipht/sipht/internal/rpc/jsonrpc"
	siphtserver "github.com/sipht/sipht/internal/server"
	"github.com/sipht/sipht/internal/servertest"
	"github.com/sipht/sipht/internal/testutil"
	"github.com/sipht/sipht/internal/testutil/kamailio"
	_ "github.com/sipht/sipht/modules/pike"
)

// The pike differential: the same bursts of OPTIONS, sent by sipp, to
// Kamailio 5.6 and to sipht running testdata/pike/pike.cfg, which answers
// every request with pike_check_req()'s return code in the reason phrase;
// then pike.top through the real kamcmd and JSON-RPC. Kamailio's transcripts
// are the goldens (testdata/pike/*.golden, re-recorded with -update).
//
// sipht runs in-process (servertest): the sipht binary cannot run the
// config yet because sl, pv, ctl, xhttp and jsonrpcs are not modules of
// sipht yet, so the servertest stub module provides sl_send_reply and $rc,
// and the test serves the RPC registry over BINRPC and JSON-RPC itself.

// pikeServer is one server under test.
type pikeServer struct {
	dir        string
	sip4, sip6 string // host:port
	logs       func() string
	kamcmd     func(args ...string) string
	jsonrpc    func(body string) []byte
}

// pikeCase is one server run.
type pikeCase struct {
	name    string
	about   string
	defines []string
	steps   []pikeStep
}

type pikeStep struct {
	title string
	run   func(t *testing.T, s *pikeServer, tr *transcript)
}

// burst sends n OPTIONS from src one after the other (sipp, no
// retransmissions) and records each answer's status line.
func burst(src string, n int) pikeStep {
	return pikeStep{
		title: fmt.Sprintf("%d OPTIONS in a row from %s", n, src),
		run: func(t *testing.T, s *pikeServer, tr *transcript) {
			target := s.sip4
			if strings.Contains(src, ":") {
				target = s.sip6
			}
			res := runSipp(t, s.dir, sippRun{scenario: "options.xml", srcIP: src, target: target,
				args: []string{"-s", "e2e"}, calls: n, recvTimeout: 2 * time.Second})
			for _, l := range replyLines(res) {
				tr.line("< %s", l)
			}
		},
	}
}

func replyLines(res sippResult) []string {
	var out []string
	for _, m := range res.msgs {
		if !m.sent && !m.isRequest() {
			out = append(out, m.first)
		}
	}
	return out
}

// rateShape sends n OPTIONS from src at rate per second (real time, with
// short sampling units) and records the shape of pike's verdicts, which is
// the same on every run even though where a window boundary falls is not:
// "not blocked", or "blocked after at most max passes and never let
// through again".
func rateShape(src string, rate, n, max int) pikeStep {
	return pikeStep{
		title: fmt.Sprintf("%d OPTIONS from %s at %d per second", n, src, rate),
		run: func(t *testing.T, s *pikeServer, tr *transcript) {
			res := runSipp(t, s.dir, sippRun{scenario: "options.xml", srcIP: src, target: s.sip4,
				args: []string{"-s", "e2e", "-r", strconv.Itoa(rate)}, calls: n, recvTimeout: 2 * time.Second})
			lines := replyLines(res)
			passes, blockedAt, after := 0, -1, 0
			for i, l := range lines {
				switch {
				case strings.HasSuffix(l, "pike 1") && blockedAt < 0:
					passes++
				case strings.HasSuffix(l, "pike -2") && blockedAt < 0:
					blockedAt = i
				case strings.HasSuffix(l, "pike -1") && blockedAt >= 0:
					after++
				default:
					tr.line("    unexpected answer %d: %s", i+1, l)
				}
			}
			switch {
			case len(lines) != n:
				tr.line("    %d of %d answered", len(lines), n)
			case blockedAt < 0:
				tr.line("    never blocked")
			case passes <= max && after == n-passes-1:
				tr.line("    blocked after at most %d passes, never let through again", max)
			default:
				tr.line("    blocked after %d passes (more than %d), then %d of %d blocked", passes, max, after, n-passes-1)
			}
			t.Logf("%s at %d/s: %d passes, blocked at %d", src, rate, passes, blockedAt+1)
		},
	}
}

// kamcmdPike records a kamcmd call.
func kamcmdPike(args ...string) pikeStep {
	return pikeStep{
		title: "kamcmd " + strings.Join(args, " "),
		run: func(t *testing.T, s *pikeServer, tr *transcript) {
			tr.block(normExpires(s.kamcmd(args...)))
		},
	}
}

// jsonrpcPike records a JSON-RPC call, re-encoded canonically.
func jsonrpcPike(method string, params ...string) pikeStep {
	return pikeStep{
		title: fmt.Sprintf("JSON-RPC %s %s", method, strings.Join(params, " ")),
		run: func(t *testing.T, s *pikeServer, tr *transcript) {
			ps := make([]string, len(params))
			for i, p := range params {
				ps[i] = strconv.Quote(p)
			}
			out := s.jsonrpc(fmt.Sprintf(`{"jsonrpc":"2.0","method":%q,"params":[%s],"id":1}`, method, strings.Join(ps, ",")))
			j, err := canonicalJSON(out)
			if err != nil {
				t.Errorf("JSON-RPC %s: %v: %q", method, err, out)
				j = string(out)
			}
			tr.line("    %s", normExpires(j))
		},
	}
}

var (
	expiresRE = regexp.MustCompile(`("?expires"?: ?)[0-9]+`)
	blockRE   = regexp.MustCompile(`PIKE - BLOCKing ip \S+?,`)
)

// normExpires replaces pike.top's "expires" values (seconds left, which
// depend on timing) by <s>.
func normExpires(s string) string { return expiresRE.ReplaceAllString(s, "${1}<s>") }

// blockLogs records the "PIKE - BLOCKing ip X," lines logged so far.
func blockLogs() pikeStep {
	return pikeStep{
		title: "BLOCKing log lines so far",
		run: func(t *testing.T, s *pikeServer, tr *transcript) {
			time.Sleep(100 * time.Millisecond)
			for _, l := range blockRE.FindAllString(s.logs(), -1) {
				tr.line("    %s", strings.TrimSuffix(l, ","))
			}
		},
	}
}

var pikeCases = []pikeCase{
	{
		name:  "x3",
		about: "reqs_density_per_unit=3, one long window: the fact sheet's 14 requests, a neighbour, IPv6, pike.top",
		steps: []pikeStep{
			burst("127.0.0.8", 14),
			burst("127.0.0.9", 5),
			burst("::1", 21),
			burst("127.0.0.10", 2), // a leaf with one leaf hit: not hot
			blockLogs(),
			kamcmdPike("pike.top", "ALL"),
			kamcmdPike("pike.top"),
			kamcmdPike("pike.list", "hot"),
			kamcmdPike("pike.top", "warm"),
			kamcmdPike("pike.top", "xAllx"),
			kamcmdPike("pike.top", "bogus"),
			kamcmdPike("pike.top", "5"),
			jsonrpcPike("pike.top", "ALL"),
			jsonrpcPike("pike.list"),
			jsonrpcPike("pike.top", "nothing"),
		},
	},
	{
		name:    "x16",
		about:   "reqs_density_per_unit=16 (examples/antiflood.cfg's value), one long window",
		defines: []string{"PIKE_DENSITY=16"},
		steps: []pikeStep{
			burst("127.0.0.8", 25),
			burst("127.0.0.9", 19),
			burst("127.0.0.10", 2), // grown from a busy prefix: WARM
			burst("::1", 3),        // a prefix only: not listed
			blockLogs(),
			kamcmdPike("pike.top", "ALL"),
		},
	},
	{
		name:    "rate",
		about:   "reqs_density_per_unit=10 per 1 s unit, real time: 25 requests/s are blocked for good, 5/s never",
		defines: []string{"PIKE_DENSITY=10", "PIKE_UNIT=1"},
		steps: []pikeStep{
			// path growth 4 hits, then at most 2 windows to reach 10 leaf hits
			rateShape("127.0.0.8", 25, 75, 4+2*10),
			rateShape("127.0.0.9", 5, 15, 0),
		},
	},
}

// runPikeCases runs the cases on servers made by start and compares the
// transcripts with the goldens (recording them when record and -update).
func runPikeCases(t *testing.T, record bool, start func(t *testing.T, defines []string) *pikeServer) {
	sippBin(t)
	for _, c := range pikeCases {
		t.Run(c.name, func(t *testing.T) {
			s := start(t, c.defines)
			tr := newTranscript()
			tr.line("# %s: %s", c.name, c.about)
			for i, st := range c.steps {
				tr.line("")
				tr.line("== %d. %s", i+1, st.title)
				st.run(t, s, tr)
			}
			checkGolden(t, goldenPath("pike", c.name), tr.String(), record)
		})
	}
}

func pikeConfig(t testing.TB) string {
	return filepath.Join(repoRoot(t), "test", "e2e", "testdata", "pike", "pike.cfg")
}

// TestPikeKamailioOracle runs the pike cases on Kamailio 5.6.
func TestPikeKamailioOracle(t *testing.T) {
	bin := kamailio.Binary(t)
	runPikeCases(t, true, func(t *testing.T, defines []string) *pikeServer {
		sip6 := testutil.FreeUDPPort(t, "::1")
		srv := startServer(t, startOptions{kind: kamailioServer, bin: bin, cfg: pikeConfig(t),
			defines: append([]string{"SIP6_PORT=" + strconv.Itoa(sip6)}, defines...)})
		return &pikeServer{
			dir:  srv.dir,
			sip4: srv.sipAddr(),
			sip6: fmt.Sprintf("[::1]:%d", sip6),
			logs: func() string { b, _ := os.ReadFile(srv.logPath); return string(b) },
			kamcmd: func(args ...string) string {
				return srv.kamcmd(t, args...)
			},
			jsonrpc: func(body string) []byte {
				resp, err := http.Post("http://"+srv.httpAddr()+"/RPC", "application/json", strings.NewReader(body))
				if err != nil {
					t.Fatalf("JSON-RPC: %v", err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return b
			},
		}
	})
}

// TestPikeSipht runs the same cases on sipht in-process and compares with
// Kamailio's goldens.
func TestPikeSipht(t *testing.T) {
	servertest.RegisterStub()
	kamailio.KamcmdBinary(t)
	runPikeCases(t, false, func(t *testing.T, defines []string) *pikeServer {
		sip4, sip6 := testutil.FreeUDPPort(t, "127.0.0.1"), testutil.FreeUDPPort(t, "::1")
		var defs []cfg.Define
		for _, d := range append([]string{"LISTEN_IP=127.0.0.1", "SIP_PORT=" + strconv.Itoa(sip4),
			"SIP6_PORT=" + strconv.Itoa(sip6), "CHILDREN=2"}, defines...) {
			cd, err := cfg.ParseDefineArg(d)
			if err != nil {
				t.Fatal(err)
			}
			defs = append(defs, cd)
		}
		r := servertest.Start(t, "", func(o *siphtserver.Options) {
			o.File = pikeConfig(t)
			o.Defines = defs
		})
		dir := t.TempDir()
		sock := filepath.Join(dir, "ctl")
		ctx, cancel := context.WithCancel(context.Background())
		ctl, err := binrpc.Listen(ctx, "unixs:"+sock, binrpc.Options{Registry: r.Srv.RPC})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cancel(); ctl.Close() })
		disp := &jsonrpc.Dispatcher{Registry: r.Srv.RPC}
		return &pikeServer{
			dir:    dir,
			sip4:   fmt.Sprintf("127.0.0.1:%d", sip4),
			sip6:   fmt.Sprintf("[::1]:%d", sip6),
			logs:   r.Logs.String,
			kamcmd: func(args ...string) string { return kamailio.MustKamcmd(t, "unixs:"+sock, args...) },
			jsonrpc: func(body string) []byte {
				_, out, err := disp.Exec(context.Background(), []byte(body), "jsonrpc-http")
				if err != nil {
					t.Fatal(err)
				}
				return out
			},
		}
	})
}
