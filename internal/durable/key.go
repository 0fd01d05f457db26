package durable

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// HexKey returns the size-byte key the environment variable envName holds
// as hex (env, its value) or, without it, the key in the file at path,
// created with a fresh random key if the file does not exist. The file is
// created whole or not at all — written aside, fsynced, then linked into
// place, so a crash never leaves an empty or cut key that would stop every
// later start, and a file another process created first wins. A key file
// its group or others may read is refused. what names the key in errors.
func HexKey(what, envName, env, path string, size int) ([]byte, error) {
	if env != "" {
		k, err := hex.DecodeString(strings.TrimSpace(env))
		if err != nil || len(k) != size {
			return nil, fmt.Errorf("%s must be %d hex digits", envName, 2*size)
		}
		return k, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		k := make([]byte, size)
		rand.Read(k)
		if err := createExclusive(path, []byte(hex.EncodeToString(k)+"\n")); errors.Is(err, os.ErrExist) {
			return HexKey(what, envName, env, path, size) // created meanwhile: read that one
		} else if err != nil {
			return nil, fmt.Errorf("create %s: %w", what, err)
		}
		return k, nil
	} else if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s %s may be read by others (mode %04o): chmod 600 it", what, path, st.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) != size {
		return nil, fmt.Errorf("%s does not hold a %d-byte hex %s", path, size, what)
	}
	return k, nil
}

// createExclusive creates path (mode 0600) holding b, whole or not at all;
// os.ErrExist if path exists.
func createExclusive(path string, b []byte) error {
	return placeWhole(path, b, os.Link)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
