package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sipht/sipht/internal/testutil"
)

// The web UI in a browser (issue 9): headless Chromium (Debian's chromium
// package, driven by chromedp) against the sipht binary running
// examples/seed.cfg and examples/antiflood.cfg, with SIP traffic from sipp.
//
//	go test ./test/e2e -run TestBrowser -v
//	SIPHT_WEBUI_TRAFFIC_SECONDS=60 SIPHT_SCREENSHOT=docs/img/webui.png go test ./test/e2e -run TestBrowser/antiflood -v
//
// The second line remakes the README's screenshot (a path relative to the
// repository root, or absolute).

// artifactDir is where the browser test saves its screenshots:
// $SIPHT_ARTIFACTS/webui/<test> when set (CI keeps it), else a temporary
// directory of the test.
func artifactDir(t *testing.T) string {
	t.Helper()
	a := os.Getenv("SIPHT_ARTIFACTS")
	if a == "" {
		return t.TempDir()
	}
	dir := filepath.Join(a, "webui", strings.ReplaceAll(t.Name(), "/", "-"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser starts headless Chromium (Debian's chromium package) with a
// fresh profile and returns a chromedp context on one tab, valid for
// limit.
func browser(t *testing.T, limit time.Duration) context.Context {
	t.Helper()
	exe := testutil.LookPath(t, "chromium", "/usr/bin/chromium", "/usr/lib/chromium/chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelB := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancelB(); cancelA() }) // stops Chromium
	if err := chromedp.Do(bctx); err != nil {  // starts it (no timeout on this one)
		t.Fatalf("start chromium %s: %v", exe, err)
	}
	ctx, cancelC := context.WithTimeout(bctx, limit)
	t.Cleanup(cancelC)
	return ctx
}

func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// text returns the visible text of the first element matching sel.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(css(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func screenshot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// trafficTime is how long the overview watches traffic before its
// screenshot: 8 s, or $SIPHT_WEBUI_TRAFFIC_SECONDS (60 for the README's
// screenshot).
func trafficTime(t *testing.T) time.Duration {
	if s := os.Getenv("SIPHT_WEBUI_TRAFFIC_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 300 {
			t.Fatalf("SIPHT_WEBUI_TRAFFIC_SECONDS=%q: want 1 to 300", s)
		}
		return time.Duration(n) * time.Second
	}
	return 8 * time.Second
}

// traffic runs sipp clients in the background until stop is called (at
// most limit): OPTIONS from 127.0.0.20 (200) all along, REGISTERs with a
// wrong password (401, then 429 once the source failed more than five
// times) from 127.0.0.21 all along and from 127.0.0.22 in the middle third
// of watch, so that the chart has a shape. None is fast enough for pike
// (antiflood.cfg).
func traffic(t *testing.T, srv *server, watch, limit time.Duration) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	sipp := func(delay, length time.Duration, r sippRun, rate int) {
		r.srcPort = testutil.FreeUDPPort(t, r.srcIP) // here: it may fail the test
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			r.target = srv.sipAddr()
			r.calls = max(1, int(length.Seconds()*float64(rate)))
			r.args = append(r.args, "-r", strconv.Itoa(rate), "-timeout", strconv.Itoa(int(length.Seconds())+30)+"s")
			trace := filepath.Join(srv.dir, fmt.Sprintf("traffic-%s-%d.trace", r.srcIP, time.Now().UnixNano()))
			err := sippCommand(ctx, t, srv.dir, &r, trace).Run()
			var exit *exec.ExitError
			if err != nil && ctx.Err() == nil && !errors.As(err, &exit) { // sipp exits 1 when a call failed: no matter here
				t.Errorf("traffic from %s: %v", r.srcIP, err)
			}
		}()
	}
	wrong := func(src, user string) sippRun {
		return sippRun{scenario: "register.xml", srcIP: src, args: []string{"-s", user, "-au", user, "-ap", "wrong", "-set", "tries", "1"}}
	}
	sipp(0, limit, sippRun{scenario: "options.xml", srcIP: "127.0.0.20", args: []string{"-s", "e2e"}}, 5)
	sipp(0, limit, wrong("127.0.0.21", "alice"), 2)       // 2 calls of 2 REGISTERs per second
	sipp(watch/3, watch/3, wrong("127.0.0.22", "bob"), 3) // 3 calls per second
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// floodFrom sends n OPTIONS from src as fast as it can.
func floodFrom(t testing.TB, srv *server, src string, n int) {
	raws := make([]string, n)
	for i := range raws {
		raws[i] = fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP {via};branch=z9hG4bK-flood-%d\r\n"+
			"From: <sip:flood@%s>;tag=f%d\r\nTo: <sip:%s>\r\nCall-ID: flood-%s-%d\r\nCSeq: 1 OPTIONS\r\n"+
			"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", srv.sipAddr(), i, src, i, srv.sipAddr(), src, i)
	}
	srv.sendUDP(t, src, raws...)
}

// flooders floods from a new address (127.0.0.40, .41 ...) every 1.5 s
// until stop is called. antiflood.cfg bans each (ipban) as soon as pike
// reports it; from then on its requests are dropped before pike counts
// them, so pike lists it as HOT for only remove_latency (4 s): new
// flooders keep the page's pike section filled.
func flooders(t *testing.T, srv *server) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 100; i++ {
			floodFrom(t, srv, fmt.Sprintf("127.0.0.%d", 40+i), 40)
			select {
			case <-ctx.Done():
				return
			case <-time.After(1500 * time.Millisecond):
			}
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// rpcCall makes a JSON-RPC call over HTTP and returns the reply body.
func rpcCall(r *caseRun, method string, params ...string) string {
	ps := make([]string, len(params))
	for i, p := range params {
		ps[i] = strconv.Quote(p)
	}
	_, _, b := r.http("POST", "/RPC", fmt.Sprintf(`{"jsonrpc":"2.0","method":%q,"params":[%s],"id":1}`, method, strings.Join(ps, ",")))
	return string(b)
}

// pikeHot tells whether pike.top (HOT sources) lists ip.
func pikeHot(r *caseRun, ip string) bool {
	return strings.Contains(rpcCall(r, "pike.top"), `"ip_addr":	"`+ip+`"`)
}

// TestBrowser is issue 9's browser test, on the sipht binary running the
// example configs: 127.0.0.5 fails authentication (sipp, wrong password:
// six 401s, then 429); a user opens the page in headless Chromium while
// traffic flows, finds the address in the AuthCount table, clicks Delete,
// and the item is gone for a JSON-RPC user too, so the address is
// challenged again. On antiflood.cfg the page also shows pike's HOT
// sources, and its Unblock button unblocks one (pike.rm). The screenshots
// are test artifacts; SIPHT_SCREENSHOT copies the antiflood overview to
// the README's image.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: not in -short mode")
	}
	sippBin(t)
	bin := siphtBin(t)
	for _, c := range []struct {
		config string
		pike   bool
	}{
		{config: "seed"},
		{config: "antiflood", pike: true},
	} {
		t.Run(c.config, func(t *testing.T) {
			watch := trafficTime(t)
			dir := artifactDir(t)
			srv := startServer(t, startOptions{kind: siphtServer, bin: bin,
				cfg: filepath.Join(repoRoot(t), "examples", c.config+".cfg")})
			r := &caseRun{t: t, srv: srv, tr: newTranscript(), ports: map[string]int{}}
			base := "http://" + srv.httpAddr()

			registerStep("127.0.0.5", "alice", "wrong", 7, "", codes(401, 6, 429, 2)).run(r)
			if c.pike {
				for _, ip := range []string{"127.0.0.30", "127.0.0.31", "127.0.0.32"} { // banned in ipban
					floodFrom(t, srv, ip, 40)
				}
			}

			// the overview while traffic flows: the chart, the tables, pike
			ctx := browser(t, watch+3*time.Minute)
			stopTraffic := traffic(t, srv, watch, watch+2*time.Minute)
			if err := chromedp.Do(ctx,
				chromedp.Navigate(base+"/ui/"),
				chromedp.WaitVisible(css(`#tables tr[data-table="AuthCount"]`)),
				chromedp.Sleep(watch), // the chart polls every second
			); err != nil {
				t.Fatalf("open /ui/: %v", err)
			}
			hotSel, stopFlood := `#pike p.off`, func() {}
			if c.pike {
				hotSel, stopFlood = `#pike tr[data-ip] button.unblock`, flooders(t, srv)
			}
			// a fresh page: the pike section as it is now (its 5 s refresh
			// is as long as a flooder stays HOT), the chart's points kept by
			// the server
			if err := chromedp.Do(ctx,
				chromedp.Navigate(base+"/ui/"),
				chromedp.WaitVisible(css(hotSel)),
				chromedp.WaitVisible(css(`#chart polyline.s-req`)),
			); err != nil {
				t.Fatalf("reload /ui/: %v", err)
			}
			rps := text(t, ctx, `#now-rps`)
			// 127.0.0.5 and the two failing traffic sources
			if got := text(t, ctx, `#tables tr[data-table="AuthCount"] td:nth-child(2)`); got != "3" {
				t.Errorf("AuthCount items on the overview: %q, want 3", got)
			}
			if got := text(t, ctx, `#pike`); !c.pike && !strings.Contains(got, "pike is not enabled") {
				t.Errorf("pike section: %q", got)
			}
			screenshot(t, ctx, filepath.Join(dir, "overview.png"))
			if p := os.Getenv("SIPHT_SCREENSHOT"); p != "" && c.pike {
				if !filepath.IsAbs(p) {
					p = filepath.Join(repoRoot(t), p)
				}
				screenshot(t, ctx, p)
			}
			if c.pike {
				// pike's Unblock button (pike.rm) on the first HOT source
				ip, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#pike tr[data-ip]').dataset.ip`))
				if err != nil {
					t.Fatal(err)
				}
				if err := chromedp.Do(ctx,
					chromedp.Click(css(`#pike tr[data-ip="`+ip+`"] button.unblock`)),
					chromedp.WaitVisible(css(`.flash`)),
				); err != nil {
					t.Fatalf("pike unblock: %v", err)
				}
				if got := text(t, ctx, `.flash`); got != "Ok. "+ip+" unblocked." {
					t.Errorf("pike unblock of %s: flash %q", ip, got)
				}
				if pikeHot(r, ip) {
					t.Errorf("pike.top still lists %s after the unblock", ip)
				}
			}
			stopFlood()
			stopTraffic()

			// the AuthCount table: search the address, check its count, delete it
			if err := chromedp.Do(ctx,
				chromedp.Navigate(base+"/ui/"),
				chromedp.Click(css(`#tables a[href="/ui/table?t=AuthCount"]`)),
				chromedp.WaitVisible(css(`#q`)),
				chromedp.SendKeys(css(`#q`), "127.0.0.5"),
				chromedp.Click(css(`#search`)),
				// the result page (the first page may list the address too)
				chromedp.WaitVisible(css(`input#q[value="127.0.0.5"]`)),
				chromedp.WaitVisible(css(`tr[data-key="127.0.0.5"]`)),
			); err != nil {
				t.Fatalf("find 127.0.0.5 in AuthCount: %v", err)
			}
			if val := text(t, ctx, `tr[data-key="127.0.0.5"] td.val`); strings.TrimSpace(val) != "6" {
				t.Errorf("AuthCount of 127.0.0.5 shows %q, want 6", val)
			}
			screenshot(t, ctx, filepath.Join(dir, "table.png"))
			if err := chromedp.Do(ctx,
				chromedp.Click(css(`tr[data-key="127.0.0.5"] button.delete`)),
				chromedp.WaitVisible(css(`.flash-ok`)),
			); err != nil {
				t.Fatalf("delete: %v", err)
			}
			flash := text(t, ctx, `.flash-ok`)
			gone, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('tr[data-key="127.0.0.5"]') === null`))
			if err != nil || flash != `Deleted "127.0.0.5" from AuthCount.` || !gone {
				t.Errorf("after the click: flash %q, row gone %v (%v)", flash, gone, err)
			}
			// the counts of the page it lands on include the change: the
			// two failing traffic sources are left
			if got := text(t, ctx, `p.facts span:first-child`); got != "2 items" {
				t.Errorf("AuthCount after the delete: %q, want 2 items", got)
			}
			screenshot(t, ctx, filepath.Join(dir, "table-deleted.png"))

			// one source of truth: a JSON-RPC user sees the delete, and the
			// address is challenged again instead of rate limited
			if got := rpcCall(r, "htable.get", "AuthCount", "127.0.0.5"); !strings.Contains(got, `"message":	"Key name doesn't exist in htable."`) {
				t.Errorf("htable.get AuthCount 127.0.0.5 after the delete: %s", got)
			}
			registerStep("127.0.0.5", "alice", "wrong", 0, "", codes(401, 1)).run(r)
			t.Logf("chart showed %s requests/s; screenshots in %s", rps, dir)
		})
	}
}
