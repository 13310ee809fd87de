package htable

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	ht "github.com/sipht/sipht/htable"
	"github.com/sipht/sipht/internal/db"
	"github.com/sipht/sipht/internal/module"
)

// params are the module parameters (Kamailio's names and defaults, plus
// sipht's write_behind_*).
type params struct {
	defs []ht.Def

	dbURL     string
	cols      db.HTableColumns
	arraySfx  string
	fetchRows int64
	timerSec  int64
	dbExpires int64

	enableDMQ   int64
	dmqInitSync int64
	timerProcs  int64

	eventCallback     string
	eventCallbackMode int64

	wbInterval   time.Duration
	wbMaxPending int64
}

func defaultParams() params {
	return params{
		cols:         db.DefaultHTableColumns(),
		arraySfx:     db.DefaultArraySizeSuffix,
		fetchRows:    100,
		timerSec:     20,
		wbInterval:   time.Second,
		wbMaxPending: 100000,
	}
}

// timerInterval is timer_interval as a duration (<= 0: Kamailio's 20 s).
func (p *params) timerInterval() time.Duration {
	if p.timerSec <= 0 {
		return ht.DefaultTimerInterval
	}
	return time.Duration(p.timerSec) * time.Second
}

// check validates what cannot be checked value by value.
func (p *params) check() error {
	if p.eventCallback != "" {
		return fmt.Errorf("event_callback %q: sipht has no KEMI engine; use event_route[htable:mod-init] and event_route[htable:expired:<table>]", p.eventCallback)
	}
	if p.eventCallbackMode != 0 && p.eventCallbackMode != 1 {
		return fmt.Errorf("event_callback_mode must be 0 or 1, got %d", p.eventCallbackMode)
	}
	return nil
}

// Params declares the modparams.
func (m *Module) Params() []module.Param {
	p := &m.p
	str := func(dst *string) func(module.Value) error {
		return func(v module.Value) error { *dst = v.Str; return nil }
	}
	ident := func(name string, dst *string) func(module.Value) error {
		return func(v module.Value) error {
			if err := db.CheckIdent(v.Str); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			*dst = v.Str
			return nil
		}
	}
	num := func(dst *int64) func(module.Value) error {
		return func(v module.Value) error { *dst = v.Int; return nil }
	}
	return []module.Param{
		{Name: "htable", Kind: module.ParamStr, Multi: true, Set: m.addDef,
			Doc: "table definition name=>attr=value;... (repeatable)"},
		{Name: "db_url", Kind: module.ParamStr, Set: str(&p.dbURL), Doc: "database URL (sqlite, mysql, postgres)"},
		{Name: "key_name_column", Kind: module.ParamStr, Set: ident("key_name_column", &p.cols.KeyName)},
		{Name: "key_type_column", Kind: module.ParamStr, Set: ident("key_type_column", &p.cols.KeyType)},
		{Name: "value_type_column", Kind: module.ParamStr, Set: ident("value_type_column", &p.cols.ValueType)},
		{Name: "key_value_column", Kind: module.ParamStr, Set: ident("key_value_column", &p.cols.KeyValue)},
		{Name: "expires_column", Kind: module.ParamStr, Set: ident("expires_column", &p.cols.Expires)},
		{Name: "array_size_suffix", Kind: module.ParamStr, Set: func(v module.Value) error {
			if v.Str == "" {
				return errors.New("array_size_suffix must not be empty")
			}
			p.arraySfx = v.Str
			return nil
		}},
		{Name: "fetch_rows", Kind: module.ParamInt, Set: func(v module.Value) error {
			if v.Int <= 0 {
				return fmt.Errorf("fetch_rows must be positive, got %d", v.Int)
			}
			p.fetchRows = v.Int
			return nil
		}},
		{Name: "timer_interval", Kind: module.ParamInt, Set: num(&p.timerSec), Doc: "seconds between expiry sweeps (default 20)"},
		{Name: "db_expires", Kind: module.ParamInt, Set: num(&p.dbExpires)},
		{Name: "enable_dmq", Kind: module.ParamInt, Set: num(&p.enableDMQ)},
		{Name: "dmq_init_sync", Kind: module.ParamInt, Set: num(&p.dmqInitSync)},
		{Name: "timer_procs", Kind: module.ParamInt, Set: num(&p.timerProcs),
			Doc: "accepted for compatibility; sipht sweeps in one goroutine"},
		{Name: "event_callback", Kind: module.ParamStr, Set: str(&p.eventCallback)},
		{Name: "event_callback_mode", Kind: module.ParamInt, Set: num(&p.eventCallbackMode)},
		{Name: "write_behind_interval", Kind: module.ParamAny, Set: func(v module.Value) error {
			d, err := parseInterval(v)
			if err != nil {
				return fmt.Errorf("write_behind_interval: %w", err)
			}
			p.wbInterval = d
			return nil
		}, Doc: "dbmode=2: longest delay before a change is written (seconds, or a duration such as \"250ms\"; default 1 s)"},
		{Name: "write_behind_max_pending", Kind: module.ParamInt, Set: func(v module.Value) error {
			if v.Int <= 0 {
				return fmt.Errorf("write_behind_max_pending must be positive, got %d", v.Int)
			}
			p.wbMaxPending = v.Int
			return nil
		}, Doc: "dbmode=2: distinct keys queued before falling back to a full save (default 100000)"},
	}
}

// parseInterval reads seconds (an int) or a Go duration text.
func parseInterval(v module.Value) (time.Duration, error) {
	var d time.Duration
	if v.IsInt {
		d = time.Duration(v.Int) * time.Second
	} else {
		s := strings.TrimSpace(v.Str)
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			d = time.Duration(n) * time.Second
		} else {
			var perr error
			d, perr = time.ParseDuration(s)
			if perr != nil {
				return 0, fmt.Errorf("%q is neither seconds nor a duration such as \"500ms\"", v.Str)
			}
		}
	}
	if d < 10*time.Millisecond || d > time.Hour {
		return 0, fmt.Errorf("%v is out of range (10ms to 1h)", d)
	}
	return d, nil
}

// addDef parses one "htable" modparam value.
func (m *Module) addDef(v module.Value) error {
	d, err := ht.ParseDef(v.Str)
	if err != nil {
		return err
	}
	for _, o := range m.p.defs {
		if o.Name == d.Name {
			return fmt.Errorf("htable definition %q: table %q is already defined", v.Str, d.Name)
		}
	}
	m.p.defs = append(m.p.defs, d)
	return nil
}
