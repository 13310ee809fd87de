package rpctest

import (
	"sync"

	"github.com/sipht/sipht/internal/module"
)

// ModuleName is the name of the test module RegisterModule adds.
const ModuleName = "rpctest_htable"

var registerOnce sync.Once

// RegisterModule registers (once per test binary) a module "rpctest_htable"
// for module-level tests: `loadmodule "rpctest_htable.so"` gives the
// server FakeHTable's htable.* methods with the tables of KamcmdScript
// and JSONScript (t: size 4; iv: size 3, autoexpire 100) and the
// bench.dump generator (modparam("rpctest_htable", "dump_items", N),
// default 1000).
func RegisterModule() {
	registerOnce.Do(func() {
		module.Register(module.Info{Name: ModuleName, Summary: "test double of htable's RPC methods",
			New: func() module.Module { return &fakeModule{items: 1000} }})
	})
}

type fakeModule struct {
	items int
	F     *FakeHTable
}

func (m *fakeModule) Params() []module.Param {
	return []module.Param{{Name: "dump_items", Kind: module.ParamInt,
		Set: func(v module.Value) error { m.items = int(v.Int); return nil }}}
}

func (m *fakeModule) Init(h *module.Host) error {
	m.F = NewFakeHTable(TableDef{Name: "t", Size: 4}, TableDef{Name: "iv", Size: 3, AutoExpire: 100})
	if err := m.F.Register(h.RPC); err != nil {
		return err
	}
	return h.RPC.Register(DumpGenerator(m.items, 12))
}
