package webui_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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
// OPTIONS (200) from a few loopback sources, about 40 requests per second
// for at most limit, until the returned stop is called.
func traffic(t *testing.T, r *servertest.Running, limit time.Duration) (stop func()) {
	t.Helper()
	var cs []*servertest.Client
	for i := 0; i < 3; i++ {
		cs = append(cs, servertest.DialFrom(t, fmt.Sprintf("127.0.0.%d:0", 20+i), r.UDP))
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		end := time.Now().Add(limit)
		for n := 0; time.Now().Before(end); n++ {
			select {
			case <-done:
				return
			case <-time.After(25 * time.Millisecond):
			}
			m := "REGISTER"
			if n%4 == 0 {
				m = "OPTIONS"
			}
			c := cs[n%len(cs)]
			c.Send(t, servertest.Request(m, "sip:127.0.0.1", nil, ""))
			c.Read(t, 100*time.Millisecond)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { close(done); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// TestBrowser is issue 9's browser test: after failed registrations from
// 127.0.0.5, a user opens the page in headless Chromium, finds the address
// in the AuthCount table, clicks delete, and the item is gone for a
// JSON-RPC user too. The screenshots are test artifacts.
//
// The failed registrations are the test module's stand-in for the seed
// config's auth block (see testmodule_test.go) until auth/registrar are on
// main.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: not in -short mode")
	}
	dir := artifactDir(t)
	ctx := browser(t)
	r := servertest.Start(t, webuiConfig(`modparam("webui", "title", "sipht demo")`+"\n"))
	base := "http://" + r.TCP

	codes := failRegistrations(t, r, "127.0.0.5:0", 7)
	if codes[5] != 401 || codes[6] != 429 {
		t.Fatalf("REGISTER replies %v, want six 401 then 429", codes)
	}

	// the overview, with the live chart fed while traffic flows
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/ui/"),
		chromedp.WaitVisible(css(`#tables tr[data-table="AuthCount"]`)),
	); err != nil {
		t.Fatalf("open /ui/: %v\n%s", err, r.Logs.String())
	}
	stop := traffic(t, r, time.Minute)
	if err := chromedp.Do(ctx,
		chromedp.Sleep(8*time.Second), // the chart polls every second
		chromedp.WaitVisible(css(`#chart polyline.s-req`)),
	); err != nil {
		t.Fatalf("chart: %v", err)
	}
	rps := text(t, ctx, `#now-rps`)
	screenshot(t, ctx, filepath.Join(dir, "overview.png"))
	stop()

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
	t.Logf("chart showed %s requests/s; screenshots in %s", rps, dir)
}
