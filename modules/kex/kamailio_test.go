package kex_test

import (
	"testing"

	"github.com/sipht/sipht/internal/modtest"
	_ "github.com/sipht/sipht/modules/corex"
	_ "github.com/sipht/sipht/modules/kex"
)

const req = `INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP {via};branch=z9hG4bK-k1
From: <sip:alice@127.0.0.1>;tag=1
To: <sip:bob@example.com>
Call-ID: kex-1@127.0.0.1
CSeq: 1 INVITE
Max-Forwards: 70
Content-Length: 0

`

func TestCompareKexCorex(t *testing.T) {
	cases := []modtest.Case{
		{Name: "sflags", Request: req, Body: `
	issflagset("3"); LOG("a $rc");
	setsflag("3"); issflagset("3"); LOG("b $rc");
	resetsflag("3"); issflagset("3"); LOG("c $rc");
	setsflag("32"); LOG("d $rc");`},
		{Name: "sflags reset per message", Request: req, Body: `issflagset("3"); LOG("new message $rc");`},
		{Name: "bflags", Request: req, Body: `
	setbflag("1"); setbflag("4"); LOG("bf=BF $rc");
	isbflagset("4"); LOG("is4 $rc");
	resetbflag("1"); LOG("bf=BF");
	isbflagset("1"); LOG("is1 $rc");
	setbflag("2", "1"); LOG("branch 1 missing $rc");
	setbflag("40"); LOG("out of range $rc");`},
		{Name: "dst uri", Request: req, Body: `
	isdsturiset(); LOG("a $rc");
	setdsturi("sip:10.0.0.1:5070;transport=tcp"); LOG("b $rc DU");
	isdsturiset(); LOG("c $rc");
	resetdsturi(); LOG("d $rc DU");
	isdsturiset(); LOG("e $rc");`},
		{Name: "pv_printf", Request: req, Body: `
	pv_printf("$var(x)", "ru=RU n=$var(n)"); LOG("$rc [$var(x)]");
	avp_printf("$avp(y)", "v=1"); LOG("$rc [$avp(y)]");`},
		{Name: "is_myself", Request: req, Body: `
	is_myself("sip:127.0.0.1"); LOG("a $rc");
	is_myself("127.0.0.1"); LOG("b $rc");
	is_myself("sip:127.0.0.1:1"); LOG("c $rc");
	is_myself("sip:example.com"); LOG("d $rc");
	is_myself("sip:bob@127.0.0.1;transport=tcp"); LOG("e $rc");`},
		{Name: "append_branch", Request: req, Body: `
	setbflag("2");
	setdsturi("sip:10.0.0.1");
	append_branch(); LOG("a $rc DU bf=BF");
	append_branch("sip:carol@example.org"); LOG("b $rc");
	append_branch("sip:dave@example.org", "0.5"); LOG("c $rc");
	append_branch("sip:eve@example.org", "x"); LOG("d $rc");
	LOG("BR(uri,0) BR(dst_uri,0) BR(uri,1) BR(uri,2) BR(uri,3)");`},
		{Name: "xflags", Request: req, Body: `
	setxflag("40"); isxflagset("40"); LOG("a $rc");
	resetxflag("40"); isxflagset("40"); LOG("b $rc");
	is_faked_msg(); LOG("faked $rc");`},
	}
	modtest.Compare(t, []string{"kex", "corex"}, "", cases)
}
