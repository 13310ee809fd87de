package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/testutil"
	"github.com/sipht/sipht/internal/testutil/kamailio"
)

// TestSeedClusterSharesAuthCount runs examples/seed.cfg with -A WITH_DMQ
// on two nodes (the tutorial's "share the tables between servers"): a
// source that fails authentication three times on the first node and goes
// on on the second is rate-limited after its sixth failure in total, on the
// second node. Both pairs run: two sipht nodes, and a Kamailio 5.6 node
// joined by a sipht node.
func TestSeedClusterSharesAuthCount(t *testing.T) {
	sippBin(t)
	sipht := siphtBin(t)
	pairs := []struct {
		name                  string
		firstKind, secondKind serverKind
		firstBin              func(t *testing.T) string
	}{
		{"sipht+sipht", siphtServer, siphtServer, func(*testing.T) string { return sipht }},
		{"kamailio+sipht", kamailioServer, siphtServer, func(t *testing.T) string { return kamailio.Binary(t) }},
	}
	cfg := filepath.Join(repoRoot(t), "examples", "seed.cfg")
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			portA := testutil.FreeUDPPort(t, "127.0.0.1")
			uriA := fmt.Sprintf(`"sip:127.0.0.1:%d"`, portA)
			a := startServer(t, startOptions{kind: p.firstKind, bin: p.firstBin(t), cfg: cfg, sipPort: portA,
				defines: []string{"WITH_DMQ", "DMQ_ADDRESS=" + uriA, "DMQ_NOTIFY=" + uriA}})
			portB := testutil.FreeUDPPort(t, "127.0.0.1")
			uriB := fmt.Sprintf(`"sip:127.0.0.1:%d"`, portB)
			b := startServer(t, startOptions{kind: p.secondKind, bin: sipht, cfg: cfg, sipPort: portB,
				defines: []string{"WITH_DMQ", "DMQ_ADDRESS=" + uriB, "DMQ_NOTIFY=" + uriA}})
			waitFor(t, 20*time.Second, "the nodes see each other active", func() bool {
				return seesActive(a.kamcmd(t, "dmq.list_nodes"), portB) &&
					seesActive(b.kamcmd(t, "dmq.list_nodes"), portA)
			}, func() string {
				return "first node:\n" + a.kamcmd(t, "dmq.list_nodes") + "\nsecond node:\n" + b.kamcmd(t, "dmq.list_nodes") +
					"\nfirst node log:\n" + a.logTail(3000) + "\nsecond node log:\n" + b.logTail(3000)
			})

			// Three counted failures on the first node.
			got := clusterRegister(t, a, "127.0.0.3", "wrong", 2)
			if want := codes(401, 3); !slices.Equal(got, want) {
				t.Fatalf("first node: codes %v, want %v", got, want)
			}
			waitFor(t, 10*time.Second, "the second node sees 127.0.0.3 at 3", func() bool {
				return strings.Contains(b.kamcmd(t, "htable.get", "AuthCount", "127.0.0.3"), "value: 3")
			})
			// The second node goes on counting from 3: three more
			// failures, then 429.
			got = clusterRegister(t, b, "127.0.0.3", "wrong", 8)
			if want := codes(401, 3, 429, 6); !slices.Equal(got, want) {
				t.Fatalf("second node: codes %v, want %v", got, want)
			}
			// And the first node, told by the second, rate-limits too.
			waitFor(t, 10*time.Second, "the first node sees 127.0.0.3 at 6", func() bool {
				return strings.Contains(a.kamcmd(t, "htable.get", "AuthCount", "127.0.0.3"), "value: 6")
			})
			if got := clusterRegister(t, a, "127.0.0.3", "wrong", 0); !slices.Equal(got, []int{429}) {
				t.Fatalf("first node after the second counted: codes %v, want [429]", got)
			}
			checkDMQMetrics(t, b.scrape(t), p.firstKind == kamailioServer)
		})
	}
}

// checkDMQMetrics checks the DMQ families of a sipht node's /metrics after
// the exchange above: nodes by status, KDMQ messages by channel and result,
// the htable replication counters of the protocol the peer speaks, and the
// sync duration.
func checkDMQMetrics(t *testing.T, m metrics, peerIsKamailio bool) {
	t.Helper()
	if n := m.series("sipht_dmq_nodes")[`status="active"`]; n < 2 {
		t.Errorf("sipht_dmq_nodes{status=active} = %v, want >= 2 (this node and its peer)", n)
	}
	ok := 0.0
	for labels, v := range m.series("sipht_dmq_messages_sent_total") {
		if strings.Contains(labels, `result="200"`) {
			ok += v
		}
	}
	if ok == 0 {
		t.Errorf("no KDMQ request answered 200 in sipht_dmq_messages_sent_total: %v", m.series("sipht_dmq_messages_sent_total"))
	}
	one := func(name string) float64 { return m.series(name)[""] }
	if peerIsKamailio {
		if one("sipht_dmq_htable_kamailio_sent_total") == 0 || one("sipht_dmq_htable_kamailio_received_total") == 0 {
			t.Errorf("Kamailio-format replication not counted: sent %v, received %v",
				one("sipht_dmq_htable_kamailio_sent_total"), one("sipht_dmq_htable_kamailio_received_total"))
		}
		if r := one("sipht_dmq_htable_kamailio_rejected_total"); r != 0 {
			t.Errorf("Kamailio rejected %v of sipht's requests", r)
		}
	} else if one("sipht_dmq_htable_sipht_sent_total") == 0 || one("sipht_dmq_htable_sipht_received_total") == 0 {
		t.Errorf("sipht-extension replication not counted: sent %v, received %v",
			one("sipht_dmq_htable_sipht_sent_total"), one("sipht_dmq_htable_sipht_received_total"))
	}
	if _, ok := m["sipht_dmq_htable_last_sync_seconds"]; !ok {
		t.Error("sipht_dmq_htable_last_sync_seconds is missing")
	}
}

// clusterRegister runs register.xml from src against srv and returns the
// final status codes in order.
func clusterRegister(t *testing.T, srv *server, src, password string, tries int) []int {
	t.Helper()
	res := runSipp(t, srv.dir, sippRun{
		scenario: "register.xml", srcIP: src, srcPort: testutil.FreeUDPPort(t, src), target: srv.sipAddr(),
		args: []string{"-s", "alice", "-au", "alice", "-ap", password, "-set", "tries", strconv.Itoa(tries)},
	})
	var out []int
	for _, m := range res.msgs {
		if !m.sent && !m.isRequest() && m.statusCode() >= 200 {
			out = append(out, m.statusCode())
		}
	}
	return out
}

// seesActive reports whether a kamcmd dmq.list_nodes output lists the
// node on port as active. (Kamailio lists its own notification address as
// a node of its own besides itself, so nodes are matched, not counted.)
func seesActive(listNodes string, port int) bool {
	for _, block := range strings.Split(listNodes, "}") {
		if strings.Contains(block, fmt.Sprintf("port: %d\n", port)) && strings.Contains(block, "status: active") &&
			strings.Contains(block, "local: 0") {
			return true
		}
	}
	return false
}

// waitFor polls cond until it holds or max passes; explain, if given,
// adds what to look at to the failure.
func waitFor(t *testing.T, max time.Duration, what string, cond func() bool, explain ...func() string) {
	t.Helper()
	deadline := time.Now().Add(max)
	for !cond() {
		if time.Now().After(deadline) {
			more := ""
			for _, f := range explain {
				more += "\n" + f()
			}
			t.Fatalf("timed out after %v waiting until %s%s", max, what, more)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
