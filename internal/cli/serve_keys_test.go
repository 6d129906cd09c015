package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dlthub/runtime-action/internal/client"
	"github.com/dlthub/runtime-action/internal/pack"
	"github.com/dlthub/runtime-action/internal/seal"
	"github.com/dlthub/runtime-action/internal/server"
)

// generatedKey runs serve keys generate and returns the key and its id.
func generatedKey(t *testing.T) (string, string) {
	t.Helper()
	code, out, errs := runServeCmd(t, nil, "serve", "keys", "generate")
	if code != ExitOK {
		t.Fatalf("keys generate: %d %s", code, errs)
	}
	key := strings.TrimSpace(out)
	ks, err := seal.ParseKeys(key)
	if err != nil || len(ks) != 1 || out != key+"\n" {
		t.Fatalf("keys generate printed %q: %v", out, err)
	}
	return key, ks[0].ID()
}

func TestServeKeys(t *testing.T) {
	keyA, idA := generatedKey(t)
	keyB, idB := generatedKey(t)
	if keyA == keyB {
		t.Fatal("two generated keys are equal")
	}
	dir := t.TempDir()
	keyFile := filepath.Join(t.TempDir(), "encryption.key")
	if err := os.WriteFile(keyFile, []byte(keyA+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// a server stores a configuration under key A
	srv, err := server.Start(context.Background(), server.Config{DataDir: dir, EncryptionKeyFile: keyFile}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conf := map[string]string{"secrets.toml": "password = \"s3cret-value\"\n"}
	var tarball bytes.Buffer
	items := []pack.Item{{RelativePath: "secrets.toml", SizeInBytes: int64(len(conf["secrets.toml"])), SHA3256: pack.Digest([]byte(conf["secrets.toml"]))}}
	if err := pack.Write(&tarball, pack.Manifest{EngineVersion: pack.EngineVersion, Files: items}, func(p string) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(conf[p])), nil
	}); err != nil {
		t.Fatal(err)
	}
	c := client.New(client.Options{APIBaseURL: srv.URL, Token: srv.AdminToken()})
	if _, err := c.UploadConfiguration(context.Background(), srv.DefaultWorkspaceID(), tarball.Bytes()); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOME": t.TempDir()}
	code, _, errs := runServeCmd(t, env, "serve", "keys", "rotate", "--data-dir", dir, "--encryption-key-file", keyFile)
	if code != ExitError || !strings.Contains(errs, "in use by another runtime-action process") {
		t.Errorf("rotate beside the server: %d %s", code, errs)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	// B added as the last line, then rotate
	if err := os.WriteFile(keyFile, []byte("# old\n"+keyA+"\n# new\n"+keyB+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runServeCmd(t, env, "serve", "keys", "rotate", "--data-dir", dir, "--encryption-key-file", keyFile)
	if code != ExitOK {
		t.Fatalf("rotate: %d %s", code, errs)
	}
	for _, want := range []string{"Encrypted 1 of 1 configuration packages again with key " + idB, "No package needs key " + idA} {
		if !strings.Contains(out, want) {
			t.Errorf("rotate printed %q, want %q", out, want)
		}
	}

	// the keys from the environment: A alone is refused, B alone works
	env["RUNTIME_SERVER_DATA_DIR"] = dir
	env["RUNTIME_SERVER_ENCRYPTION_KEY"] = keyA
	code, _, errs = runServeCmd(t, env, "serve", "keys", "rotate")
	if code != ExitError || !strings.Contains(errs, "encrypted with key id "+idB) || strings.Contains(errs, keyA) {
		t.Errorf("rotate with the old key only: %d %s", code, errs)
	}
	env["RUNTIME_SERVER_ENCRYPTION_KEY"] = keyB
	code, out, errs = runServeCmd(t, env, "serve", "keys", "rotate")
	if code != ExitOK || !strings.Contains(out, "Encrypted 0 of 1") {
		t.Errorf("rotate with the new key only: %d %s %s", code, out, errs)
	}
	// both forms at once are refused
	code, _, errs = runServeCmd(t, env, "serve", "keys", "rotate", "--encryption-key-file", keyFile)
	if code != ExitError || !strings.Contains(errs, "encryption keys given twice") {
		t.Errorf("key and key file: %d %s", code, errs)
	}
}
