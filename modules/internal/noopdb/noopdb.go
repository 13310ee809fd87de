// Package noopdb registers Kamailio's database driver modules (db_sqlite,
// db_mysql, db_postgres) as modules that do nothing: in sipht the scheme of
// each db_url chooses the driver (internal/db), so a Kamailio config that
// loads a driver module runs unchanged. Their modparams are accepted and
// logged as having no effect.
package noopdb

import (
	"github.com/sipht/sipht/internal/module"
)

// Param is one accepted modparam.
type Param struct {
	Name string
	Kind module.ParamKind
}

// Register registers a driver module called name accepting params.
func Register(name, scheme string, params ...Param) {
	module.Register(module.Info{
		Name:    name,
		Summary: "accepted for Kamailio configs: the db_url scheme " + scheme + ":// selects the driver",
		New:     func() module.Module { return &driver{name: name, params: params} },
	})
}

type driver struct {
	name   string
	params []Param
	set    []string
}

func (d *driver) Params() []module.Param {
	out := make([]module.Param, len(d.params))
	for i, p := range d.params {
		out[i] = module.Param{Name: p.Name, Kind: p.Kind, Multi: true,
			Doc: "accepted, no effect in sipht",
			Set: func(module.Value) error { d.set = append(d.set, p.Name); return nil }}
	}
	return out
}

// Init logs the parameters that were set and have no effect.
func (d *driver) Init(h *module.Host) error {
	for _, n := range d.set {
		h.Log.Info("modparam has no effect in sipht (database connections are managed by internal/db)", "param", n)
	}
	return nil
}
