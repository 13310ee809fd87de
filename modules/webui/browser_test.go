package webui_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sipht/sipht/internal/rpc/rpctest"
	"github.com/sipht/sipht/internal/servertest"
	"github.com/sipht/sipht/internal/testutil"
)

// artifactDir is where the browser test saves its screenshots:
// $SIPHT_ARTIFACTS/webui when set (CI keeps it), else a temporary
// directory of the test.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if a := os.Getenv("SIPHT_ARTIFACTS"); a != "" {
		dir = filepath.Join(a, "webui")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// browser starts headless Chromium (Debian's chromium package) with a
// fresh profile and returns a chromedp context on one tab.
func browser(t *testing.T) context.Context {
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
	ctx, cancelC := context.WithTimeout(bctx, 2*time.Minute)
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

// traffic sends REGISTERs (failed authentications: 401, then 429) and
// OPTIONS (200) from 127.0.0.20-22, about 40 requests per second, and,
// when hot is set, 100 requests at once and then 8 per second from hot
// (a flooder pike blocks), for at most limit, until stop is called.
func traffic(t *testing.T, r *servertest.Running, limit time.Duration, hot string) (stop func()) {
	t.Helper()
	var cs []*servertest.Client
	for i := 0; i < 3; i++ {
		cs = append(cs, servertest.DialFrom(t, fmt.Sprintf("127.0.0.%d:0", 20+i), r.UDP))
	}
	var flooder *servertest.Client
	if hot != "" {
		flooder = servertest.DialFrom(t, hot+":0", r.UDP)
	}
	// servertest.Request numbers requests with a package counter: build
	// them on this goroutine only
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if flooder != nil {
			for i := 0; i < 100; i++ {
				flooder.Send(t, servertest.Request("OPTIONS", "sip:127.0.0.1", nil, ""))
			}
		}
		end := time.Now().Add(limit)
		for n := 0; time.Now().Before(end); n++ {
			select {
			case <-done:
				return
			case <-time.After(time.Duration(20+15*(n/400%2)) * time.Millisecond): // two rates, ~10 s each
			}
			m := "REGISTER"
			if n%4 == 0 {
				m = "OPTIONS"
			}
			c := cs[n%len(cs)]
			c.Send(t, servertest.Request(m, "sip:127.0.0.1", nil, ""))
			c.Read(t, 100*time.Millisecond)
			if flooder != nil && n%5 == 0 {
				flooder.Send(t, servertest.Request("OPTIONS", "sip:127.0.0.1", nil, ""))
			}
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { close(done); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// trafficTime is how long the overview watches traffic before its
// screenshot: 8 s, or $SIPHT_WEBUI_TRAFFIC_SECONDS (e.g. 60 to make the
// README's screenshot).
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

// pikeHot tells whether pike.top (JSON-RPC, as a CLI user) lists ip.
func pikeHot(t *testing.T, r *servertest.Running, ip string) bool {
	b := rpctest.PostRPC(t, r.TCP, rpctest.JSONRequest("pike.top", "1")).Body
	return strings.Contains(b, `"ip_addr":	"`+ip+`"`)
}

// TestBrowser is issue 9's browser test: after failed registrations from
// 127.0.0.5 (wrong password: the real auth and auth_db modules challenge,
// the seed config's counter counts), a user opens the page in headless
// Chromium, finds the address in the AuthCount table, clicks delete, and
// the item is gone for a JSON-RPC user too; the address can register
// again. The screenshots are test artifacts.
//
// The counter and the 429 are the test module's stand-in for the seed
// config's $sht(AuthCount=>$si) lines until pv and sl are on main (see
// testmodule_test.go).
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: not in -short mode")
	}
	dir := artifactDir(t)
	ctx := browser(t)
	o := cfgOpts{pike: true}
	if compiledIn("dmq") {
		o.dmqPort = rpctest.FreePort(t, "udp")
	}
	r := servertest.Start(t, webuiConfig(t, o))
	base := "http://" + r.TCP
	hot := ""
	if compiledIn("pike") {
		hot = "127.0.0.30"
	} else {
		t.Log("pike is not compiled in: the page shows it as not enabled and the unblock button is not tested")
	}

	codes := failRegistrations(t, r, "127.0.0.5:0", 7)
	if codes[5] != 401 || codes[6] != 429 {
		t.Fatalf("REGISTER replies %v, want six 401 then 429", codes)
	}

	// the overview, with the live chart fed while traffic flows
	stop := traffic(t, r, trafficTime(t)+time.Minute, hot)
	if hot != "" {
		deadline := time.Now().Add(10 * time.Second)
		for !pikeHot(t, r, hot) {
			if time.Now().After(deadline) {
				t.Fatalf("pike does not list %s as HOT", hot)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/ui/"),
		chromedp.WaitVisible(css(`#tables tr[data-table="AuthCount"]`)),
		chromedp.Sleep(trafficTime(t)), // the chart polls every second
		chromedp.WaitVisible(css(`#chart polyline.s-req`)),
	); err != nil {
		t.Fatalf("open /ui/: %v\n%s", err, r.Logs.String())
	}
	rps := text(t, ctx, `#now-rps`)
	screenshot(t, ctx, filepath.Join(dir, "overview.png"))
	stop()
	// the sections were refreshed: the traffic's three sources are counted
	if got := text(t, ctx, `#tables tr[data-table="AuthCount"] td:nth-child(2)`); got != "4" {
		t.Errorf("AuthCount items on the refreshed overview: %q, want 4", got)
	}
	if hot != "" {
		if got := text(t, ctx, `#pike`); !strings.Contains(got, hot) {
			t.Errorf("pike section: %q", got)
		}
	}
	if o.dmqPort > 0 {
		if got := text(t, ctx, `#dmq`); !strings.Contains(got, fmt.Sprintf("127.0.0.1:%d", o.dmqPort)) || !strings.Contains(got, "this node") {
			t.Errorf("dmq section: %q", got)
		}
	}

	// the AuthCount table: search the address, check its count, delete it
	if err := chromedp.Do(ctx,
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
	screenshot(t, ctx, filepath.Join(dir, "table-deleted.png"))

	// one source of truth: the CLI's RPC sees the delete
	if got := rpcGet(t, r, "AuthCount", "127.0.0.5"); !strings.Contains(got, `"message":	"Key name doesn't exist in htable."`) {
		t.Errorf("htable.get AuthCount 127.0.0.5 after the delete: %s", got)
	}
	if got := failRegistrations(t, r, "127.0.0.5:0", 1); got[0] != 401 {
		t.Errorf("127.0.0.5 still rate limited after the delete: %v", got)
	}

	// pike's unblock button (pike.rm)
	if hot != "" {
		sel := `#pike tr[data-ip="` + hot + `"] button.unblock`
		if err := chromedp.Do(ctx,
			chromedp.Navigate(base+"/ui/"),
			chromedp.WaitVisible(css(sel)),
			chromedp.Click(css(sel)),
			chromedp.WaitVisible(css(`.flash-ok`)),
		); err != nil {
			t.Fatalf("pike unblock: %v", err)
		}
		if got := text(t, ctx, `.flash-ok`); got != "Ok. "+hot+" unblocked." {
			t.Errorf("pike unblock flash %q", got)
		}
		if pikeHot(t, r, hot) {
			t.Errorf("pike.top still lists %s after the unblock", hot)
		}
	}
	t.Logf("chart showed %s requests/s; screenshots in %s", rps, dir)
}
