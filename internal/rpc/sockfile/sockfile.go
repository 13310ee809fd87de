// Package sockfile manages the files of unix sockets and FIFOs that RPC
// servers create: replacing stale ones safely, setting their mode and
// owner, and removing them only if they are still ours.
package sockfile

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"strconv"
	"syscall"
	"time"
)

// RemoveStale removes a leftover socket (or FIFO when fifo is true) at
// path. A file of another type is never removed, and a unix stream socket
// on which a server still answers is reported as in use.
func RemoveStale(path string, fifo bool) error {
	st, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	want := os.ModeSocket
	if fifo {
		want = os.ModeNamedPipe
	}
	if st.Mode()&want == 0 {
		return fmt.Errorf("%s exists and is not a %s; refusing to replace it", path, map[bool]string{false: "socket", true: "FIFO"}[fifo])
	}
	if !fifo {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return fmt.Errorf("%s is in use by a running server", path)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing stale %s: %w", path, err)
	}
	return nil
}

// LookupOwner resolves user and group names or numeric ids; an empty one
// is -1 (unchanged).
func LookupOwner(usr, grp string) (uid, gid int, err error) {
	uid, gid = -1, -1
	if usr != "" {
		if n, err := strconv.Atoi(usr); err == nil {
			uid = n
		} else {
			u, err := user.Lookup(usr)
			if err != nil {
				return 0, 0, fmt.Errorf("bad user name/uid number %s: %w", usr, err)
			}
			uid, _ = strconv.Atoi(u.Uid)
		}
	}
	if grp != "" {
		if n, err := strconv.Atoi(grp); err == nil {
			gid = n
		} else {
			g, err := user.LookupGroup(grp)
			if err != nil {
				return 0, 0, fmt.Errorf("bad group name/gid number %s: %w", grp, err)
			}
			gid, _ = strconv.Atoi(g.Gid)
		}
	}
	return uid, gid, nil
}

// File is a socket or FIFO file created by a server.
type File struct {
	Path string
	ino  uint64
}

// Setup applies mode (when not 0) and owner (names or ids, "" = unchanged)
// to a freshly created file and remembers its identity for Remove.
func Setup(path string, mode os.FileMode, usr, grp string) (*File, error) {
	f := &File{Path: path}
	if st, err := os.Lstat(path); err == nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			f.ino = sys.Ino
		}
	}
	if mode != 0 {
		if err := os.Chmod(path, mode); err != nil {
			return f, fmt.Errorf("chmod %s: %w", path, err)
		}
	}
	if usr != "" || grp != "" {
		uid, gid, err := LookupOwner(usr, grp)
		if err != nil {
			return f, err
		}
		if err := os.Chown(path, uid, gid); err != nil {
			return f, fmt.Errorf("chown %s: %w", path, err)
		}
	}
	return f, nil
}

// Remove deletes the file if it is still the one Setup saw.
func (f *File) Remove() {
	if f == nil || f.Path == "" {
		return
	}
	st, err := os.Lstat(f.Path)
	if err != nil {
		return
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && f.ino != 0 && sys.Ino != f.ino {
		return
	}
	os.Remove(f.Path)
}
