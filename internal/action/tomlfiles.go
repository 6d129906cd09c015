package action

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/BurntSushi/toml"
	"github.com/dlthub/runtime-action/internal/api"
)

// validateTOML checks that content, the value of the input named input, is
// TOML. The error names the input, the line and column, and the last key
// read, but never the parser's message: it may quote a value, and values may
// be secrets.
func validateTOML(input, content string) error {
	if content == "" {
		return nil
	}
	var v map[string]any
	_, err := toml.Decode(content, &v)
	if err == nil {
		return nil
	}
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("input %q is not valid TOML (the content is not shown, it may hold secrets)", input)
	}
	where := fmt.Sprintf("line %d, column %d", pe.Position.Line, pe.Position.Col)
	if pe.LastKey != "" {
		where += fmt.Sprintf(", after key %q", pe.LastKey)
	}
	return fmt.Errorf("input %q is not valid TOML: syntax error at %s (the content is not shown, it may hold secrets)", input, where)
}

// writeProfileFiles writes configTOML to .dlt/<profile>.config.toml (mode
// 0644) and secretsTOML to .dlt/<profile>.secrets.toml (mode 0600) below the
// workspace root, skipping an empty one, so that configuration sync uploads
// them. The contents are expected to be checked with ValidateTOML already
// (ReadInputs does).
//
// An input replaces a file of the same name that the workspace already has,
// for this step only: the existing file is moved aside (to a name that no
// package selects) and cleanup moves it back after removing the written file.
// Moving rather than holding the bytes keeps the original safe on disk if the
// process dies before cleanup. cleanup is safe to call more than once; on
// error nothing is left changed.
func writeProfileFiles(root, profile, configTOML, secretsTOML string) (cleanup func() error, err error) {
	if !api.ValidProfile(profile) {
		return nil, fmt.Errorf("write profile files: %q is not a profile name", profile)
	}
	dir := filepath.Join(root, ".dlt")
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("write profile files: no .dlt folder in %q: is working-directory the workspace?", root)
	}
	var undo []func() error
	cleanupAll := func() error {
		var errs []error
		for i := len(undo) - 1; i >= 0; i-- {
			errs = append(errs, undo[i]())
		}
		undo = nil
		return errors.Join(errs...)
	}
	for _, f := range []struct {
		name, content string
		mode          fs.FileMode
	}{
		{profile + ".config.toml", configTOML, 0o644},
		{profile + ".secrets.toml", secretsTOML, 0o600},
	} {
		if f.content == "" {
			continue
		}
		u, err := replaceFile(filepath.Join(dir, f.name), []byte(f.content), f.mode)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("write .dlt/%s: %w", f.name, err), cleanupAll())
		}
		undo = append(undo, u)
	}
	return cleanupAll, nil
}

// replaceFile writes content to path, moving an existing file aside first,
// and returns the function that undoes both.
func replaceFile(path string, content []byte, mode fs.FileMode) (func() error, error) {
	var backup string
	if _, err := os.Lstat(path); err == nil {
		var rnd [6]byte
		if _, err := rand.Read(rnd[:]); err != nil {
			return nil, err
		}
		// The suffix keeps the name from ending in config.toml or
		// secrets.toml, so the backup is never packaged.
		backup = path + ".runtime-action-" + hex.EncodeToString(rnd[:]) + ".bak"
		if err := os.Rename(path, backup); err != nil {
			return nil, fmt.Errorf("move the existing file aside: %w", err)
		}
	}
	restore := func() error {
		if backup == "" {
			return nil
		}
		if err := os.Rename(backup, path); err != nil {
			return fmt.Errorf("restore %q from %q: %w", path, backup, err)
		}
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return nil, errors.Join(err, restore())
	}
	// The umask may have narrowed the mode; the secrets file must be 0600
	// and the config file readable, whatever the umask.
	_, werr := f.Write(content)
	cerr := f.Close()
	merr := os.Chmod(path, mode)
	if err := errors.Join(werr, cerr, merr); err != nil {
		return nil, errors.Join(err, os.Remove(path), restore())
	}
	return func() error {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %q: %w", path, err)
		}
		return restore()
	}, nil
}
