package runner

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// maxUnpackedBytes bounds what one artifact may unpack to.
const maxUnpackedBytes = 4 << 30

// unpackArtifact prepares a service instance's directory from the cached
// artifact file. A .tar.gz or .tgz is extracted into dir (entries may not
// leave it, links are refused); any other file is copied into dir under
// its own name, executable. It returns the artifact's path for the
// process: the directory for an archive, else the copied file. An
// existing complete directory is reused.
func unpackArtifact(cached, location, dir string) (string, error) {
	name := location
	if u, err := url.Parse(location); err == nil && u.Scheme != "" {
		name = u.Path
	}
	name = path.Base(filepath.ToSlash(name))
	if name == "" || name == "." || name == "/" {
		name = "artifact"
	}
	archive := strings.HasSuffix(name, ".tar.gz") || strings.HasSuffix(name, ".tgz")
	target := dir
	if !archive {
		target = filepath.Join(dir, name)
	}
	done := filepath.Join(dir, ".shipgate-unpacked")
	if _, err := os.Stat(done); err == nil {
		return target, nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	var err error
	if archive {
		err = extractTarGz(cached, dir)
	} else {
		err = copyFile(cached, target, 0o755)
	}
	if err != nil {
		return "", err
	}
	return target, os.WriteFile(done, nil, 0o600)
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func extractTarGz(src, dir string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("not a gzip archive: %w", err)
	}
	tr := tar.NewReader(gz)
	var total int64
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the archive: %w", err)
		}
		rel := filepath.Clean(filepath.FromSlash(h.Name))
		if filepath.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return fmt.Errorf("archive entry %q leaves the directory", h.Name)
		}
		p := filepath.Join(dir, rel)
		switch h.Typeflag {
		case tar.TypeXGlobalHeader:
			// PAX records for the whole archive (git archive writes the
			// commit id there), not a file.
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if total += h.Size; total > maxUnpackedBytes {
				return fmt.Errorf("the archive unpacks to more than %d bytes", int64(maxUnpackedBytes))
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, os.FileMode(h.Mode)&0o755|0o600)
			if err != nil {
				return err
			}
			if _, err := io.CopyN(out, tr, h.Size); err != nil {
				out.Close()
				return err
			}
			if err := out.Close(); err != nil {
				return err
			}
		default:
			return fmt.Errorf("archive entry %q is a link or special file; only files and directories are unpacked", h.Name)
		}
	}
}
