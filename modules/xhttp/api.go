package xhttp

import (
	"net/http"

	"github.com/sipht/sipht/internal/script"
)

// Routes is where xhttp_reply and dispatch functions may be used:
// event_route[xhttp:request] and the route[...] blocks it calls (a
// route[...] called from request_route as well compiles, as in Kamailio,
// and the function returns -1 there).
const Routes = script.EventRoute | script.RequestRoute

// Request returns the HTTP request being routed by c, or nil when c is not
// running event_route[xhttp:request]. Its body has been read (it is replayed
// to the handler a dispatch function chooses); treat it as read-only.
func (m *Module) Request(c *script.Ctx) *http.Request {
	if ex := m.slot.Get(c).ex; ex != nil {
		return ex.r
	}
	return nil
}

// Serve hands the HTTP request being routed by c to h, which serves it
// once the event route has finished, on the connection's goroutine (not on
// a SIP worker): h may stream a reply of any size for as long as it takes.
// It returns 1, or -1 (logged) when c is not routing an HTTP request or
// the request has already been answered (by xhttp_reply or another
// dispatch function). fn names the calling script function in messages.
func (m *Module) Serve(c *script.Ctx, fn string, h http.Handler) int {
	ex := m.exchange(c, fn)
	if ex == nil {
		return -1
	}
	ex.handler, ex.answerBy = h, fn
	return 1
}

// Reply is the Go twin of xhttp_reply(code, reason, ctype, body): the
// reply sent once the event route has finished. Same return codes as
// Serve; code must be 100..700 and reason not empty, as Kamailio checks.
func (m *Module) Reply(c *script.Ctx, fn string, code int, reason, ctype, body string) int {
	if code < 100 || code > 700 {
		c.Log.Error(fn+"(): invalid code parameter", "code", code)
		return -1
	}
	if reason == "" {
		c.Log.Error(fn + "(): invalid reason parameter (empty)")
		return -1
	}
	ex := m.exchange(c, fn)
	if ex == nil {
		return -1
	}
	ex.reply, ex.answerBy = &reply{code: code, reason: reason, ctype: ctype, body: body}, fn
	return 1
}

func (m *Module) exchange(c *script.Ctx, fn string) *exchange {
	ex := m.slot.Get(c).ex
	if ex == nil {
		c.Log.Error(fn + "(): not an HTTP request (use it in event_route[xhttp:request])")
		return nil
	}
	if ex.answered() {
		c.Log.Error(fn+"(): the HTTP request is already answered", "by", ex.answerBy+"()")
		return nil
	}
	return ex
}

// DispatchFunc returns the declaration of a script function name() (no
// arguments) that hands the HTTP request being routed to h (see Serve).
// The module that owns h adds it to the script registry from its Init:
//
//	x, err := xhttp.Find(h)
//	...
//	err = h.Script.AddFunc(x.DispatchFunc("webui_dispatch", "webui", handler))
func (m *Module) DispatchFunc(name, module string, h http.Handler) script.Func {
	return script.Func{
		Name: name, Module: module, Routes: Routes,
		Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
			return func(c *script.Ctx) int { return m.Serve(c, name, h) }, nil
		},
	}
}

// declare registers $hu, xhttp_reply() and {url.path}, {url.querystring}.
func (m *Module) declare(r *script.Registry) error {
	if err := r.AddPV(script.PVClass{Name: "hu", Module: "xhttp",
		Fixup: func(*script.PVFixupCtx) (*script.PV, error) {
			return &script.PV{Get: func(c *script.Ctx) script.Value {
				if ex := m.slot.Get(c).ex; ex != nil {
					return script.Str(ex.uri)
				}
				return script.Null
			}}, nil
		}}); err != nil {
		return err
	}
	if err := r.AddFunc(script.Func{Name: "xhttp_reply", MinArgs: 4, MaxArgs: 4, Routes: Routes, Module: "xhttp",
		Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
			code, err := fc.Arg(0).Int()
			if err != nil {
				return nil, err
			}
			if n, ok := code.Const(); ok && (n < 100 || n > 700) {
				return nil, fc.Arg(0).Errorf("reply code %d out of range (100..700)", n)
			}
			var f [3]*script.Format
			for i := range f {
				if f[i], err = fc.Arg(i + 1).Format(); err != nil {
					return nil, err
				}
			}
			return func(c *script.Ctx) int {
				return m.Reply(c, "xhttp_reply", int(code.Get(c)), f[0].String(c), f[1].String(c), f[2].String(c))
			}, nil
		}}); err != nil {
		return err
	}
	for _, name := range []string{"path", "querystring"} {
		query := name == "querystring"
		if err := r.AddTransform(script.Transform{Class: "url", Name: name, Module: "xhttp",
			Fixup: func(tc *script.TransFixupCtx) (script.TransFunc, error) {
				if err := tc.Done(); err != nil {
					return nil, err
				}
				return func(c *script.Ctx, v script.Value) (script.Value, bool) {
					if v.IsNull() {
						return script.Null, false
					}
					path, qs := splitURL(v.AsString())
					if query {
						return script.Str(qs), true
					}
					return script.Str(path), true
				}, nil
			}}); err != nil {
			return err
		}
	}
	return nil
}

// splitURL splits at the first '?' as Kamailio's {url.path} and
// {url.querystring} do.
func splitURL(u string) (path, query string) {
	for i := 0; i < len(u); i++ {
		if u[i] == '?' {
			return u[:i], u[i+1:]
		}
	}
	return u, ""
}
