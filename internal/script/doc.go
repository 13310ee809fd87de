// Package script compiles a parsed Kamailio configuration (internal/cfg)
// into Go closures and runs its routes with Kamailio 5.6's semantics:
// values and their conversions, expression typing and precedence, $null
// comparisons, truthiness (> 0), return codes and $rc, exit/drop/return,
// switch with fall-through, while with max_while_loops, $var/$vn/$avp, and
// the transformations {s.*}, {uri.*}, {param.*}.
//
// # Life cycle
//
//	reg := script.NewRegistry()          // core built-ins
//	module.Register(reg)                 // each loaded module adds its exports
//	prog, err := script.Compile(file, reg, script.Options{Logger: log})
//	// err lists every problem; script.Summarize(err) names what is unsupported
//	c := prog.NewCtx()                   // one per worker goroutine
//	for msg := range msgs {
//		c.Reset(msg)
//		prog.RequestRoute().Run(c)
//		if c.Dropped() { ... }
//	}
//
// Every function, pseudo-variable, transformation and route name is
// resolved once by Compile; per message nothing is looked up by name
// (except route($var) with a computed name and $avp($var) with a computed
// AVP name, which Kamailio also resolves at run time).
//
// # Writing a module
//
// A module registers into the Registry before Compile:
//
//   - Functions (Registry.AddFunc): a Fixup runs once per call site, reads
//     its arguments with FixupCtx.Arg(i) — String/ConstString for constants,
//     Format for strings with PVs ("$si is back"), Int for numbers that may
//     be dynamic, PV for output variables, Regexp, Flag, Value for any
//     expression — and returns a Handler run per message. Handlers return
//     Kamailio codes: > 0 true, < 0 false, 0 ends the script.
//   - Pseudo-variable classes (Registry.AddPV): a Fixup receives the inner
//     name ($sht(table=>$si) gives "table=>$si"; compile the dynamic part
//     with PVFixupCtx.ParseFormat) and the [index] (PVFixupCtx.Index), and
//     returns a *PV with Get and optionally Set (Set(Null) means unset) and
//     Count. Transformations $(cls(x){tr}) and $null are handled here.
//   - Transformations (Registry.AddTransform), parsing their parameters
//     with TransFixupCtx.IntParam/StrParam/CharParam (a parameter may be a
//     PV, as in Kamailio).
//   - Core keywords (Registry.AddKeyword): the SIP layer provides uri,
//     method, src_ip ... and "== myself".
//   - Per-message data (NewSlot): allocated once per Ctx, reset per message.
//
// Values are Int, Str or Null; StrInt makes the string-with-an-integer
// values of some Kamailio PVs ($rm is "OPTIONS" and 512): a string except
// in integer contexts and {s.int}, stored as the string when assigned.
//
// Formats print into buffers from Ctx.GetBuf (give them back with PutBuf);
// a map keyed by string can be read with m[string(buf)] without
// allocating. Runtime errors go to Ctx.Log.
//
// Differences from Kamailio (64-bit integers, negative $avp indexes, RE2
// instead of POSIX regcomp, ...) are listed in docs/kamailio-differences.md.
package script
