package cfg

import (
	"sort"
	"strings"
)

// CheckCoreParams reports every global parameter whose name Kamailio 5.6
// does not have (the value syntax was already checked by the parser for
// known names). Each error has the parameter's position and suggests the
// closest known names.
func CheckCoreParams(f *File) ErrorList {
	var errs ErrorList
	for _, it := range f.Items {
		cp, ok := it.(*CoreParam)
		if !ok || LookupCoreParam(cp.Name) != nil {
			continue
		}
		msg := "unknown core parameter " + quote(cp.Name) + " (Kamailio 5.6 has no such global parameter)"
		if s := suggest(cp.Name); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, ", ") + "?"
		}
		errs = append(errs, &Error{Pos: cp.Pos, Msg: msg})
	}
	return errs
}

func quote(s string) string { return `"` + s + `"` }

// suggest returns up to three known parameter names close to name.
func suggest(name string) []string {
	type cand struct {
		n string
		d int
	}
	var cs []cand
	for n := range coreParamIndex {
		d := editDistance(name, n)
		if d <= 2 || (len(name) >= 4 && strings.Contains(n, name)) {
			cs = append(cs, cand{n, d})
		}
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].d != cs[j].d {
			return cs[i].d < cs[j].d
		}
		return cs[i].n < cs[j].n
	})
	var out []string
	for i := 0; i < len(cs) && i < 3; i++ {
		out = append(out, cs[i].n)
	}
	return out
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
