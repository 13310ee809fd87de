// Package corex is Kamailio's corex module, the parts sipht has:
// append_branch(), is_faked_msg(), the extended message flags (setxflag,
// resetxflag, isxflagset) and file_read() / file_write().
package corex

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipmsg"
)

func init() {
	module.Register(module.Info{
		Name:    "corex",
		Summary: "core extensions: append_branch, is_faked_msg, xflags, file_read/file_write",
		New:     func() module.Module { return &Module{} },
	})
}

// Module is the corex module.
type Module struct {
	host   *module.Host
	msgs   *sipmsg.Msgs
	xflags script.Slot[uint64]
}

// Params returns the module parameters (none are supported).
func (m *Module) Params() []module.Param { return nil }

// Init declares the functions.
func (m *Module) Init(h *module.Host) error {
	m.host = h
	m.msgs = sipmsg.For(h.Script)
	m.xflags = script.NewSlot[uint64](h.Script, nil, nil)
	fs := []script.Func{
		{Name: "append_branch", MinArgs: 0, MaxArgs: 2, Fixup: m.fixAppendBranch},
		{Name: "is_faked_msg", Fixup: fixIsFaked},
		{Name: "setxflag", MinArgs: 1, MaxArgs: 1, Fixup: m.fixXFlag(0)},
		{Name: "resetxflag", MinArgs: 1, MaxArgs: 1, Fixup: m.fixXFlag(1)},
		{Name: "isxflagset", MinArgs: 1, MaxArgs: 1, Fixup: m.fixXFlag(2)},
		{Name: "file_read", MinArgs: 2, MaxArgs: 2, Fixup: m.fixFileRead},
		{Name: "file_write", MinArgs: 2, MaxArgs: 2, Fixup: m.fixFileWrite},
	}
	for _, f := range fs {
		f.Module = "corex"
		if err := h.Script.AddFunc(f); err != nil {
			return err
		}
	}
	return nil
}

// parseQ parses a q value ("0.5", "1", "0.125") into thousandths, as
// Kamailio's str2q: 0 to 1 with at most three decimals.
func parseQ(s string) (int, error) {
	s = strings.TrimSpace(s)
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || len(frac) > 3 || hasDot && frac == "" {
		return 0, errors.New("bad q value")
	}
	w, err := strconv.Atoi(whole)
	if err != nil || w < 0 || w > 1 {
		return 0, errors.New("bad q value")
	}
	q := w * 1000
	if frac != "" {
		for len(frac) < 3 {
			frac += "0"
		}
		f, err := strconv.Atoi(frac)
		if err != nil || f < 0 {
			return 0, errors.New("bad q value")
		}
		q += f
	}
	if q > 1000 {
		return 0, errors.New("bad q value")
	}
	return q, nil
}

// append_branch([uri[, q]]): add a branch with the URI (the current R-URI
// when none is given) and the destination URI; without a URI the R-URI's
// destination URI and branch flags move to the new branch.
func (m *Module) fixAppendBranch(fc *script.FixupCtx) (script.Handler, error) {
	var uf, qf *script.Format
	var err error
	if fc.NArgs() >= 1 {
		if uf, err = fc.Arg(0).Format(); err != nil {
			return nil, err
		}
	}
	if fc.NArgs() == 2 {
		if qf, err = fc.Arg(1).Format(); err != nil {
			return nil, err
		}
	}
	return func(c *script.Ctx) int {
		if c.Msg == nil || c.Msg.Req == nil {
			return -1
		}
		d := m.msgs.Dest()
		q := -1
		if qf != nil {
			if qs := qf.String(c); qs != "" {
				v, err := parseQ(qs)
				if err != nil {
					c.Log.Error("corex: cannot parse the Q parameter", "q", qs)
					return -1
				}
				q = v
			}
		}
		uri := ""
		if uf != nil {
			uri = uf.String(c)
		}
		shift := uri == ""
		if shift {
			uri = d.RequestURI(c)
		}
		b := sipmsg.Branch{URI: strings.Clone(uri), DstURI: d.DstURI(c), Q: q, Flags: *m.msgs.BranchFlags(c)}
		if err := d.AppendBranch(c, b); err != nil {
			c.Log.Error("corex: append_branch failed", "err", err)
			return -1
		}
		if shift {
			*m.msgs.BranchFlags(c) = 0
			_ = d.SetDstURI(c, "")
		}
		return 1
	}, nil
}

// is_faked_msg(): true in routes that run without a received message
// (event routes).
func fixIsFaked(fc *script.FixupCtx) (script.Handler, error) {
	return func(c *script.Ctx) int {
		if c.Msg == nil {
			return 1
		}
		return -1
	}, nil
}

// setxflag(n) / resetxflag(n) / isxflagset(n): extended message flags
// 0..63.
func (m *Module) fixXFlag(op int) func(fc *script.FixupCtx) (script.Handler, error) {
	return func(fc *script.FixupCtx) (script.Handler, error) {
		fl, err := fc.Arg(0).Int()
		if err != nil {
			return nil, err
		}
		return func(c *script.Ctx) int {
			n := fl.Get(c)
			if n < 0 || n > 63 {
				return -1
			}
			f := m.xflags.Get(c)
			bit := uint64(1) << uint(n)
			switch op {
			case 0:
				*f |= bit
			case 1:
				*f &^= bit
			default:
				if *f&bit == 0 {
					return -1
				}
			}
			return 1
		}, nil
	}
}

// MaxFileRead bounds what file_read() reads into a variable.
const MaxFileRead = 1 << 20

// file_read(path, $var): the file's content into a variable.
func (m *Module) fixFileRead(fc *script.FixupCtx) (script.Handler, error) {
	pf, err := fc.Arg(0).Format()
	if err != nil {
		return nil, err
	}
	dst, err := fc.Arg(1).PV(true)
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		path := m.host.Path(pf.String(c))
		f, err := os.Open(path)
		if err != nil {
			c.Log.Error("corex: file_read: cannot open the file", "path", path, "err", err)
			return -1
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, MaxFileRead+1))
		if err != nil {
			c.Log.Error("corex: file_read", "path", path, "err", err)
			return -1
		}
		if len(b) > MaxFileRead {
			c.Log.Error(fmt.Sprintf("corex: file_read: %s is larger than %d bytes", path, MaxFileRead))
			return -1
		}
		if err := dst.Set(c, script.Str(string(b))); err != nil {
			return -1
		}
		return 1
	}, nil
}

// file_write(path, content): write (replace) the file.
func (m *Module) fixFileWrite(fc *script.FixupCtx) (script.Handler, error) {
	pf, err := fc.Arg(0).Format()
	if err != nil {
		return nil, err
	}
	cf, err := fc.Arg(1).Format()
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		path := m.host.Path(pf.String(c))
		if err := os.WriteFile(path, []byte(cf.String(c)), 0o644); err != nil {
			c.Log.Error("corex: file_write", "path", path, "err", err)
			return -1
		}
		return 1
	}, nil
}
