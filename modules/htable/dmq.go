package htable

import (
	"context"
	"errors"
	"sync"

	ht "github.com/sipht/sipht/htable"
	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/modules/dmq"
	"github.com/sipht/sipht/modules/htable/dmqrepl"
)

// DMQ replication (enable_dmq=1, tables with dmqreplicate=1): this file
// joins the module's life cycle to a dmqrepl.Replicator (see
// modules/htable/dmqrepl and docs/dmq.md).

func init() {
	extensions.dmq = true
	extensions.init = append(extensions.init, dmqInit)
	extensions.start = append(extensions.start, dmqStart)
	extensions.stop = append(extensions.stop, dmqStop)
}

// replicators holds each module instance's replicator.
var replicators sync.Map // *Module -> *dmqrepl.Replicator

// Replicator returns the module's DMQ replicator, or nil when enable_dmq
// is off.
func (m *Module) Replicator() *dmqrepl.Replicator {
	if r, ok := replicators.Load(m); ok {
		return r.(*dmqrepl.Replicator)
	}
	return nil
}

func dmqInit(m *Module, h *module.Host) error {
	if !m.DMQEnabled() {
		return nil
	}
	var d *dmq.Module
	if h.Loaded != nil {
		if x, ok := h.Loaded("dmq"); ok {
			d, _ = x.(*dmq.Module)
		}
	}
	if d == nil {
		return errors.New(`enable_dmq=1 needs the dmq module: loadmodule "dmq.so" and set its server_address`)
	}
	rep, err := dmqrepl.New(m.Registry(), d, dmqrepl.Options{
		InitSync:        m.DMQInitSync(),
		SyncInterval:    d.SyncInterval(),
		TombstoneTTL:    d.TombstoneLifetime(),
		Logger:          h.Log,
		LocalOnlyOrigin: OriginUnreplicated,
	})
	if err != nil {
		return err
	}
	if len(rep.Tables()) == 0 {
		h.Log.Warn("enable_dmq=1 but no table has dmqreplicate=1: only changes received from other nodes are applied")
	}
	replicators.Store(m, rep)
	m.SetDMQSync(func(ctx context.Context, table string) error { return rep.Sync(table) })
	if h.Metrics != nil {
		if err := h.Metrics.Register(rep.Collector()); err != nil {
			return err
		}
	}
	return nil
}

func dmqStart(ctx context.Context, m *Module, h *module.Host) error {
	if rep := m.Replicator(); rep != nil {
		return rep.Start(ctx)
	}
	return nil
}

func dmqStop(ctx context.Context, m *Module) error {
	if rep := m.Replicator(); rep != nil {
		rep.Stop()
		replicators.Delete(m)
	}
	return nil
}

// dmqResetOrigin is the origin of htable.dmqresync's local flush: the
// replicator neither sends it to Kamailio nodes (Kamailio does not) nor
// to sipht nodes (they would flush too, and there would be nothing left
// to sync from).
const dmqResetOrigin = ht.OriginRemote
