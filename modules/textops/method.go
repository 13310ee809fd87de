package textops

import (
	"errors"
	"strings"

	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipmsg"
)

// Method is a set of SIP methods as Kamailio numbers them (one bit each;
// MethodOther for any method it does not know).
type Method uint32

// The methods Kamailio 5.6 knows (parser/msg_parser.h).
const (
	MethodInvite Method = 1 << iota
	MethodCancel
	MethodAck
	MethodBye
	MethodInfo
	MethodRegister
	MethodSubscribe
	MethodNotify
	MethodMessage
	MethodOptions
	MethodPrack
	MethodUpdate
	MethodRefer
	MethodPublish
	MethodKDMQ
	MethodGet
	MethodPost
	MethodPut
	MethodDelete
	MethodOther
)

var methodNames = [...]struct {
	name string
	m    Method
}{
	{"INVITE", MethodInvite}, {"CANCEL", MethodCancel}, {"ACK", MethodAck}, {"BYE", MethodBye},
	{"INFO", MethodInfo}, {"REGISTER", MethodRegister}, {"SUBSCRIBE", MethodSubscribe},
	{"NOTIFY", MethodNotify}, {"MESSAGE", MethodMessage}, {"OPTIONS", MethodOptions},
	{"PRACK", MethodPrack}, {"UPDATE", MethodUpdate}, {"REFER", MethodRefer},
	{"PUBLISH", MethodPublish}, {"KDMQ", MethodKDMQ}, {"GET", MethodGet}, {"POST", MethodPost},
	{"PUT", MethodPut}, {"DELETE", MethodDelete},
}

// MethodOf returns the method bit of a method name (case-insensitive);
// MethodOther for an unknown one.
func MethodOf(name string) Method {
	for _, mn := range methodNames {
		if strings.EqualFold(mn.name, name) {
			return mn.m
		}
	}
	return MethodOther
}

func isTokenChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		strings.IndexByte("-.!%*_+`'~", c) >= 0
}

// ParseMethods parses a comma-separated method list as Kamailio's
// parse_methods: a token that starts with a known method name must end
// there ("INVITEX" is an error), other tokens count as MethodOther,
// a trailing comma is accepted.
func ParseMethods(s string) (Method, error) {
	var set Method
	s = strings.TrimLeft(s, " \t\r\n")
	if s == "" {
		return 0, nil
	}
	for {
		var m Method
		found := false
		for _, mn := range methodNames {
			if len(s) >= len(mn.name) && strings.EqualFold(s[:len(mn.name)], mn.name) {
				m, found = mn.m, true
				if len(s) > len(mn.name) && isTokenChar(s[len(mn.name)]) {
					return 0, errors.New("invalid method")
				}
				s = s[len(mn.name):]
				break
			}
		}
		if !found {
			if !isTokenChar(s[0]) {
				return 0, errors.New("invalid method")
			}
			for len(s) > 0 && isTokenChar(s[0]) {
				s = s[1:]
			}
			m = MethodOther
		}
		set |= m
		s = strings.TrimLeft(s, " \t\r\n")
		if s == "" {
			return set, nil
		}
		if s[0] != ',' {
			return 0, errors.New("comma expected")
		}
		s = strings.TrimLeft(s[1:], " \t\r\n")
		if s == "" {
			return set, nil // "method expected", but Kamailio accepts it
		}
	}
}

// is_method("INVITE|REGISTER"): is the request method (the CSeq method of
// a reply) one of the list? A list may only name methods Kamailio knows; a
// single unknown method is compared by name.
func fixIsMethod(fc *script.FixupCtx) (script.Handler, error) {
	a := fc.Arg(0)
	s, ok := a.ConstString()
	if !ok {
		return nil, a.Errorf("expected a constant method name or list")
	}
	if s == "" {
		return nil, a.Errorf("empty method name")
	}
	list := strings.ContainsRune(s, '|')
	set, err := ParseMethods(strings.ReplaceAll(s, "|", ","))
	if err != nil {
		return nil, a.Errorf("bad method names %q: %v", s, err)
	}
	byName := ""
	if list {
		if set == 0 || set&MethodOther != 0 {
			return nil, a.Errorf("unknown method in list %q: only methods Kamailio knows may be listed", s)
		}
	} else if set == 0 || set&MethodOther != 0 {
		byName = s
	}
	return func(c *script.Ctx) int {
		name, ok := msgMethod(c)
		if !ok {
			return -1
		}
		if byName == "" {
			if MethodOf(name)&set != 0 {
				return 1
			}
			return -1
		}
		if MethodOf(name) == MethodOther && strings.EqualFold(name, byName) {
			return 1
		}
		return -1
	}, nil
}

// msgMethod returns the request method, or the CSeq method of a reply.
func msgMethod(c *script.Ctx) (string, bool) {
	m := c.Msg
	if m == nil {
		return "", false
	}
	if m.Req != nil {
		return string(m.Req.Method), true
	}
	if m.Res != nil {
		for _, h := range m.Res.Headers() {
			if sipmsg.TypeOf(h.Name()) == sipmsg.HdrCSeq {
				f := strings.Fields(h.Value())
				if len(f) == 2 {
					return f[1], true
				}
				return "", false
			}
		}
	}
	return "", false
}
