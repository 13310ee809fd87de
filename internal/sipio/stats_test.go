package sipio

import "testing"

// TestDropReasonLabels: every drop reason has its own metric label (an
// "unknown" label would hide what the counter counts).
func TestDropReasonLabels(t *testing.T) {
	seen := map[string]DropReason{}
	for r := DropReason(0); r < numDropReasons; r++ {
		l := r.String()
		if l == "unknown" || l == "" {
			t.Errorf("drop reason %d has no label", r)
		}
		if o, dup := seen[l]; dup {
			t.Errorf("drop reasons %d and %d share the label %q", o, r, l)
		}
		seen[l] = r
	}
	if got := numDropReasons.String(); got != "unknown" {
		t.Errorf("out-of-range reason: %q", got)
	}
}
