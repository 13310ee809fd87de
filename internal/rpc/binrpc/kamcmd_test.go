package binrpc

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sipht/sipht/internal/rpc"
	"github.com/sipht/sipht/internal/rpc/rpctest"
)

var kamcmdScript = rpctest.KamcmdScript

// TestKamcmdVsKamailio runs the real kamcmd against sipht (core methods
// and the fake htable methods) and against a real Kamailio 5.6 with the
// same tables, and requires byte-identical output (stdout, stderr, exit
// status) for every command, and the same shape for core.version,
// core.uptime, core.ps, core.psx and system.listMethods.
func TestKamcmdVsKamailio(t *testing.T) {
	rpctest.KamcmdPath(t)
	k := rpctest.StartKamailio(t, "t=>size=4;", "iv=>size=3;initval=7;autoexpire=100")

	r := rpc.NewRegistry()
	if err := rpc.RegisterCore(r, rpc.CoreInfo{Version: "0.0.1"}); err != nil {
		t.Fatal(err)
	}
	f := rpctest.NewFakeHTable(rpctest.TableDef{Name: "t", Size: 4}, rpctest.TableDef{Name: "iv", Size: 3, AutoExpire: 100})
	if err := f.Register(r); err != nil {
		t.Fatal(err)
	}
	_, path := startServer(t, r, Options{})

	want := rpctest.RunKamcmdScript(t, "unixs:"+k.CtlSocket)
	got := rpctest.RunKamcmdScript(t, "unixs:"+path)
	for i, cmd := range kamcmdScript {
		w, g := want[i], got[i]
		if cmd[0] == "!" {
			w.Out, g.Out = rpctest.ShapeKamcmd(cmd, w.Out), rpctest.ShapeKamcmd(cmd, g.Out)
		}
		if w != g {
			t.Errorf("kamcmd %q:\n--- kamailio\n%s%s\n--- sipht\n%s%s", cmd, w.Out, w.Err, g.Out, g.Err)
		}
	}
	if t.Failed() {
		t.Logf("sipht table: %s", f)
	}
}

// TestKamcmdAgainstSipht checks kamcmd output for sipht alone (runs
// without Kamailio): the §1.7 dump rendering and the fault line.
func TestKamcmdAgainstSipht(t *testing.T) {
	rpctest.KamcmdPath(t)
	_, path := startServer(t, testRegistry(t), Options{})
	spec := "unixs:" + path
	o, e, code := rpctest.Kamcmd(t, "-s", spec, "htable.dump", "t")
	want := "{\n\tentry: 3\n\tsize: 1\n\tslot: {\n\t\t{\n\t\t\tname: bob\n\t\t\tvalue: 42\n\t\t\ttype: int\n\t\t}\n\t}\n}\n" +
		"{\n\tentry: 10\n\tsize: 1\n\tslot: {\n\t\t{\n\t\t\tname: 15\n\t\t\tvalue: x\n\t\t\ttype: str\n\t\t}\n\t}\n}\n" +
		"{\n\tentry: 13\n\tsize: 1\n\tslot: {\n\t\t{\n\t\t\tname: alice\n\t\t\tvalue: hello\n\t\t\ttype: str\n\t\t}\n\t}\n}\n"
	if o != want || e != "" || code != 0 {
		t.Fatalf("dump: %q %q %d", o, e, code)
	}
	o, _, code = rpctest.Kamcmd(t, "-s", spec, "htable.get", "nosuch", "x")
	if o != "error: 500 - No such htable\n" || code != 0 {
		t.Fatalf("fault: %q %d", o, code)
	}
	// every transport kamcmd speaks
	for _, sp := range []string{"unixd:" + path + "d", fmt.Sprintf("tcp:127.0.0.1:%d", rpctest.FreePort(t, "tcp")), fmt.Sprintf("udp:127.0.0.1:%d", rpctest.FreePort(t, "udp"))} {
		s, err := Listen(t.Context(), sp, Options{Registry: testRegistry(t)})
		if err != nil {
			t.Fatal(err)
		}
		o, e, code := rpctest.Kamcmd(t, "-s", s.Spec(), "htable.get", "t", "bob")
		if !strings.Contains(o, "value: 42") || code != 0 {
			t.Errorf("%s: %q %q %d", s.Spec(), o, e, code)
		}
		s.Close()
	}
}
