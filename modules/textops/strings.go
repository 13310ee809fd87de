package textops

import (
	"strings"

	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipmsg"
)

func cmpStr(a, b string) int  { return script.CmpCode(script.CompareStr(a, b, false)) }
func cmpIStr(a, b string) int { return script.CmpCode(script.CompareStr(a, b, true)) }

func startsWith(s, prefix string) int {
	if len(s) < len(prefix) {
		return -1
	}
	return script.CmpCode(strings.Compare(s[:len(prefix)], prefix))
}

func endsWith(s, suffix string) int {
	if len(suffix) > len(s) {
		return -1
	}
	return script.CmpCode(strings.Compare(s[len(s)-len(suffix):], suffix))
}

// strFind returns the 1-based position of needle in s, or -1.
func strFind(s, needle string) int {
	if len(needle) > len(s) {
		return -1
	}
	i := strings.Index(s, needle)
	if i < 0 || needle == "" {
		return -1
	}
	return i + 1
}

func strIFind(s, needle string) int {
	if len(needle) > len(s) {
		return -1
	}
	i := strings.Index(strings.ToLower(s), strings.ToLower(needle))
	if i < 0 || needle == "" {
		return -1
	}
	return i + 1
}

// search_str(text, re): the regular expression (icase) matches the text.
// 2 when the expression is empty, -2 when the text is empty or the
// expression does not compile.
func fixSearchStr(fc *script.FixupCtx) (script.Handler, error) {
	tf, err := fc.Arg(0).Format()
	if err != nil {
		return nil, err
	}
	rf, err := fc.Arg(1).Format()
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		pat := rf.String(c)
		if pat == "" {
			return 2
		}
		txt := tf.String(c)
		if txt == "" {
			return -2
		}
		re, err := sipmsg.CompileRegex(pat, sipmsg.ICase|sipmsg.Newline)
		if err != nil {
			c.Log.Error("textops: search_str: failed to compile the regex", "re", pat, "err", err)
			return -2
		}
		if re.MatchString(txt) {
			return 1
		}
		return -1
	}, nil
}

// in_list(subject, list, sep) / in_list_prefix: is subject an element (a
// prefix of subject an element) of the sep-separated list? Elements are
// trimmed of blanks.
func fixInList(prefix bool) func(fc *script.FixupCtx) (script.Handler, error) {
	return func(fc *script.FixupCtx) (script.Handler, error) {
		sf, err := fc.Arg(0).Format()
		if err != nil {
			return nil, err
		}
		lf, err := fc.Arg(1).Format()
		if err != nil {
			return nil, err
		}
		sep, err := fc.Arg(2).String()
		if err != nil {
			return nil, err
		}
		if len(sep) != 1 {
			return nil, fc.Arg(2).Errorf("invalid separator parameter %q: one character expected", sep)
		}
		return func(c *script.Ctx) int {
			subject := sf.String(c)
			if subject == "" {
				c.Log.Error("textops: in_list: subject cannot be empty string")
				return -1
			}
			list := lf.String(c)
			for _, e := range strings.Split(list, sep) {
				e = strings.Trim(e, " \t\r\n")
				if prefix {
					if e != "" && strings.HasPrefix(subject, e) {
						return 1
					}
				} else if e == subject {
					return 1
				}
			}
			return -1
		}, nil
	}
}

// regex_substring(input, regex, index, count, $dst): store submatch index
// of the first match (count submatches are looked at) in $dst; -2 when
// nothing matches, -1 on errors (bad index, empty submatch).
func fixRegexSubstring(fc *script.FixupCtx) (script.Handler, error) {
	inf, err := fc.Arg(0).Format()
	if err != nil {
		return nil, err
	}
	ref, err := fc.Arg(1).Format()
	if err != nil {
		return nil, err
	}
	idx, err := fc.Arg(2).Int()
	if err != nil {
		return nil, err
	}
	cnt, err := fc.Arg(3).Int()
	if err != nil {
		return nil, err
	}
	dst, err := fc.Arg(4).PV(true)
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		index, count := int(idx.Get(c)), int(cnt.Get(c))
		if index > count-1 || index < 0 || count > 64 {
			c.Log.Error("textops: matched_index cannot be bigger than match_count")
			return -1
		}
		re, err := sipmsg.CompileRegex(ref.String(c), 0)
		if err != nil {
			c.Log.Error("textops: regular expression could not be compiled", "err", err)
			return -1
		}
		in := inf.String(c)
		loc := re.FindStringSubmatchIndex(in)
		if loc == nil {
			return -2
		}
		if 2*index+1 >= len(loc) || loc[2*index] < 0 {
			c.Log.Warn("textops: invalid offset for regular expression result")
			return -1
		}
		if loc[2*index] == loc[2*index+1] {
			c.Log.Warn("textops: matched string is empty")
			return -1
		}
		if err := dst.Set(c, script.Str(in[loc[2*index]:loc[2*index+1]])); err != nil {
			return -1
		}
		return 1
	}, nil
}
