package workspace

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/dlthub/runtime-action/internal/pack"
)

// Selection is the set of files of one package, with digests.
type Selection struct {
	Root       string      // folder the paths are relative to
	Files      []pack.Item // sorted, digests filled
	Warnings   []string    // skipped symlinks and other files left out, for the user
	SecretLike []string    // deployment only: selected files that look like secrets
}

// SelectDeployment chooses the deployment's files below the workspace root:
// everything except .dlt/, .git/ and what the root .gitignore (or, without
// one, the fallback list) ignores; symlinks per docs/PACKAGING.md.
func SelectDeployment(root string) (*Selection, error) {
	rules := parseGitignore(fallbackIgnore)
	b, err := os.ReadFile(filepath.Join(root, ".gitignore"))
	switch {
	case err == nil:
		rules = parseGitignore(string(b))
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read .gitignore: %w", err)
	}
	w, err := newWalker(root, "the workspace")
	if err != nil {
		return nil, err
	}
	w.keep = func(rel, name string, isDir bool) bool {
		if rel == SettingsDir || name == ".git" {
			return false
		}
		return !rules.ignored(rel, isDir)
	}
	if err := w.walk("", root); err != nil {
		return nil, err
	}
	sel, err := w.finish()
	if err != nil {
		return nil, err
	}
	for _, it := range sel.Files {
		if looksSecret(it.RelativePath) {
			sel.SecretLike = append(sel.SecretLike, it.RelativePath)
		}
	}
	return sel, nil
}

// EmbeddedRuntimeDir is the embedded Runtime's data folder, relative to
// .dlt/; the configuration never includes it.
const EmbeddedRuntimeDir = ".runtime"

// SelectConfiguration chooses the configuration's files: those below .dlt/
// whose names end in config.toml or secrets.toml, relative to .dlt/. A
// workspace without .dlt/ has none.
func SelectConfiguration(root string) (*Selection, error) {
	dir := filepath.Join(root, SettingsDir)
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return &Selection{Root: dir, Files: []pack.Item{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read settings folder: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%q is not a folder", dir)
	}
	w, err := newWalker(dir, "the settings folder .dlt")
	if err != nil {
		return nil, err
	}
	w.keep = func(rel, name string, isDir bool) bool {
		if isDir {
			// .dlt/.runtime holds the embedded Runtime's data, run folders
			// (with their own .dlt/ settings) included: never settings.
			return rel != EmbeddedRuntimeDir
		}
		return strings.HasSuffix(name, "config.toml") || strings.HasSuffix(name, "secrets.toml")
	}
	if err := w.walk("", dir); err != nil {
		return nil, err
	}
	sel, err := w.finish()
	if err != nil {
		return nil, err
	}
	sel.Warnings = append(sel.Warnings, authTokenWarnings(dir, sel.Files)...)
	return sel, nil
}

// looksSecret reports whether a deployed file's name suggests credentials.
func looksSecret(rel string) bool {
	name := path.Base(rel)
	return strings.HasPrefix(name, ".env") || strings.HasSuffix(name, ".pem") ||
		strings.HasSuffix(name, ".key") || strings.HasPrefix(name, "id_rsa") ||
		strings.HasSuffix(name, "secrets.toml")
}

// walker lists a folder tree. Regular files are only noted here and hashed
// afterwards in parallel.
type walker struct {
	root     string // the package root
	realRoot string // root with symlinks resolved, to tell where links point
	rootName string // how warnings call the root
	keep     func(rel, name string, isDir bool) bool
	files    []pack.Item // regular files without digests yet, and finished links
	warnings []string
}

func newWalker(root, rootName string) (*walker, error) {
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, fmt.Errorf("read %s %q: %w", rootName, root, err)
	}
	return &walker{root: root, realRoot: real, rootName: rootName}, nil
}

func (w *walker) warn(format string, args ...any) {
	w.warnings = append(w.warnings, fmt.Sprintf(format, args...))
}

func (w *walker) walk(rel, abs string) error {
	entries, err := os.ReadDir(abs)
	if err != nil {
		return fmt.Errorf("read folder %q: %w", displayPath(rel), err)
	}
	for _, e := range entries {
		name := e.Name()
		r := name
		if rel != "" {
			r = rel + "/" + name
		}
		typ := e.Type()
		isDir := typ.IsDir()
		if !w.keep(r, name, isDir) {
			continue
		}
		if !utf8.ValidString(name) {
			w.warn("skipped %q: its name is not valid UTF-8", r)
			continue
		}
		if err := pack.CheckPath(r); err != nil {
			w.warn("skipped %q: %v", r, err)
			continue
		}
		p := filepath.Join(abs, name)
		switch {
		case isDir:
			if err := w.walk(r, p); err != nil {
				return err
			}
		case typ.IsRegular():
			w.files = append(w.files, pack.Item{RelativePath: r})
		case typ&fs.ModeSymlink != 0:
			w.symlink(r, p)
		default:
			w.warn("skipped %q: not a regular file (%v)", r, typ)
		}
	}
	return nil
}

// symlink keeps a link to a file inside the root as a link, and skips any
// other with a warning; links to folders are never followed.
func (w *walker) symlink(rel, abs string) {
	target, err := os.Readlink(abs)
	if err != nil {
		w.warn("skipped symlink %q: %v", rel, err)
		return
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if err != nil {
		w.warn("skipped symlink %q: its target %q is missing or loops", rel, target)
		return
	}
	inside, err := filepath.Rel(w.realRoot, resolved)
	if err != nil || inside == ".." || strings.HasPrefix(inside, ".."+string(filepath.Separator)) || filepath.IsAbs(inside) {
		w.warn("skipped symlink %q: its target %q is outside %s", rel, target, w.rootName)
		return
	}
	fi, err := os.Stat(resolved)
	if err != nil {
		w.warn("skipped symlink %q: its target %q is missing or loops", rel, target)
		return
	}
	if fi.IsDir() {
		w.warn("skipped symlink %q: its target %q is a folder (links to folders are not followed)", rel, target)
		return
	}
	if err := pack.CheckLinkTarget(rel, target); err != nil {
		w.warn("skipped symlink %q: %v (the Runtime refuses such links; use a plain relative target)", rel, err)
		return
	}
	w.files = append(w.files, pack.Item{RelativePath: rel, SHA3256: pack.Digest([]byte(target)), Linkname: target})
}

func displayPath(rel string) string {
	if rel == "" {
		return "."
	}
	return rel
}

// finish hashes the regular files on all cores and sorts the result. Each
// worker has its own hash state and buffer and takes the next file from a
// shared counter. There are twice as many workers as cores because reading a
// file is a system call that holds its thread: while one worker waits in
// the kernel, another hashes.
func (w *walker) finish() (*Selection, error) {
	var todo []int
	for i, it := range w.files {
		if it.Linkname == "" {
			todo = append(todo, i)
		}
	}
	workers := min(2*runtime.GOMAXPROCS(0), len(todo))
	var next atomic.Int64
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for k := range workers {
		wg.Go(func() {
			h := newFileHasher()
			for {
				j := int(next.Add(1)) - 1
				if j >= len(todo) {
					return
				}
				it := &w.files[todo[j]]
				d, n, err := h.hash(filepath.Join(w.root, filepath.FromSlash(it.RelativePath)))
				if err != nil {
					errs[k] = fmt.Errorf("read %q: %w", it.RelativePath, err)
					return
				}
				it.SHA3256, it.SizeInBytes = d, n
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	files := w.files
	if files == nil {
		files = []pack.Item{}
	}
	pack.Sort(files)
	return &Selection{Root: w.root, Files: files, Warnings: w.warnings}, nil
}

// ContentHash is the content hash of the selected files.
func (s *Selection) ContentHash() string { return pack.ContentHash(s.Files) }

// Manifest is the manifest of the selected files.
func (s *Selection) Manifest() pack.Manifest {
	return pack.Manifest{EngineVersion: pack.EngineVersion, Files: s.Files}
}

// Size is the sum of the selected files' sizes.
func (s *Selection) Size() int64 {
	var n int64
	for _, it := range s.Files {
		n += it.SizeInBytes
	}
	return n
}

// Largest returns the n largest files, largest first.
func (s *Selection) Largest(n int) []pack.Item {
	out := slices.Clone(s.Files)
	slices.SortStableFunc(out, func(a, b pack.Item) int {
		switch {
		case a.SizeInBytes > b.SizeInBytes:
			return -1
		case a.SizeInBytes < b.SizeInBytes:
			return 1
		}
		return strings.Compare(a.RelativePath, b.RelativePath)
	})
	return out[:min(max(n, 0), len(out))]
}

// WriteTarGz writes the package to w, reading each file again; it fails when
// a file's size changed since the selection.
func (s *Selection) WriteTarGz(w io.Writer) error {
	return pack.Write(w, s.Manifest(), func(rel string) (io.ReadCloser, error) {
		return os.Open(filepath.Join(s.Root, filepath.FromSlash(rel)))
	})
}
