package pack

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
)

// extractor writes checked members under one folder. All access goes through
// an os.Root, so even a symlink planted by an earlier member cannot make a
// later write land outside the folder.
type extractor struct {
	root    *os.Root
	mode    fs.FileMode
	dirs    map[string]bool // folders known to exist
	created []string        // what we made, in order, to undo on failure
}

func newExtractor(dir string, mode uint32) (*extractor, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open extraction folder: %w", err)
	}
	m := fs.FileMode(mode) & fs.ModePerm
	if m == 0 {
		m = 0o644
	}
	return &extractor{root: root, mode: m, dirs: map[string]bool{".": true}}, nil
}

// mkdirs makes the folders above rel one by one, so that undo knows which
// ones are ours and never removes what was there before.
func (x *extractor) mkdirs(rel string) error {
	d := path.Dir(rel)
	if x.dirs[d] {
		return nil
	}
	if err := x.mkdirs(d); err != nil {
		return err
	}
	err := x.root.Mkdir(d, 0o755)
	switch {
	case err == nil:
		x.created = append(x.created, d)
	case errors.Is(err, fs.ErrExist):
		if fi, serr := x.root.Lstat(d); serr != nil || !fi.IsDir() {
			return fmt.Errorf("extract %q: %q exists and is not a folder", rel, d)
		}
	default:
		return fmt.Errorf("extract %q: %w", rel, err)
	}
	x.dirs[d] = true
	return nil
}

func (x *extractor) create(rel string) (*os.File, error) {
	if err := x.mkdirs(rel); err != nil {
		return nil, err
	}
	// O_EXCL: never write through something already there.
	f, err := x.root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, x.mode)
	if err != nil {
		return nil, fmt.Errorf("extract %q: %w", rel, err)
	}
	x.created = append(x.created, rel)
	if err := f.Chmod(x.mode); err != nil { // the umask must not decide
		f.Close()
		return nil, fmt.Errorf("extract %q: %w", rel, err)
	}
	return f, nil
}

func (x *extractor) symlink(rel, target string) error {
	if err := x.mkdirs(rel); err != nil {
		return err
	}
	if err := x.root.Symlink(target, rel); err != nil {
		return fmt.Errorf("extract %q: %w", rel, err)
	}
	x.created = append(x.created, rel)
	return nil
}

// undo removes everything this extraction created, newest first, so each
// folder is empty by the time it goes.
func (x *extractor) undo() error {
	var errs []error
	for _, p := range slices.Backward(x.created) {
		if err := x.root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove partly extracted %q: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

func (x *extractor) close() error { return x.root.Close() }
