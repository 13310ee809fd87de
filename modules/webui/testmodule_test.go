package webui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/rpc/jsonrpc"
	"github.com/sipht/sipht/internal/script"
)

// testModule ("webuitest") stands in for the parts of the seed config that
// need modules not on main yet (pv's $si, sl_send_reply): it declares
//
//   - webuitest_rate_limited(): the seed's REQINIT check, true after
//     answering "429 Rate limiting" when $sht(AuthCount=>$si) > 5;
//   - webuitest_count_failure(): $sht(AuthCount=>$si) = $sht(AuthCount=>$si) + 1;
//   - webuitest_forgive(): $sht(AuthCount=>$si) = $null, then 200 OK;
//   - webuitest_options(): true after answering 200 to an OPTIONS.
//
// They work through the RPC registry (htable.get, htable.seti,
// htable.delete) on the real htable module. Authentication itself is the
// real auth and auth_db modules'. When pv and sl are on main, the test can
// run the seed config itself.
type testModule struct {
	disp *jsonrpc.Dispatcher
}

var registerOnce sync.Once

func registerTestModule() {
	registerOnce.Do(func() {
		module.Register(module.Info{Name: "webuitest", Summary: "web UI test double: the seed config's failed-auth counter",
			New: func() module.Module { return &testModule{} }})
	})
}

func (m *testModule) Params() []module.Param { return nil }

func (m *testModule) Init(h *module.Host) error {
	m.disp = &jsonrpc.Dispatcher{Registry: h.RPC}
	fn := func(name string, run func(c *script.Ctx, ip string) int) script.Func {
		return script.Func{Name: name, Module: "webuitest", Routes: script.RequestRoute,
			Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
				return func(c *script.Ctx) int { return run(c, c.Msg.Source.Addr().Unmap().String()) }, nil
			}}
	}
	for _, f := range []script.Func{
		fn("webuitest_rate_limited", func(c *script.Ctx, ip string) int {
			if m.count(ip) > 5 {
				h.SIP.Respond(c.Msg, 429, "Rate limiting", nil)
				return 1
			}
			return -1
		}),
		fn("webuitest_count_failure", func(c *script.Ctx, ip string) int {
			if err := m.rpc(nil, "htable.seti", "AuthCount", ip, m.count(ip)+1); err != nil {
				c.Log.Error("webuitest: htable.seti failed", "err", err)
				return -1
			}
			return 1
		}),
		fn("webuitest_forgive", func(c *script.Ctx, ip string) int {
			m.rpc(nil, "htable.delete", "AuthCount", ip)
			h.SIP.Respond(c.Msg, 200, "OK", nil)
			return 1
		}),
		fn("webuitest_options", func(c *script.Ctx, ip string) int {
			if c.Msg.Req.Method.String() != "OPTIONS" {
				return -1
			}
			h.SIP.Respond(c.Msg, 200, "OK", nil)
			return 1
		}),
	} {
		if err := h.Script.AddFunc(f); err != nil {
			return err
		}
	}
	return nil
}

// count is $sht(AuthCount=>ip) (0 when absent).
func (m *testModule) count(ip string) int {
	var got struct {
		Result struct {
			Item struct {
				Value any `json:"value"`
			} `json:"item"`
		} `json:"result"`
	}
	if err := m.rpc(&got, "htable.get", "AuthCount", ip); err != nil {
		return 0
	}
	switch v := got.Result.Item.Value.(type) {
	case float64:
		return int(v)
	case string:
		n, _ := strconv.Atoi(v)
		return n
	}
	return 0
}

// rpc runs a JSON-RPC call in-process and decodes its reply into out.
func (m *testModule) rpc(out any, method string, params ...any) error {
	doc, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": method, "params": params, "id": 1})
	st, body, err := m.disp.Exec(context.Background(), doc, "webuitest")
	if err != nil {
		return err
	}
	if st.Code != 200 {
		return fmt.Errorf("%s: %d %s", method, st.Code, st.Reason)
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}
