package kamjson

import "testing"

// Quotes, backslashes and control characters are escaped; UTF-8 and even
// invalid bytes pass unchanged, as cJSON prints them.
func TestAppendString(t *testing.T) {
	got := string(AppendString([]byte("x:"), "a\"b\\c\bd\fe\nf\rg\th\x01i\x1fj/é\xff"))
	want := `x:"a\"b\\c\bd\fe\nf\rg\th\u0001i\u001fj/é` + "\xff" + `"`
	if got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}
