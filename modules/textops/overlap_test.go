package textops_test

import (
	"testing"

	"github.com/sipht/sipht/internal/modtest"
)

// Edits that overlap are resolved as Kamailio resolves its lumps.
func TestCompareOverlappingEdits(t *testing.T) {
	req := `OPTIONS sip:test@127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP {via};branch=z9hG4bK-o1
From: <sip:alice@127.0.0.1>;tag=1
To: <sip:test@127.0.0.1>
Call-ID: ov-1@127.0.0.1
CSeq: 1 OPTIONS
Max-Forwards: 70
User-Agent: sipht-x
X-Test: hello
Content-Length: 0

`
	cases := []modtest.Case{
		{Name: "append into removed header", Request: req, Body: `
	remove_hf("X-Test");
	search_append("hello", "-sa");
	FWD;`},
		{Name: "replace inside subst", Request: req, Body: `
	subst("/^User-Agent: (.*)$/User-Agent: \1 subst/");
	replace("sipht", "REPL");
	FWD;`},
		{Name: "replace twice", Request: req, Body: `
	replace("hello", "one");
	replace("hello", "two");
	replace("ell", "three");
	FWD;`},
		{Name: "remove twice and insert", Request: req, Body: `
	remove_hf("X-Test");
	remove_hf("X-Test");
	insert_hf("X-I: 1\r\n", "X-Test");
	append_hf("X-J: 1\r\n", "X-Test");
	FWD;`},
		{Name: "append without line end", Request: req, Body: `
	append_hf("X-A: 1");
	append_hf("X-B: 2\r\n");
	FWD;`},
		{Name: "many appends and inserts", Request: req, Body: `
	insert_hf("X-1: 1\r\n");
	insert_hf("X-2: 2\r\n");
	append_hf("X-3: 3\r\n", "Via");
	append_hf("X-4: 4\r\n", "Via");
	insert_hf("X-5: 5\r\n", "Via");
	FWD;`},
		{Name: "reply headers without line end", Request: req, Body: `
	append_to_reply("X-R: 1");
	append_to_reply("X-S: 2\r\n");
	REPLY("403", "No");`},
	}
	modtest.Compare(t, []string{"textops"}, "", cases)
}
