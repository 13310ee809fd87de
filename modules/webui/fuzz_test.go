package webui

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzTableQuery sends arbitrary query strings to the table page (whose
// parameters a link can carry): the answer is a page or a 400, never a
// panic, and nothing from the query comes back unescaped.
func FuzzTableQuery(f *testing.F) {
	for _, s := range []string{
		"t=AuthCount", "t=AuthCount&q=127.&n=25", "t=AuthCount&c=3:1&p=0,1:2&pg=3", "t=MessageCount&c=40&p=0,20&pg=3",
		"t=<x-evil>&q=<x-evil>", "t=AuthCount&edit=3c782d6576696c3e", "t=AuthCount&edit=zz", "t=%ff&q=%00",
		"t=AuthCount&n=1000&c=99999999999999999999", "t=AuthCount&p=" + strings.Repeat("1,", 300) + "1",
	} {
		f.Add(s)
	}
	e := newEnv(f, envOpt{withList: true})
	e.ht.Fill("MessageCount", 120)
	e.ht.SetStr("AuthCount", "<x-evil>", "<x-evil>")
	f.Fuzz(func(t *testing.T, q string) {
		e.t = t
		target := "/ui/table?" + strings.NewReplacer(" ", "%20", "#", "%23").Replace(q)
		if _, err := url.ParseRequestURI(target); err != nil {
			return // no HTTP server accepts such a request line
		}
		resp := e.do(req{target: target})
		b := bodyOf(t, resp)
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%q: status %d", q, resp.StatusCode)
		}
		if strings.Contains(b, "<x-evil") {
			t.Fatalf("%q: unescaped <x-evil in the page", q)
		}
	})
}

// FuzzItem stores an arbitrary item name and value (SIP sources choose
// them), renders the table and its edit form, and deletes the item with
// the page's own form: nothing is rendered unescaped and the exact bytes
// are deleted.
func FuzzItem(f *testing.F) {
	for _, s := range hostile {
		f.Add(s, s)
	}
	f.Add("127.0.0.1", "6")
	e := newEnv(f, envOpt{withList: true})
	f.Fuzz(func(t *testing.T, name, value string) {
		if name == "" || len(name) > 4096 || len(value) > 4096 {
			return
		}
		e.t = t
		e.ht.SetStr("AuthCount", name+"<x-evil>", value+"<x-evil>")
		key := name + "<x-evil>"
		q := key[max(0, len(key)-maxFilter):] // a substring the search accepts
		target := "/ui/table?t=AuthCount&q=" + urlQuery(q) + "&edit=" + hexOf(key)
		b, _ := e.get(target)
		if strings.Contains(b, "<x-evil") {
			t.Fatalf("name %q value %q: unescaped in the page", name, value)
		}
		m := regexpKX.FindStringSubmatch(b)
		if m == nil || m[1] != hexOf(key) {
			t.Fatalf("name %q: no delete form with its exact bytes", name)
		}
		sc, tok := e.session(target)
		_, fl := e.post("/ui/table/delete", sc, map[string][]string{"t": {"AuthCount"}, "kx": {m[1]}, "csrf": {tok}, "back": {"/ui/"}})
		if !strings.HasPrefix(fl, "Deleted ") || strings.Contains(fl, "<x-evil") {
			t.Fatalf("name %q: delete flash %q", name, fl)
		}
	})
}
