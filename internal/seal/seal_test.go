package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"testing"
)

func newKey(t testing.TB) Key {
	t.Helper()
	s, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ks, err := ParseKeys(s)
	if err != nil || len(ks) != 1 {
		t.Fatalf("parse generated key: %v %v", ks, err)
	}
	return ks[0]
}

func ring(t testing.TB, keys ...Key) *Keyring {
	t.Helper()
	kr, err := NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// sealWith seals plain under k with the given segment size.
func sealWith(t testing.TB, k Key, segment int, plain []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := newWriter(&buf, k, segment)
	if err != nil {
		t.Fatal(err)
	}
	// odd write sizes, to cross segment boundaries in every way
	for p := plain; len(p) > 0; {
		n := min(len(p), 7)
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func openAll(kr *Keyring, sealed []byte) ([]byte, error) {
	var out bytes.Buffer
	err := kr.Open(&out, bytes.NewReader(sealed))
	return out.Bytes(), err
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	kr := ring(t, k)
	const seg = 16
	for _, n := range []int{0, 1, seg - 1, seg, seg + 1, 3 * seg, 3*seg + 5} {
		plain := make([]byte, n)
		rand.Read(plain)
		sealed := sealWith(t, k, seg, plain)
		got, err := openAll(kr, sealed)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("%d bytes: %v, equal %v", n, err, bytes.Equal(got, plain))
		}
		if n >= 8 && bytes.Contains(sealed, plain[:8]) {
			t.Errorf("%d bytes: the plaintext shows in the sealed file", n)
		}
		if id, err := KeyID(bytes.NewReader(sealed)); err != nil || id != k.ID() {
			t.Errorf("KeyID = %q %v, want %q", id, err, k.ID())
		}
	}
	// the default writer and reader, through the keyring
	plain := bytes.Repeat([]byte("secret = 'hunter2'\n"), 10000)
	var buf bytes.Buffer
	if err := kr.Seal(&buf, bytes.NewReader(plain)); err != nil {
		t.Fatal(err)
	}
	if got, err := openAll(kr, buf.Bytes()); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("default segment size: %v", err)
	}
}

func TestTamper(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	kr := ring(t, k)
	const seg = 16
	plain := []byte(strings.Repeat("0123456789abcdef", 3) + "tail")
	sealed := sealWith(t, k, seg, plain)
	hdrLen := len(magic) + 1 + len(k.ID()) + 4 + prefixSize
	segLen := seg + tagOverhead

	tests := []struct {
		name string
		mod  func([]byte) []byte
		want error
	}{
		{"flip in first segment", func(b []byte) []byte { b[hdrLen+3] ^= 1; return b }, ErrDecrypt},
		{"flip in last segment", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, ErrDecrypt},
		{"flip in nonce prefix", func(b []byte) []byte { b[hdrLen-1] ^= 1; return b }, ErrDecrypt},
		{"truncated at a segment boundary", func(b []byte) []byte { return b[:hdrLen+2*segLen] }, ErrDecrypt},
		{"truncated inside a segment", func(b []byte) []byte { return b[:hdrLen+segLen+5] }, ErrDecrypt},
		{"last segment dropped", func(b []byte) []byte { return b[:hdrLen+3*segLen] }, ErrDecrypt},
		{"segments swapped", func(b []byte) []byte {
			out := append([]byte(nil), b[:hdrLen]...)
			out = append(out, b[hdrLen+segLen:hdrLen+2*segLen]...)
			out = append(out, b[hdrLen:hdrLen+segLen]...)
			return append(out, b[hdrLen+2*segLen:]...)
		}, ErrDecrypt},
		{"segment size changed", func(b []byte) []byte { b[hdrLen-prefixSize-1] = 32; return b }, ErrDecrypt},
		{"extra bytes after the end", func(b []byte) []byte { return append(b, 0) }, ErrDecrypt},
		{"only the header", func(b []byte) []byte { return b[:hdrLen] }, ErrDecrypt},
		{"not sealed", func(b []byte) []byte { return []byte("plain text file") }, ErrNotSealed},
		{"empty", func(b []byte) []byte { return nil }, ErrNotSealed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := openAll(kr, tt.mod(append([]byte(nil), sealed...)))
			if !errors.Is(err, tt.want) {
				t.Fatalf("open: %v, want %v", err, tt.want)
			}
			// nothing of a segment that did not open comes out
			if !bytes.HasPrefix(plain, got) || len(got)%seg != 0 {
				t.Errorf("got %q before the error", got)
			}
		})
	}
}

func TestKeyring(t *testing.T) {
	t.Parallel()
	old, cur, other := newKey(t), newKey(t), newKey(t)
	sealedOld := sealWith(t, old, 16, []byte("under the old key"))
	kr := ring(t, old, cur)
	if kr.Primary().ID() != cur.ID() {
		t.Fatalf("primary %s, want the last key %s", kr.Primary().ID(), cur.ID())
	}
	if got, err := openAll(kr, sealedOld); err != nil || string(got) != "under the old key" {
		t.Errorf("old key in the ring: %q %v", got, err)
	}
	var buf bytes.Buffer
	if err := kr.Seal(&buf, strings.NewReader("new")); err != nil {
		t.Fatal(err)
	}
	if id, _ := KeyID(bytes.NewReader(buf.Bytes())); id != cur.ID() {
		t.Errorf("sealed under %s, want the primary %s", id, cur.ID())
	}
	_, err := openAll(ring(t, other), sealedOld)
	var uk *UnknownKeyError
	if !errors.As(err, &uk) || uk.ID != old.ID() {
		t.Errorf("open without its key: %v", err)
	}
	// a key given twice counts once, where it was last given
	kr = ring(t, cur, old, cur)
	if len(kr.Keys()) != 2 || kr.Primary().ID() != cur.ID() {
		t.Errorf("duplicates: %d keys, primary %s", len(kr.Keys()), kr.Primary().ID())
	}
	if _, err := NewKeyring(); err == nil {
		t.Error("empty keyring accepted")
	}
}

func TestParseKeys(t *testing.T) {
	t.Parallel()
	raw := bytes.Repeat([]byte{7}, KeySize)
	std := base64.StdEncoding.EncodeToString(raw)
	raw2 := bytes.Repeat([]byte{0xfb}, KeySize)
	url := base64.RawURLEncoding.EncodeToString(raw2)
	tests := []struct {
		name    string
		text    string
		n       int
		wantErr string
	}{
		{"one", std + "\n", 1, ""},
		{"comments and blank lines", "# old\n" + std + "\n\n# new\n" + url + "\n", 2, ""},
		{"commas", std + "," + url, 2, ""},
		{"spaces", "  " + std + "  " + url + " ", 2, ""},
		{"empty", "", 0, ""},
		{"short", base64.StdEncoding.EncodeToString(raw[:16]), 0, "encryption key 1: not base64 of 32 bytes"},
		{"not base64", std + "\nnot-a-key!!", 0, "encryption key 2: not base64 of 32 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ks, err := ParseKeys(tt.text)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "not-a-key") || strings.Contains(err.Error(), std[:10]) {
					t.Errorf("the error shows the key: %v", err)
				}
				return
			}
			if err != nil || len(ks) != tt.n {
				t.Fatalf("%d keys, %v; want %d", len(ks), err, tt.n)
			}
		})
	}
	a, _ := NewKey(raw)
	b, _ := NewKey(raw)
	if a.ID() != b.ID() || a.CheckValue() != b.CheckValue() || len(a.ID()) != 16 {
		t.Errorf("id and check value are not a function of the key: %s %s", a.ID(), b.ID())
	}
	c, _ := NewKey(raw2)
	if c.ID() == a.ID() || c.CheckValue() == a.CheckValue() {
		t.Error("two keys share an id")
	}
}

func BenchmarkSeal(b *testing.B) {
	kr := ring(b, newKey(b))
	plain := make([]byte, 4<<20)
	rand.Read(plain)
	b.SetBytes(int64(len(plain)))
	for range b.N {
		if err := kr.Seal(io.Discard, bytes.NewReader(plain)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	kr := ring(b, newKey(b))
	plain := make([]byte, 4<<20)
	rand.Read(plain)
	var sealed bytes.Buffer
	if err := kr.Seal(&sealed, bytes.NewReader(plain)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(plain)))
	for range b.N {
		if err := kr.Open(io.Discard, bytes.NewReader(sealed.Bytes())); err != nil {
			b.Fatal(err)
		}
	}
}
