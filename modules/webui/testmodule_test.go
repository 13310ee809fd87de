package webui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/rpc/jsonrpc"
	"github.com/sipht/sipht/internal/rpc/rpctest"
	"github.com/sipht/sipht/internal/script"
)

// testModule ("webuitest") stands in for the modules that are not on main
// yet: with fake_htable=1 it registers rpctest's fake htable.* methods with
// the seed config's tables (MessageCount; AuthCount with autoexpire 360),
// and it declares webuitest_auth_failed(), which does what the seed
// config's REQINIT and AUTH blocks do for a REGISTER with wrong
// credentials: 429 "Rate limiting" when $sht(AuthCount=>$si) > 5, else
// AuthCount[$si] + 1 and 401. OPTIONS get 200. It works through the RPC registry
// (htable.get, htable.seti), so it runs the same on the real htable module.
//
// When the auth, registrar and htable modules are on main, the browser
// test can load them with the seed config instead and send real
// REGISTERs with a wrong password.
type testModule struct {
	fake bool
	disp *jsonrpc.Dispatcher
	F    *rpctest.FakeHTable
}

var registerOnce sync.Once

func registerTestModule() {
	registerOnce.Do(func() {
		module.Register(module.Info{Name: "webuitest", Summary: "web UI test double: fake htable, failed-auth counter",
			New: func() module.Module { return &testModule{} }})
	})
}

func (m *testModule) Params() []module.Param {
	return []module.Param{{Name: "fake_htable", Kind: module.ParamInt,
		Set: func(v module.Value) error { m.fake = v.Int == 1; return nil }}}
}

func (m *testModule) Init(h *module.Host) error {
	m.disp = &jsonrpc.Dispatcher{Registry: h.RPC}
	if m.fake {
		m.F = rpctest.NewFakeHTable(rpctest.TableDef{Name: "MessageCount", Size: 12},
			rpctest.TableDef{Name: "AuthCount", Size: 12, AutoExpire: 360})
		if err := m.F.Register(h.RPC); err != nil {
			return err
		}
	}
	return h.Script.AddFunc(script.Func{Name: "webuitest_auth_failed", Module: "webuitest", Routes: script.RequestRoute,
		Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
			return func(c *script.Ctx) int {
				if c.Msg.Req.Method.String() == "OPTIONS" {
					h.SIP.Respond(c.Msg, 200, "OK", nil)
					return 0
				}
				ip := c.Msg.Source.Addr().Unmap().String()
				n := 0
				var got struct {
					Result struct {
						Item struct {
							Value any `json:"value"`
						} `json:"item"`
					} `json:"result"`
				}
				if err := m.rpc(context.Background(), &got, "htable.get", "AuthCount", ip); err == nil {
					switch v := got.Result.Item.Value.(type) {
					case float64:
						n = int(v)
					case string:
						n, _ = strconv.Atoi(v)
					}
				}
				if n > 5 {
					h.SIP.Respond(c.Msg, 429, "Rate limiting", nil)
					return 0
				}
				if err := m.rpc(context.Background(), nil, "htable.seti", "AuthCount", ip, n+1); err != nil {
					c.Log.Error("webuitest: htable.seti failed", "err", err)
				}
				h.SIP.Respond(c.Msg, 401, "Unauthorized", nil)
				return 0
			}, nil
		}})
}

// rpc runs a JSON-RPC call in-process and decodes its reply into out.
func (m *testModule) rpc(ctx context.Context, out any, method string, params ...any) error {
	doc, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": method, "params": params, "id": 1})
	st, body, err := m.disp.Exec(ctx, doc, "webuitest")
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
