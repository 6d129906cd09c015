package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/seal"
	"github.com/dlthub/runtime-action/internal/store"
)

const testSecret = "sup3r-s3cret-Pa55w0rd"

func genKey(t *testing.T) (text, id string) {
	t.Helper()
	k, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ks, err := seal.ParseKeys(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, ks[0].ID()
}

// deployWithConfig uploads a deployment of files, a configuration of conf
// and a batch script running entry; it returns the script's id.
func (e *testEnv) deployWithConfig(t *testing.T, files, conf map[string]string, entry string) string {
	t.Helper()
	if r := e.upload(t, e.wsPath("/deployments"), buildPackage(t, files)); r.status != http.StatusCreated {
		t.Fatalf("upload deployment: %d %s", r.status, r.body)
	}
	e.uploadConfig(t, conf)
	return e.saveScript(t, map[string]any{"name": entry, "entry_point": entry, "description": "", "script_type": "batch"}).ID
}

func (e *testEnv) uploadConfig(t *testing.T, conf map[string]string) api.Configuration {
	t.Helper()
	r := e.upload(t, e.wsPath("/configurations"), buildPackage(t, conf))
	if r.status != http.StatusCreated {
		t.Fatalf("upload configuration: %d %s", r.status, r.body)
	}
	var c api.Configuration
	r.decode(t, &c)
	return c
}

// runLog waits for a run of script to end and returns its log as the API
// gives it.
func (e *testEnv) runToEnd(t *testing.T, script string) (api.DetailedRun, string) {
	t.Helper()
	run := e.startRun(t, script)
	d := e.waitRun(t, run.ID, 20*time.Second, terminal)
	var lr api.LogsResponse
	e.get(t, e.wsPath("/runs/", run.ID, "/logs")).decode(t, &lr)
	if lr.Logs == nil {
		t.Fatal("no logs")
	}
	return d, *lr.Logs
}

// filesHolding lists the files below dir that hold needle, as they are or
// gunzipped: a plain tarball hides nothing behind its compression.
func filesHolding(t *testing.T, dir, needle string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(needle)) {
			found = append(found, p)
			return nil
		}
		if zr, err := gzip.NewReader(bytes.NewReader(b)); err == nil {
			if plain, _ := io.ReadAll(zr); bytes.Contains(plain, []byte(needle)) {
				found = append(found, p+" (gunzipped)")
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func secretsConf() map[string]string {
	return map[string]string{
		"config.toml":       "[runtime]\nlog_level = 'INFO'\n",
		"prod.secrets.toml": "[sources.db]\npassword = \"" + testSecret + "\"\nport = 5432\nshort = \"abc\"\npin = 918273645\nrate = 1234.5\nwhole = 100000.0\n",
		"dev.secrets.toml":  "tokens = [\"dev-token-0001\", \"dev-token-0002\"]\n",
	}
}

func TestConfigurationEncryptedAtRest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	fi, err := os.Stat(filepath.Join(e.dir, encryptionKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the first start made no key file 0600: %v %v", fi, err)
	}
	sum := sha256.Sum256([]byte(testSecret))
	script := `import hashlib, os, tomllib
v = tomllib.load(open(".dlt/prod.secrets.toml", "rb"))["sources"]["db"]["password"]
print("sha256=" + hashlib.sha256(v.encode()).hexdigest())
for f in sorted(os.listdir(".dlt")):
    print(f, oct(os.stat(".dlt/" + f).st_mode & 0o777))
print("cwd=" + os.getcwd())
`
	id := e.deployWithConfig(t, map[string]string{"job.py": script}, secretsConf(), "job.py")
	if found := filesHolding(t, e.dir, testSecret); len(found) != 0 {
		t.Fatalf("the secret is readable in %v", found)
	}
	var sealed int
	for _, name := range e.packageFiles(t) {
		if strings.HasSuffix(name, sealedExt) {
			sealed++
			b, _ := os.ReadFile(filepath.Join(e.dir, packagesDir, name))
			if !bytes.HasPrefix(b, []byte("RTASEAL1")) {
				t.Errorf("%s is not sealed: % x", name, b[:8])
			}
		}
	}
	if sealed != 1 {
		t.Errorf("sealed packages %d, want 1: %v", sealed, e.packageFiles(t))
	}

	run, logs := e.runToEnd(t, id)
	if run.Status != api.StatusCompleted {
		t.Fatalf("run %s: %s", run.Status, logs)
	}
	for _, want := range []string{"sha256=" + hex.EncodeToString(sum[:]), "prod.secrets.toml 0o600", "dev.secrets.toml 0o600", "config.toml 0o644"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	runDir := filepath.Join(DefaultRunsDir(e.dir), run.ID)
	if !strings.Contains(logs, "cwd="+runDir) {
		t.Errorf("the run did not run in %s:\n%s", runDir, logs)
	}
	if _, err := os.Stat(runDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("run folder left: %v", err)
	}
	if names := dirNames(t, filepath.Join(e.dir, tmpDir)); len(names) != 0 {
		t.Errorf("tmp holds %v after the run", names)
	}
	if found := filesHolding(t, e.dir, testSecret); len(found) != 0 {
		t.Errorf("after the run the secret is readable in %v", found)
	}
}

// TestRedactedRunLog prints the secrets of the configuration in the forms
// scripts print them: the stored log and the API show *** instead.
func TestRedactedRunLog(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	script := `import base64, json, sys, time, tomllib
s = tomllib.load(open(".dlt/prod.secrets.toml", "rb"))["sources"]["db"]
v = s["password"]
print("plain", v)
print("base64", base64.b64encode(v.encode()).decode())
print("urlsafe", base64.urlsafe_b64encode(v.encode()).decode().rstrip("="))
print("json", json.dumps({"password": v}))
print("other profile", tomllib.load(open(".dlt/dev.secrets.toml", "rb"))["tokens"])
print("short", s["short"], "port", s["port"])
print("numbers", s["pin"], s["rate"], s["whole"], json.dumps(s["pin"]))
print("hex", v.encode().hex(), v.encode().hex().upper())
print("basic", base64.b64encode(b"user:" + v.encode()).decode(), base64.b64encode(b"ab:" + v.encode() + b":x").decode())
sys.stdout.write("split " + v[:6]); sys.stdout.flush(); time.sleep(0.2)
sys.stdout.write(v[6:] + " done\n")
`
	id := e.deployWithConfig(t, map[string]string{"job.py": script}, secretsConf(), "job.py")
	run, logs := e.runToEnd(t, id)
	if run.Status != api.StatusCompleted {
		t.Fatalf("run %s: %s", run.Status, logs)
	}
	want := `plain ***
base64 ***
urlsafe ***
json {"password": "***"}
other profile ['***', '***']
short abc port ***
numbers *** *** *** ***
hex *** ***
basic dXNlcjp***Q= YWI6***Ong=
split *** done
`
	if logs != want {
		t.Errorf("logs:\n%s\nwant:\n%s", logs, want)
	}
	stored, err := os.ReadFile(e.srv.logPath(run.ID))
	if err != nil || string(stored) != want {
		t.Errorf("stored log %q %v", stored, err)
	}
	b64 := base64.StdEncoding.EncodeToString([]byte(testSecret))
	for _, needle := range []string{testSecret, b64, "dev-token-0001"} {
		if found := filesHolding(t, e.dir, needle); len(found) != 0 {
			t.Errorf("%q is readable in %v", needle, found)
		}
	}
}

// sealedFiles reads the sealed packages of a data dir: name -> bytes.
func sealedFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, name := range dirNames(t, filepath.Join(dir, packagesDir)) {
		if strings.HasSuffix(name, sealedExt) {
			b, err := os.ReadFile(filepath.Join(dir, packagesDir, name))
			if err != nil {
				t.Fatal(err)
			}
			out[name] = b
		}
	}
	return out
}

func keyIDs(t *testing.T, files map[string][]byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, b := range files {
		id, err := seal.KeyID(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = id
	}
	return out
}

func TestEncryptionKeyRefused(t *testing.T) {
	t.Parallel()
	keyA, idA := genKey(t)
	keyB, idB := genKey(t)
	dir := t.TempDir()
	e := newEnv(t, func(c *Config) { c.DataDir = dir; c.EncryptionKey = keyA })
	e.uploadConfig(t, secretsConf())
	e.hs.Close()
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	before := sealedFiles(t, dir)
	keyFileA := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keyFileA, []byte("# old\n"+keyA+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr []string
	}{
		{"wrong key", func(c *Config) { c.EncryptionKey = keyB },
			[]string{"encrypted with key id " + idA, "not among the keys given in RUNTIME_SERVER_ENCRYPTION_KEY (ids " + idB + ")"}},
		{"no key", func(c *Config) {}, []string{"are encrypted (key id " + idA + ") but no encryption key is given"}},
		{"key twice", func(c *Config) { c.EncryptionKey = keyA; c.EncryptionKeyFile = keyFileA }, []string{"encryption keys given twice"}},
		{"malformed key", func(c *Config) { c.EncryptionKey = keyA[:20] }, []string{"encryption key 1: not base64 of 32 bytes"}},
		{"missing key file", func(c *Config) { c.EncryptionKeyFile = filepath.Join(dir, "nope") }, []string{"read encryption key file", "serve keys generate"}},
		{"empty key file", func(c *Config) {
			p := filepath.Join(t.TempDir(), "empty")
			os.WriteFile(p, []byte("# nothing\n"), 0o600)
			c.EncryptionKeyFile = p
		}, []string{"no encryption key in"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{DataDir: dir}
			tt.mod(&cfg)
			srv, err := Open(context.Background(), cfg)
			if err == nil {
				srv.Close()
				t.Fatal("the server started")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q, want %q", err, w)
				}
			}
			for _, k := range []string{keyA, keyB, keyA[:20]} {
				if strings.Contains(err.Error(), k) {
					t.Errorf("the error shows a key: %v", err)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, encryptionKeyFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused start made a key file: %v", err)
	}
	if after := sealedFiles(t, dir); len(after) != len(before) {
		t.Errorf("sealed packages changed: %d, were %d", len(after), len(before))
	} else {
		for name, b := range before {
			if !bytes.Equal(after[name], b) {
				t.Errorf("%s changed", name)
			}
		}
	}

	// the right key, from a file, starts it
	srv, err := Open(context.Background(), Config{DataDir: dir, EncryptionKeyFile: keyFileA})
	if err != nil {
		t.Fatalf("start with the right key: %v", err)
	}
	srv.Close()

	// a key whose id is recorded with another check value is a wrong key
	db, err := sql.Open("sqlite", filepath.Join(dir, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE encryption_keys SET check_value = 'x' WHERE id = ?`, idA); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(context.Background(), Config{DataDir: dir, EncryptionKey: keyA})
	if err == nil || !strings.Contains(err.Error(), "it is a wrong key") {
		t.Errorf("start with a check value mismatch: %v", err)
	}
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	keyA, idA := genKey(t)
	keyB, idB := genKey(t)
	dir := t.TempDir()
	ctx := context.Background()
	start := func(keys string) *testEnv {
		t.Helper()
		return newEnv(t, func(c *Config) { c.DataDir = dir; c.EncryptionKey = keys })
	}
	stop := func(e *testEnv) {
		t.Helper()
		e.hs.Close()
		if err := e.srv.Close(); err != nil {
			t.Fatal(err)
		}
	}
	script := `import tomllib
print(len(tomllib.load(open(".dlt/prod.secrets.toml", "rb"))["sources"]["db"]["password"]))
`
	e := start(keyA)
	id := e.deployWithConfig(t, map[string]string{"job.py": script}, secretsConf(), "job.py")
	stop(e)

	// B added: new configurations are sealed with it, old ones still open
	e = start(keyA + "\n" + keyB)
	conf2 := secretsConf()
	conf2["prod.secrets.toml"] = strings.Replace(conf2["prod.secrets.toml"], testSecret, testSecret+"-v2", 1)
	e.uploadConfig(t, conf2)
	ids := keyIDs(t, sealedFiles(t, dir))
	count := map[string]int{}
	for _, id := range ids {
		count[id]++
	}
	if count[idA] != 1 || count[idB] != 1 {
		t.Fatalf("key ids of the packages %v, want one of %s and one of %s", ids, idA, idB)
	}
	if run, logs := e.runToEnd(t, id); run.Status != api.StatusCompleted || logs != "24\n" {
		t.Fatalf("run with both keys: %s %q", run.Status, logs)
	}
	// rotation needs a data dir, and the server stopped
	typo := filepath.Join(t.TempDir(), "typo")
	if _, err := RotateKeys(ctx, Config{DataDir: typo, EncryptionKey: keyB}); err == nil || !strings.Contains(err.Error(), "is not the data dir of a Runtime") {
		t.Errorf("rotate on a folder that is no data dir: %v", err)
	}
	if _, err := os.Stat(typo); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("rotate made %s: %v", typo, err)
	}
	if _, err := RotateKeys(ctx, Config{DataDir: dir, EncryptionKey: keyA + "\n" + keyB}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("rotate beside a running server: %v", err)
	}
	stop(e)

	res, err := RotateKeys(ctx, Config{DataDir: dir, EncryptionKey: keyA + "," + keyB})
	if err != nil {
		t.Fatal(err)
	}
	if res.KeyID != idB || res.Resealed != 1 || res.Packages != 2 || len(res.OldKeyIDs) != 1 || res.OldKeyIDs[0] != idA {
		t.Errorf("rotate: %+v", res)
	}
	for name, id := range keyIDs(t, sealedFiles(t, dir)) {
		if id != idB {
			t.Errorf("%s still under %s", name, id)
		}
	}
	if res, err := RotateKeys(ctx, Config{DataDir: dir, EncryptionKey: keyB}); err != nil || res.Resealed != 0 {
		t.Errorf("second rotate: %+v %v", res, err)
	}
	if found := filesHolding(t, dir, testSecret); len(found) != 0 {
		t.Errorf("rotation left the secret readable in %v", found)
	}

	// A alone no longer opens anything; B alone opens everything
	if _, err := Open(ctx, Config{DataDir: dir, EncryptionKey: keyA}); err == nil || !strings.Contains(err.Error(), idB) {
		t.Errorf("start with the old key only: %v", err)
	}
	e = start(keyB)
	if run, logs := e.runToEnd(t, id); run.Status != api.StatusCompleted || logs != "24\n" {
		t.Fatalf("run after rotation: %s %q", run.Status, logs)
	}
	blobs, err := e.srv.dir.store.PackageBlobs(ctx, store.KindConfiguration)
	if err != nil || len(blobs) != 2 {
		t.Fatalf("blobs %v %v", blobs, err)
	}
	for _, blob := range blobs {
		p, secrets, err := e.srv.openRunConfiguration("check-"+blob[:8], blob)
		if err != nil {
			t.Errorf("open %s after rotation: %v", blob, err)
			continue
		}
		os.Remove(p)
		if !strings.Contains(strings.Join(secrets, "\n"), testSecret) {
			t.Errorf("secrets of %s: %q", blob, secrets)
		}
	}
}

// TestPlainConfigurationsSealed starts a server on a data dir an older
// server left its configurations in plain in: they are sealed at start.
func TestPlainConfigurationsSealed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := newEnv(t, func(c *Config) { c.DataDir = dir })
	script := "import tomllib\nprint(len(tomllib.load(open('.dlt/prod.secrets.toml', 'rb'))['sources']['db']['password']))\n"
	id := e.deployWithConfig(t, map[string]string{"job.py": script}, secretsConf(), "job.py")
	e.hs.Close()
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	// turn the sealed configuration back into the plain tarball of before
	b, err := os.ReadFile(filepath.Join(dir, encryptionKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := seal.ParseKeys(string(b))
	if err != nil {
		t.Fatal(err)
	}
	kr, _ := seal.NewKeyring(keys...)
	for name, sealed := range sealedFiles(t, dir) {
		var plain bytes.Buffer
		if err := kr.Open(&plain, bytes.NewReader(sealed)); err != nil {
			t.Fatal(err)
		}
		base := strings.TrimSuffix(name, sealedExt)
		os.WriteFile(filepath.Join(dir, packagesDir, base+".tar.gz"), plain.Bytes(), 0o600)
		os.Remove(filepath.Join(dir, packagesDir, name))
	}
	if found := filesHolding(t, dir, testSecret); len(found) != 1 {
		t.Fatalf("the plain configuration: %v", found)
	}

	e = newEnv(t, func(c *Config) { c.DataDir = dir })
	if found := filesHolding(t, dir, testSecret); len(found) != 0 {
		t.Errorf("after the start the secret is readable in %v", found)
	}
	if n := len(sealedFiles(t, dir)); n != 1 {
		t.Errorf("%d sealed packages, want 1", n)
	}
	if run, logs := e.runToEnd(t, id); run.Status != api.StatusCompleted || logs != "21\n" {
		t.Fatalf("run: %s %q", run.Status, logs)
	}
}

// TestInterruptedRunFolderRemoved starts a server on a data dir a killed
// server left a run folder in: the folder, secrets and all, goes at start.
func TestInterruptedRunFolderRemoved(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := newEnv(t, func(c *Config) { c.DataDir = dir })
	id := e.deployWithConfig(t, map[string]string{"job.py": "print('hi')\n"}, secretsConf(), "job.py")
	run, _ := e.runToEnd(t, id)
	e.hs.Close()
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	// as a kill -9 in the middle of the run would have left it
	db, err := sql.Open("sqlite", filepath.Join(dir, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE runs SET status = 'running', time_ended = NULL WHERE id = ?`, run.ID); err != nil {
		t.Fatal(err)
	}
	db.Close()
	left := filepath.Join(DefaultRunsDir(dir), run.ID, ".dlt")
	if err := os.MkdirAll(left, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(left, "secrets.toml"), []byte("password = \""+testSecret+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e = newEnv(t, func(c *Config) { c.DataDir = dir })
	if _, err := os.Stat(filepath.Join(DefaultRunsDir(dir), run.ID)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the interrupted run's folder is left: %v", err)
	}
	if d := e.waitRun(t, run.ID, 10*time.Second, terminal); d.Status != api.StatusFailed {
		t.Errorf("interrupted run %s", d.Status)
	}
}
