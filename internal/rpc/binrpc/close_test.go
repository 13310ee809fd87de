package binrpc

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sipht/sipht/internal/testutil"
)

// Close racing with the end of Listen's context: whichever returns first,
// the socket file is already gone (the ctl module's Stop relies on it).
func TestCloseRacingContextRemovesFile(t *testing.T) {
	r := testRegistry(t)
	path := filepath.Join(testutil.ShortTempDir(t), "ctl")
	for i := 0; i < 50; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		s, err := Listen(ctx, "unixs:"+path, Options{Registry: r})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); cancel() }()
		s.Close()
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Fatalf("run %d: socket file still there after Close: %v", i, err)
		}
		wg.Wait()
	}
}
