package executor

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dlthub/runtime-action/internal/api"
)

// spyBackend is the PEP 517 build backend of the sdist "leaky": it builds
// a wheel by hand, and first writes everything it can see of credentials
// (its environment, and every process's command line and environment) to
// backend-spy.txt in HOME, the run folder, for the run's script to print.
const spyBackend = `import base64, hashlib, os, zipfile
def _spy():
    out = ["ENV %s=%s" % kv for kv in os.environ.items()]
    for p in os.listdir("/proc"):
        if p.isdigit():
            for f in ("cmdline", "environ"):
                try:
                    b = open("/proc/%s/%s" % (p, f), "rb").read()
                    out.append("PROC %s %s %s" % (p, f, b.replace(b"\0", b" ").decode("utf-8", "replace")))
                except OSError:
                    pass
    with open(os.path.join(os.environ["HOME"], "backend-spy.txt"), "w") as f:
        f.write("\n".join(out) + "\n")
def get_requires_for_build_wheel(config_settings=None):
    return []
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _spy()
    name = "leaky-0.1-py3-none-any.whl"
    files = {"leaky/__init__.py": "GREETING = 'built from an sdist'\n",
             "leaky-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: leaky\nVersion: 0.1\n",
             "leaky-0.1.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: spy\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as z:
        for n, c in files.items():
            z.writestr(n, c)
            d = base64.urlsafe_b64encode(hashlib.sha256(c.encode()).digest()).rstrip(b"=").decode()
            record.append("%s,sha256=%s,%d" % (n, d, len(c)))
        record.append("leaky-0.1.dist-info/RECORD,,")
        z.writestr("leaky-0.1.dist-info/RECORD", "\n".join(record) + "\n")
    return name
`

// leakySdist is the sdist leaky-0.1.tar.gz, with no wheel beside it: pip
// must run its build backend.
func leakySdist(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range map[string]string{
		"leaky-0.1/PKG-INFO":       "Metadata-Version: 2.1\nName: leaky\nVersion: 0.1\n",
		"leaky-0.1/pyproject.toml": "[build-system]\nrequires = []\nbuild-backend = \"backend\"\nbackend-path = [\".\"]\n",
		"leaky-0.1/backend.py":     spyBackend,
	} {
		writeMember(t, tw, name, []byte(body))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestInstallHidesIndexCredentials: the operator's index URL and proxy both
// carry a password; a wheel-less sdist from that index (on loopback, refusing
// requests without the password, reached through a proxy that refuses
// requests without its own) is built and installed, and its build backend,
// looking everywhere it can, finds neither password.
func TestInstallHidesIndexCredentials(t *testing.T) {
	const (
		indexUser, indexPass = "indexuser", "idx-pa55-6d2b91"
		proxyUser, proxyPass = "proxyuser", "prx-pa55-81c4e7"
	)
	sdist := leakySdist(t)
	sum := sha256.Sum256(sdist)
	var indexHits, proxyHits atomic.Int64
	var index *httptest.Server
	index = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != indexUser || p != indexPass {
			w.Header().Set("WWW-Authenticate", `Basic realm="index"`)
			http.Error(w, "password needed", http.StatusUnauthorized)
			return
		}
		indexHits.Add(1)
		switch r.URL.Path {
		case "/simple/leaky/":
			w.Header().Set("Content-Type", "text/html")
			// An absolute link, as many indexes give: it must go through
			// the credentials too.
			fmt.Fprintf(w, `<html><body><a href="%s/files/leaky-0.1.tar.gz#sha256=%s">leaky-0.1.tar.gz</a></body></html>`, index.URL, hex.EncodeToString(sum[:]))
		case "/files/leaky-0.1.tar.gz":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(sdist)
		default:
			http.NotFound(w, r)
		}
	}))
	defer index.Close()
	direct := &http.Transport{}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(proxyUser+":"+proxyPass))
		if r.Header.Get("Proxy-Authorization") != want || !r.URL.IsAbs() {
			http.Error(w, "proxy password needed", http.StatusProxyAuthRequired)
			return
		}
		proxyHits.Add(1)
		out, _ := http.NewRequestWithContext(r.Context(), r.Method, r.URL.String(), nil)
		out.Header = r.Header.Clone()
		out.Header.Del("Proxy-Authorization")
		res, err := direct.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer res.Body.Close()
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		io.Copy(w, res.Body)
	}))
	defer proxy.Close()

	e := sandboxed(t)
	e.VenvsDir = t.TempDir()
	e.UV = UVNone
	indexURL := strings.Replace(index.URL, "http://", "http://"+indexUser+":"+indexPass+"@", 1) + "/simple"
	proxyURL := strings.Replace(proxy.URL, "http://", "http://"+proxyUser+":"+proxyPass+"@", 1)
	e.InstallEnv = []string{"PIP_CONFIG_FILE=" + os.DevNull, "PIP_INDEX_URL=" + indexURL,
		"HTTP_PROXY=" + proxyURL, "HTTPS_PROXY=" + proxyURL}
	script := "import leaky\nprint(leaky.GREETING)\nprint(open('backend-spy.txt').read())\n"
	j := withHash(newJob(t, "run-creds", script, map[string]string{"requirements.txt": "leaky==0.1\n"}), "leakyhash")

	res := e.Run(context.Background(), j, Hooks{})
	log := readFile(t, j.LogPath)
	if res.Status != api.StatusCompleted {
		t.Fatalf("Run = %+v\n%s", res, log)
	}
	for _, want := range []string{"built from an sdist", "ENV PIP_INDEX_URL=http://127.0.0.1:", "PROC "} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	for _, secret := range []string{indexPass, proxyPass} {
		if strings.Contains(log, secret) {
			t.Errorf("the build backend saw the password %q:\n%s", secret, log)
		}
	}
	if indexHits.Load() == 0 || proxyHits.Load() == 0 {
		t.Errorf("index answered %d, proxy forwarded %d: the install did not go through both", indexHits.Load(), proxyHits.Load())
	}
}

// TestEachIndex: index URLs are found in pip's and uv's variables and
// options, in every form they take.
func TestEachIndex(t *testing.T) {
	env := []string{"PIP_INDEX_URL=https://a/simple", "PIP_EXTRA_INDEX_URL=https://b https://c", "UV_INDEX=name=https://d", "OTHER=https://e"}
	args := []string{"--index-url", "https://f", "--extra-index-url=https://g", "-i", "https://h", "--no-index"}
	var seen []string
	gotEnv, gotArgs := eachIndex(env, args, func(s string) string { seen = append(seen, s); return "X" })
	if want := "https://a/simple https://b https://c https://d https://f https://g https://h"; strings.Join(seen, " ") != want {
		t.Errorf("seen %v, want %s", seen, want)
	}
	if want := "PIP_INDEX_URL=X PIP_EXTRA_INDEX_URL=X X UV_INDEX=name=X OTHER=https://e"; strings.Join(gotEnv, " ") != want {
		t.Errorf("env %v", gotEnv)
	}
	if want := "--index-url X --extra-index-url=X -i X --no-index"; strings.Join(gotArgs, " ") != want {
		t.Errorf("args %v", gotArgs)
	}
}
