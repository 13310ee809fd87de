package siputils_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sipht/sipht/internal/modtest"
)

// uriCorpus are URIs whose acceptance by Kamailio's parse_uri (through
// is_uri()) sipmsg.ParseURI must reproduce.
var uriCorpus = []string{
	"sip:a@b", "sip:b", "sip:b:5060", "sip:a@b:5060", "sip:a:pw@b", "sip:a:pw@b:1",
	"sips:a@b", "SIP:a@B", "sips;a@b", "tel:+1234", "tel:+1-234;phone-context=x", "urn:service:sos",
	"urn:x", "foo:a@b", "sip:", "sip:@b", "sip:a@", "sip:a@b:", "sip:a@b:99999", "sip:a@b:65535",
	"sip:a@b:65536", "sip:a@b:080", "sip:a@b:000080", "sip:a@[::1]", "sip:a@[::1]:5060", "sip:a@[::1",
	"sip:a@::1", "sip:[::1]", "sip:a@b;transport=tcp", "sip:a@b;lr", "sip:a@b;lr;x=y?h=v",
	"sip:a@b?h=v", "sip:a@b?h=v;x", "sip:a;x=y@b", "sip:a?x@b", "sip:a@b@c", "sip:a b@c",
	"sip:a@b c", "sip:a@b_c", "sip:a@-b", "sip:a@b.", "sip:a@.b", "sip:a@b&c", "sip:a@b;x@y",
	"sip:+1(234)-5.6@b;user=phone", "sip:a:b:c@d", "sip:a:@b", "sip::a@b", "sip:a@b:1a",
	"sip:a@b;", "sip:a@b;;", "sip:a@b;=", "sip:a@b?", "sip:a@b??", "sip:a@b;x:y", "sip:a[@b",
	"sip:a]@b", "sip:[a]@b", "sip:a@[b]", "sip:a@b]", "sips:[::1]:5061;transport=tls",
	"sip:%41@b", "sip:a@b:5060;user=phone?x", "sip:a:1;x=y", "sip:a:1?x", "sip:a:x;y",
	"sip:a:12@b:13", "sip:a@1.2.3.4", "sip:a@1.2.3.4:5", "sipx:a@b", "sip:\x80@b",
	"sip:a@b\x80", "tel:", "tel:1", "urn:a:b:c", "sip:a@b:5060:5060", "sip:a@b;transport=",
}

func TestCompareURIParsing(t *testing.T) {
	var b strings.Builder
	for i, u := range uriCorpus {
		fmt.Fprintf(&b, "\t$var(u) = \"%s\"; is_uri(\"$var(u)\"); LOG(\"%d $rc\");\n", u, i)
	}
	cases := []modtest.Case{{Name: "is_uri", Request: req("OPTIONS", "sip:test@127.0.0.1", ""), Body: b.String()}}
	modtest.Compare(t, []string{"siputils"}, "", cases)
}
