package executor

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/dlthub/runtime-action/internal/api"
)

func TestSecretForms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		values  []string
		want    []string // each must be among the forms
		notWant []string
	}{
		{"plain", []string{"hunter22"}, []string{"hunter22",
			base64.StdEncoding.EncodeToString([]byte("hunter22")),
			base64.RawURLEncoding.EncodeToString([]byte("hunter22"))}, nil},
		{"short values are left out", []string{"abc", "", "xy"}, nil, []string{"abc", "xy", "YWJj"}},
		{"stars only are left out", []string{"****"}, nil, []string{"****"}},
		{"json and url forms", []string{`p"a\ss w<rd>é`}, []string{
			`p"a\ss w<rd>é`,
			`p\"a\\ss w<rd>é`,            // json, as it is
			`p\"a\\ss w<rd>\u00e9`,       // python's ensure_ascii
			`p\"a\\ss w\u003crd\u003eé`,  // go's html escaping
			"p%22a%5Css+w%3Crd%3E%C3%A9", // query escaped
		}, nil},
		{"lines of a multi-line value", []string{"-----BEGIN KEY-----\nMIIBOgIBAAJBAKj\r\nab\n"},
			[]string{"-----BEGIN KEY-----\nMIIBOgIBAAJBAKj\r\nab\n", "MIIBOgIBAAJBAKj", "-----BEGIN KEY-----"}, []string{"ab"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forms := SecretForms(tt.values)
			for _, w := range tt.want {
				if !slices.Contains(forms, w) {
					t.Errorf("forms %q miss %q", forms, w)
				}
			}
			for _, w := range tt.notWant {
				if slices.Contains(forms, w) {
					t.Errorf("forms %q hold %q", forms, w)
				}
			}
			seen := map[string]bool{}
			for _, f := range forms {
				if seen[f] {
					t.Errorf("form %q twice", f)
				}
				seen[f] = true
			}
		})
	}
}

// TestJSONEscapeMatchesEncoder checks the Go forms against encoding/json.
func TestJSONEscapeMatchesEncoder(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"plain", `q"b\s`, "tab\tnl\ncr\r\x01\x1f", "<&>", "é€😀", "\u2028x"} {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		want := string(b[1 : len(b)-1])
		if got := jsonEscape(s, false, true); got != want {
			t.Errorf("jsonEscape(%q) = %q, encoding/json %q", s, got, want)
		}
	}
	if got, want := jsonEscape("😀", true, false), `\ud83d\ude00`; got != want {
		t.Errorf("ascii form of an astral character %q, want %q", got, want)
	}
}

// redactAll feeds text in the given chunk sizes (cycled) and returns what
// comes out.
func redactAll(r *redactor, text string, sizes []int) string {
	var out strings.Builder
	b := []byte(text)
	for i := 0; len(b) > 0; i++ {
		n := min(sizes[i%len(sizes)], len(b))
		out.Write(r.feed(b[:n], false))
		b = b[n:]
	}
	out.Write(r.feed(nil, true))
	return out.String()
}

func TestRedactorChunks(t *testing.T) {
	t.Parallel()
	secrets := []string{"s3cr3t-value", "s3cr3t", "zzzz"}
	tests := []struct {
		name, in, want string
	}{
		{"none", "nothing here\n", "nothing here\n"},
		{"whole", "token=s3cr3t-value;\n", "token=***;\n"},
		{"shorter secret inside a longer one", "a s3cr3t b s3cr3t-valu\n", "a *** b ***-valu\n"},
		{"adjacent", "zzzzzzzzs3cr3t", "******" + "***"},
		{"prefix at the end", "ends with s3cr", "ends with s3cr"},
		{"base64", "b64=" + base64.StdEncoding.EncodeToString([]byte("s3cr3t-value")) + "\n", "b64=***\n"},
		{"false start then secret", "s3s3cr3t-value", "s3***"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			whole := redactAll(newRedactor(secrets), tt.in, []int{len(tt.in) + 1})
			if whole != tt.want {
				t.Fatalf("whole: %q, want %q", whole, tt.want)
			}
			// Every chunking gives the same result, one byte at a time included.
			for size := 1; size <= len(tt.in); size++ {
				if got := redactAll(newRedactor(secrets), tt.in, []int{size}); got != tt.want {
					t.Errorf("chunks of %d: %q, want %q", size, got, tt.want)
				}
			}
		})
	}
}

// TestRedactorRandom compares random chunkings of random text with the
// redaction of the text in one piece, and checks no secret survives.
func TestRedactorRandom(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	secrets := []string{"abcab", "bcabca", "aaaa", "cabcabcab"}
	alphabet := "abc\n"
	for range 300 {
		var sb strings.Builder
		for range rng.IntN(200) {
			if rng.IntN(10) == 0 {
				sb.WriteString(secrets[rng.IntN(len(secrets))])
			} else {
				sb.WriteByte(alphabet[rng.IntN(len(alphabet))])
			}
		}
		text := sb.String()
		want := redactAll(newRedactor(secrets), text, []int{len(text) + 1})
		sizes := []int{1 + rng.IntN(7), 1 + rng.IntN(3), 1 + rng.IntN(20)}
		if got := redactAll(newRedactor(secrets), text, sizes); got != want {
			t.Fatalf("text %q in chunks %v: %q, whole %q", text, sizes, got, want)
		}
		for _, s := range secrets {
			if strings.Contains(strings.ReplaceAll(want, Mask, "\x00"), s) {
				t.Fatalf("text %q: %q left in %q", text, s, want)
			}
		}
	}
}

// TestRunRedactsSecrets runs a script that prints a secret in the forms a
// script would: plain, base64, json.dumps, and split over two writes with a
// pause between, so the executor reads it in two chunks.
func TestRunRedactsSecrets(t *testing.T) {
	t.Parallel()
	e := newExecutor(t)
	secret := `Pa55"w\rd-é-0123456789`
	script := `import base64, json, sys, time, tomllib
v = tomllib.load(open(".dlt/secrets.toml", "rb"))["sources"]["password"]
print("plain:", v)
print("b64:", base64.b64encode(v.encode()).decode())
print("b64url:", base64.urlsafe_b64encode(v.encode()).decode().rstrip("="))
print("json:", json.dumps({"password": v}))
print("json-utf8:", json.dumps(v, ensure_ascii=False))
sys.stdout.write("split: " + v[:7]); sys.stdout.flush(); time.sleep(0.2)
sys.stdout.write(v[7:] + " end\n"); sys.stdout.flush()
sys.stdout.write("tail: " + v[:5])
`
	j := newJob(t, "run-redact", script, nil)
	j.Configuration = writePackage(t, map[string]string{
		"secrets.toml": "[sources]\npassword = '''" + secret + "'''\n",
	})
	j.Redact = []string{secret}
	res := e.Run(context.Background(), j, Hooks{})
	if res.Status != api.StatusCompleted {
		t.Fatalf("Run = %+v: %s", res, readFile(t, j.LogPath))
	}
	want := `plain: ***
b64: ***
b64url: ***
json: {"password": "***"}
json-utf8: "***"
split: *** end
tail: Pa55"`
	if got := readFile(t, j.LogPath); got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
}

func BenchmarkRedact(b *testing.B) {
	secrets := make([]string, 20)
	for i := range secrets {
		secrets[i] = strings.Repeat(string(rune('a'+i)), 8) + "-secret-value"
	}
	line := []byte("2026-03-01 10:00:00 INFO pipeline load step: loaded 1000 rows into table events in 0.12s\n")
	chunk := []byte(strings.Repeat(string(line), (32<<10)/len(line)))
	r := newRedactor(secrets)
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	for range b.N {
		r.feed(chunk, false)
	}
}

// TestRedactEncodedInside: a secret inside longer base64 (at every offset,
// with any bytes after it) or in hex is masked, so the log holds no text
// that decodes back to it.
func TestRedactEncodedInside(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-Pa55word!"
	r := newRedactor([]string{secret})
	type enc struct {
		name string
		fn   func([]byte) string
	}
	encs := []enc{
		{"base64", base64.StdEncoding.EncodeToString},
		{"raw base64", base64.RawStdEncoding.EncodeToString},
		{"url base64", base64.URLEncoding.EncodeToString},
		{"hex", hex.EncodeToString},
		{"HEX", func(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }},
	}
	for _, e := range encs {
		for pre := range 6 {
			for post := range 4 {
				data := strings.Repeat("u", pre) + secret + strings.Repeat("z", post)
				line := "Authorization: Basic " + e.fn([]byte(data)) + "\n"
				got := string(r.feed([]byte(line), true))
				if !strings.Contains(got, Mask) {
					t.Errorf("%s of %d bytes, the secret, %d bytes: not masked: %q", e.name, pre, post, got)
				}
			}
		}
	}
	// Text that holds no secret is left alone.
	plain := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("user:other-password")) + "\n"
	if got := string(r.feed([]byte(plain), true)); got != plain {
		t.Errorf("masked text without the secret: %q", got)
	}
}
