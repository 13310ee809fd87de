package script

// Shared returns the value stored in the registry under key, creating it
// with mk on first use. Modules that must agree on per-message state (the
// message edits textops makes and the core's forward() applies, the reply
// headers append_to_reply adds and sl_send_reply writes, the destination
// URI several modules set) meet here: each asks for the same key and gets
// the same value, typically a struct holding a Slot made with NewSlot.
// Like every registration, Shared must be called before Compile (from a
// module's Init or from a function's Fixup); it is not safe for concurrent
// use.
func (r *Registry) Shared(key string, mk func() any) any {
	if v, ok := r.shared[key]; ok {
		return v
	}
	if r.shared == nil {
		r.shared = map[string]any{}
	}
	v := mk()
	r.shared[key] = v
	return v
}
