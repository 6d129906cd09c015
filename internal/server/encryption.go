package server

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/dlthub/runtime-action/internal/seal"
	"github.com/dlthub/runtime-action/internal/store"
)

// Secrets at rest: configuration packages hold secrets, so they are stored
// sealed (internal/seal: AES-256-GCM, streamed) as packages/<blob>.sealed,
// never as plain tarballs. The keys come from Config.EncryptionKey, else
// Config.EncryptionKeyFile, else <data-dir>/encryption.key, made on the
// first start. The database keeps each key's check value (never the key),
// and every sealed file names its key: a start without a key some sealed
// file needs, or with a wrong one, is refused before anything is served.

// Names in the data dir.
const (
	encryptionKeyFile = "encryption.key"
	sealedExt         = ".sealed"
	// maxSecretsFile bounds one secrets file read for redaction.
	maxSecretsFile = 4 << 20
)

// blobPath is where a package's stored bytes are: deployments as tarballs,
// configurations sealed.
func (s *Server) blobPath(kind store.PackageKind, blob string) string {
	if kind == store.KindConfiguration {
		return s.dir.join(packagesDir, filepath.Base(blob)+sealedExt)
	}
	return s.packagePath(blob)
}

// keySource says where the keys were read from, for messages.
type keySource struct {
	text string // the keys
	name string // where they came from
	file string // the file they were read from ("": the environment)
	made bool   // made just now
}

// readKeys finds the keys: the configured text, the configured file, or
// the data dir's key file, which is made when missing unless sealed data
// exists (a new key would not open it).
func readKeys(cfg Config, d *dataDir, sealedIDs []string) (keySource, error) {
	switch {
	case cfg.EncryptionKey != "" && cfg.EncryptionKeyFile != "":
		return keySource{}, errors.New("encryption keys given twice: set RUNTIME_SERVER_ENCRYPTION_KEY or pass --encryption-key-file, not both")
	case cfg.EncryptionKey != "":
		return keySource{text: cfg.EncryptionKey, name: "RUNTIME_SERVER_ENCRYPTION_KEY"}, nil
	case cfg.EncryptionKeyFile != "":
		b, err := os.ReadFile(cfg.EncryptionKeyFile)
		if err != nil {
			return keySource{}, fmt.Errorf("read encryption key file: %w (make one with \"runtime-action serve keys generate > FILE\")", err)
		}
		return keySource{text: string(b), name: cfg.EncryptionKeyFile, file: cfg.EncryptionKeyFile}, nil
	}
	p := d.join(encryptionKeyFile)
	b, err := os.ReadFile(p)
	if err == nil {
		return keySource{text: string(b), name: p, file: p}, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return keySource{}, fmt.Errorf("read encryption key file: %w", err)
	}
	if len(sealedIDs) > 0 {
		return keySource{}, fmt.Errorf("configuration packages in %q are encrypted (key id %s) but no encryption key is given: "+
			"set RUNTIME_SERVER_ENCRYPTION_KEY, pass --encryption-key-file, or put the key file back at %q",
			d.path, strings.Join(sealedIDs, ", "), p)
	}
	key, err := seal.GenerateKey()
	if err != nil {
		return keySource{}, err
	}
	text := "# runtime-action encryption key of this data dir: the last key encrypts.\n" + key + "\n"
	if err := writeFileAtomic(p, []byte(text), 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) {
			b, err := os.ReadFile(p)
			return keySource{text: string(b), name: p, file: p}, err
		}
		return keySource{}, fmt.Errorf("write encryption key file: %w", err)
	}
	return keySource{text: text, name: p, file: p, made: true}, nil
}

// sealedState is what the stored configuration packages need.
type sealedState struct {
	byKey map[string][]string // key id -> blobs sealed with it
	plain []string            // blobs stored as plain tarballs (older data dirs)
}

func (st sealedState) ids() []string {
	ids := make([]string, 0, len(st.byKey))
	for id := range st.byKey {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// scanSealed reads the key id of every stored configuration package.
func scanSealed(ctx context.Context, d *dataDir, log *slog.Logger) (sealedState, error) {
	st := sealedState{byKey: map[string][]string{}}
	blobs, err := d.store.PackageBlobs(ctx, store.KindConfiguration)
	if err != nil {
		return st, err
	}
	for _, blob := range blobs {
		f, err := os.Open(d.join(packagesDir, filepath.Base(blob)+sealedExt))
		if errors.Is(err, fs.ErrNotExist) {
			if _, perr := os.Stat(d.join(packagesDir, filepath.Base(blob)+".tar.gz")); perr == nil {
				st.plain = append(st.plain, blob)
			} else {
				log.Warn("configuration package file is missing", "blob", blob)
			}
			continue
		}
		if err != nil {
			return st, fmt.Errorf("read configuration package: %w", err)
		}
		id, err := seal.KeyID(f)
		f.Close()
		if err != nil {
			return st, fmt.Errorf("configuration package %q: %w", blob, err)
		}
		st.byKey[id] = append(st.byKey[id], blob)
	}
	return st, nil
}

// openKeys loads the keyring and checks it against the data dir: every key
// a sealed package needs must be given, and a given key whose id the
// database knows must have the check value recorded for it. It then records
// the keys given and seals the configuration packages an older server left
// in plain.
func openKeys(ctx context.Context, cfg Config, d *dataDir, log *slog.Logger) (*seal.Keyring, error) {
	st, err := scanSealed(ctx, d, log)
	if err != nil {
		return nil, fmt.Errorf("check encryption keys: %w", err)
	}
	src, err := readKeys(cfg, d, st.ids())
	if err != nil {
		return nil, err
	}
	if src.file != "" {
		if err := checkPrivate("encryption key file", src.file); err != nil {
			return nil, err
		}
	}
	keys, err := seal.ParseKeys(src.text)
	if err != nil {
		return nil, fmt.Errorf("read encryption keys from %s: %w", src.name, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no encryption key in %s: make one with \"runtime-action serve keys generate\"", src.name)
	}
	kr, err := seal.NewKeyring(keys...)
	if err != nil {
		return nil, err
	}
	known, err := d.store.EncryptionKeys(ctx)
	if err != nil {
		return nil, err
	}
	recorded := map[string]store.EncryptionKey{}
	for _, k := range known {
		recorded[k.ID] = k
	}
	given := make([]string, 0, len(keys))
	for _, k := range kr.Keys() {
		given = append(given, k.ID())
		if r, ok := recorded[k.ID()]; ok && r.CheckValue != k.CheckValue() {
			return nil, fmt.Errorf("encryption key with id %s from %s is not the key recorded under that id in %q: it is a wrong key", k.ID(), src.name, d.path)
		}
	}
	for _, id := range st.ids() {
		if _, ok := kr.Key(id); ok {
			continue
		}
		since := ""
		if r, ok := recorded[id]; ok {
			since = fmt.Sprintf(", first used %s", r.Created.Format(time.DateOnly))
		}
		return nil, fmt.Errorf("configuration packages in %q are encrypted with key id %s%s, which is not among the keys given in %s (ids %s): "+
			"give that key too (several keys can be given, the last one encrypts)",
			d.path, id, since, src.name, strings.Join(given, ", "))
	}
	for _, k := range kr.Keys() {
		if err := d.store.AddEncryptionKey(ctx, store.EncryptionKey{ID: k.ID(), CheckValue: k.CheckValue()}); err != nil {
			return nil, err
		}
	}
	if fi, err := os.Stat(src.file); src.file != "" && err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("the encryption key file can be read by other users: chmod 600 it", "file", src.file, "mode", fi.Mode().Perm().String())
	}
	if src.made {
		log.Warn("made an encryption key for configuration packages; keep a copy of it apart from the data dir, "+
			"or give your own with RUNTIME_SERVER_ENCRYPTION_KEY or --encryption-key-file", "file", src.name, "key_id", kr.Primary().ID())
	}
	if len(st.plain) > 0 {
		n, err := resealAll(ctx, d, kr, st.plain, false)
		if err != nil {
			return nil, fmt.Errorf("encrypt the configuration packages stored in plain: %w", err)
		}
		log.Info("encrypted the configuration packages stored in plain", "count", n, "key_id", kr.Primary().ID())
	}
	return kr, nil
}

// resealAll seals blobs under the primary key: plain tarballs (then
// removed, unless a deployment has the same bytes) and, with rotate, sealed
// files of other keys. Each file is replaced atomically, so an interrupted
// run leaves every file readable with the keys given. It returns how many
// files it wrote.
func resealAll(ctx context.Context, d *dataDir, kr *seal.Keyring, blobs []string, rotate bool) (int, error) {
	deps, err := d.store.PackageBlobs(ctx, store.KindDeployment)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, blob := range blobs {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		wrote, err := resealOne(d, kr, blob, rotate)
		if err != nil {
			return n, fmt.Errorf("configuration package %q: %w", blob, err)
		}
		if !wrote {
			continue
		}
		n++
		if !slices.Contains(deps, blob) {
			plainPath := d.join(packagesDir, filepath.Base(blob)+".tar.gz")
			if err := os.Remove(plainPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return n, err
			}
		}
	}
	return n, syncDir(d.join(packagesDir))
}

// resealOne seals one blob under the primary key if it is stored in plain,
// or (rotate) sealed under another key.
func resealOne(d *dataDir, kr *seal.Keyring, blob string, rotate bool) (bool, error) {
	base := filepath.Base(blob)
	sealedPath := d.join(packagesDir, base+sealedExt)
	f, err := os.Open(sealedPath)
	if errors.Is(err, fs.ErrNotExist) {
		p, err := os.Open(d.join(packagesDir, base+".tar.gz"))
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil // missing: scanSealed warns of it
		}
		if err != nil {
			return false, err
		}
		defer p.Close()
		return true, sealTo(d, kr, sealedPath, p)
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	id, err := seal.KeyID(f)
	if err != nil {
		return false, err
	}
	if !rotate || id == kr.Primary().ID() {
		return false, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return false, err
	}
	src, err := kr.NewReader(f)
	if err != nil {
		return false, err
	}
	return true, sealTo(d, kr, sealedPath, src)
}

// sealTo seals src into a temporary file and renames it to dst.
func sealTo(d *dataDir, kr *seal.Keyring, dst string, src io.Reader) error {
	tmp, err := os.CreateTemp(d.join(tmpDir), "seal-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := kr.Seal(tmp, src); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// RotateResult is what RotateKeys did.
type RotateResult struct {
	KeyID     string // the key everything is now encrypted with
	Resealed  int    // packages encrypted again (or for the first time)
	Packages  int    // configuration packages stored
	OldKeyIDs []string
}

// RotateKeys encrypts every configuration package of the data dir under the
// last key of cfg's keys, so that the older keys can be dropped. It takes
// the data dir's lock: stop the server first.
func RotateKeys(ctx context.Context, cfg Config) (RotateResult, error) {
	cfg = cfg.withDefaults()
	if cfg.DataDir == "" {
		return RotateResult{}, errors.New("rotate keys: no data dir given: pass --data-dir or set RUNTIME_SERVER_DATA_DIR")
	}
	// A mistyped path must not become a new data dir with a new key.
	if _, err := os.Stat(filepath.Join(cfg.DataDir, dbFile)); err != nil {
		return RotateResult{}, fmt.Errorf("rotate keys: %q is not the data dir of a Runtime (no %s in it): pass the --data-dir the server uses", cfg.DataDir, dbFile)
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return RotateResult{}, fmt.Errorf("rotate keys: %w", err)
	}
	defer lock.unlock()
	d, err := openDataDir(ctx, cfg.DataDir, cfg.Now)
	if err != nil {
		return RotateResult{}, err
	}
	defer d.store.Close()
	kr, err := openKeys(ctx, cfg, d, cfg.Logger)
	if err != nil {
		return RotateResult{}, err
	}
	st, err := scanSealed(ctx, d, cfg.Logger)
	if err != nil {
		return RotateResult{}, err
	}
	var blobs []string
	res := RotateResult{KeyID: kr.Primary().ID()}
	for _, id := range st.ids() {
		blobs = append(blobs, st.byKey[id]...)
		if id != res.KeyID {
			res.OldKeyIDs = append(res.OldKeyIDs, id)
		}
	}
	res.Packages = len(blobs)
	res.Resealed, err = resealAll(ctx, d, kr, blobs, true)
	if err != nil {
		return res, fmt.Errorf("rotate keys: %w", err)
	}
	return res, nil
}

// runConfigPath is where the plaintext configuration of a run is while its
// run folder is made.
func (s *Server) runConfigPath(runID string) string {
	return s.dir.join(tmpDir, "config-"+filepath.Base(runID)+".tar.gz")
}

// openRunConfiguration decrypts a configuration package for a run into a
// file of its own (0600, in tmp/, which is 0700) that the executor
// extracts, and returns the secret values the run's log must not show.
// removeRunConfiguration deletes the file as soon as the run folder is made.
func (s *Server) openRunConfiguration(runID, blob string) (string, []string, error) {
	f, err := os.Open(s.blobPath(store.KindConfiguration, blob))
	if err != nil {
		return "", nil, fmt.Errorf("open the configuration package: %w", err)
	}
	defer f.Close()
	r, err := s.keys.NewReader(f)
	if err != nil {
		return "", nil, fmt.Errorf("decrypt the configuration package: %w", err)
	}
	p := s.runConfigPath(runID)
	out, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", nil, fmt.Errorf("decrypt the configuration package: %w", err)
	}
	_, err = io.Copy(out, r)
	if err == nil {
		_, err = out.Seek(0, io.SeekStart)
	}
	var secrets []string
	if err == nil {
		secrets, err = secretValues(out)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(p)
		return "", nil, fmt.Errorf("decrypt the configuration package: %w", err)
	}
	return p, secrets, nil
}

// removeRunConfiguration deletes the run's plaintext configuration; it is
// safe to call more than once.
func (s *Server) removeRunConfiguration(runID string) {
	if err := os.Remove(s.runConfigPath(runID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("remove the decrypted configuration of a run", "run", runID, "error", err)
	}
}

// secretValues returns the string values of every *secrets.toml file of a
// configuration package (a tar.gz per docs/PACKAGING.md), of all profiles: a
// script may read any of them.
func secretValues(r io.Reader) ([]string, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	var out []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(hdr.Name, "files/") || !strings.HasSuffix(path.Base(hdr.Name), "secrets.toml") {
			continue
		}
		if hdr.Typeflag != tar.TypeReg {
			// A link would let the script read secrets that are not
			// redacted (uploads refuse it: checkSecretsLinks).
			return nil, fmt.Errorf("%s is not a regular file: a secrets file must not be a symlink", strings.TrimPrefix(hdr.Name, "files/"))
		}
		b, err := io.ReadAll(io.LimitReader(tr, maxSecretsFile))
		if err != nil {
			return nil, err
		}
		var doc map[string]any
		if _, err := toml.Decode(string(b), &doc); err != nil {
			// Not TOML: the script cannot read values from it either, but
			// its lines may be secrets all the same.
			for line := range strings.Lines(string(b)) {
				if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
					out = append(out, l)
				}
			}
			continue
		}
		out = appendStrings(out, doc)
	}
}

// appendStrings appends the values found anywhere in v as a script may
// print them: strings as they are, integers in decimal, floats as Go and
// Python write them (1e+20, 123.0, 0.5).
func appendStrings(out []string, v any) []string {
	switch x := v.(type) {
	case string:
		return append(out, x)
	case int64:
		return append(out, strconv.FormatInt(x, 10))
	case float64:
		f := strconv.FormatFloat(x, 'f', -1, 64)
		out = append(out, f, strconv.FormatFloat(x, 'g', -1, 64))
		if !strings.ContainsAny(f, ".eEnN") {
			out = append(out, f+".0") // Python's repr of a whole float
		}
		return out
	case map[string]any:
		for _, e := range x {
			out = appendStrings(out, e)
		}
	case []map[string]any:
		for _, e := range x {
			out = appendStrings(out, e)
		}
	case []any:
		for _, e := range x {
			out = appendStrings(out, e)
		}
	}
	return out
}

// uploadSink is where an upload of kind is written: tmp itself, or for a
// configuration a writer sealing onto tmp, so that its plaintext never
// reaches the disk. finish completes what was written.
func (s *Server) uploadSink(kind store.PackageKind, tmp *os.File) (io.Writer, func() error, error) {
	if kind != store.KindConfiguration {
		return tmp, func() error { return nil }, nil
	}
	w, err := s.keys.NewWriter(tmp)
	if err != nil {
		return nil, nil, err
	}
	return w, w.Close, nil
}

// uploadSource reads back what uploadSink wrote to tmp, from its start, in
// plain.
func (s *Server) uploadSource(kind store.PackageKind, tmp *os.File) (io.Reader, error) {
	if kind != store.KindConfiguration {
		return tmp, nil
	}
	return s.keys.NewReader(tmp)
}
