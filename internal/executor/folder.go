package executor

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/dlthub/runtime-action/internal/pack"
)

// prepare makes the run folder dir below runsDir: the deployment at its root,
// the configuration in .dlt/ (secrets readable by the owner only), and the
// workspace marker and profile name dlt looks for.
func prepare(runsDir, dir string, j Job) error {
	if err := os.MkdirAll(runsDir, 0o700); err != nil {
		return fmt.Errorf("make runs folder: %w", err)
	}
	// A folder of the same run can only be left by a server that died
	// mid-run: start afresh.
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clear run folder: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("make run folder: %w", err)
	}
	if err := extract(j.Deployment, dir, 0); err != nil {
		return fmt.Errorf("extract deployment: %w", err)
	}
	// A deployment never carries .dlt/ (PACKAGING.md); should one, the
	// settings are the configuration's and nothing else.
	dlt := filepath.Join(dir, ".dlt")
	if err := os.RemoveAll(dlt); err != nil {
		return fmt.Errorf("clear settings folder: %w", err)
	}
	if err := os.Mkdir(dlt, 0o700); err != nil {
		return fmt.Errorf("make settings folder: %w", err)
	}
	if j.Configuration != "" {
		// Everything is written 0600 first, so a secret is never readable
		// by others, not even for a moment; config files are opened after.
		if err := extract(j.Configuration, dlt, 0o600); err != nil {
			return fmt.Errorf("extract configuration: %w", err)
		}
		if err := openConfigs(dlt); err != nil {
			return fmt.Errorf("extract configuration: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(dlt, ".workspace"), nil, 0o644); err != nil {
		return fmt.Errorf("write workspace marker: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dlt, "profile-name"), []byte(j.Profile+"\n"), 0o644); err != nil {
		return fmt.Errorf("write profile name: %w", err)
	}
	return nil
}

func extract(pkg, dir string, mode uint32) error {
	f, err := os.Open(pkg)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = pack.Extract(f, dir, pack.Limits{}, mode)
	return err
}

// openConfigs gives the regular files below dlt that are not secrets mode
// 0644.
func openConfigs(dlt string) error {
	return filepath.WalkDir(dlt, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() || strings.HasSuffix(d.Name(), "secrets.toml") {
			return nil
		}
		return os.Chmod(path, 0o644)
	})
}
