// Package seal encrypts files at rest with AES-256-GCM under a keyring:
// the newest key encrypts, every key decrypts, and each file names the key
// it was encrypted with in its header.
//
// A sealed file is a header followed by segments, so that a file of any size
// is encrypted and decrypted in a stream (the STREAM construction of Hoang,
// Reyhanitabar, Rogaway and Vizár):
//
//	magic    "RTASEAL1"
//	id len   1 byte, then the key id (ASCII)
//	segment  4 bytes, big-endian: plaintext bytes per segment
//	prefix   7 random bytes
//	segments each the GCM seal of `segment` bytes of plaintext (the last
//	         one of 0 to `segment` bytes), with the nonce prefix ‖
//	         counter (4 bytes) ‖ last (1 byte: 1 on the last segment, else 0)
//	         and the whole header as additional data.
//
// The counter stops reordering, the last flag stops truncation at a segment
// boundary, and the header as additional data stops a change of key id or
// segment size.
package seal

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// KeySize is the size of a key in bytes (AES-256).
const KeySize = 32

// DefaultSegmentSize is how much plaintext each segment holds.
const DefaultSegmentSize = 64 << 10

const (
	magic       = "RTASEAL1"
	prefixSize  = 7
	maxIDLen    = 64
	maxSegment  = 16 << 20
	checkLabel  = "runtime-action encryption key check v1"
	idBytes     = 8
	nonceSize   = 12
	tagOverhead = 16
)

// ErrDecrypt is a sealed file that does not open under its key: the key is
// not the one it was sealed with, or the file was damaged or changed.
var ErrDecrypt = errors.New("decrypt: wrong key, or the file was damaged or changed")

// ErrNotSealed is a file that does not start with the sealed file header.
var ErrNotSealed = errors.New("not a sealed file")

// UnknownKeyError is a sealed file whose key is not in the keyring.
type UnknownKeyError struct{ ID string }

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("sealed with key %q, which is not among the keys given", e.ID)
}

// Key is one AES-256 key.
type Key struct {
	id    string
	check []byte
	aead  cipher.AEAD
}

// ID names the key in sealed files: hex of the first 8 bytes of its check
// value.
func (k Key) ID() string { return k.id }

// CheckValue is HMAC-SHA256 of a constant under the key, in hex: stored
// beside sealed data, it tells the right key from a wrong one without
// revealing anything of the key.
func (k Key) CheckValue() string { return hex.EncodeToString(k.check) }

// NewKey makes a Key of 32 bytes.
func NewKey(raw []byte) (Key, error) {
	if len(raw) != KeySize {
		return Key{}, fmt.Errorf("invalid encryption key: %d bytes, want %d", len(raw), KeySize)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return Key{}, fmt.Errorf("invalid encryption key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return Key{}, fmt.Errorf("invalid encryption key: %w", err)
	}
	m := hmac.New(sha256.New, raw)
	m.Write([]byte(checkLabel))
	check := m.Sum(nil)
	return Key{id: hex.EncodeToString(check[:idBytes]), check: check, aead: aead}, nil
}

// GenerateKey returns a new random key as ParseKeys reads it: base64 of 32
// bytes.
func GenerateKey() (string, error) {
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generate encryption key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// ParseKeys reads keys from text: base64 (standard or URL-safe, padded or
// not) of 32 bytes each, separated by newlines, commas or spaces; lines
// starting with # are comments. Errors name the key by position only, never
// by its text.
func ParseKeys(text string) ([]Key, error) {
	var keys []Key
	for line := range strings.Lines(text) {
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		for _, f := range strings.FieldsFunc(line, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\r' || r == '\n' }) {
			raw, err := decodeKey(f)
			if err != nil {
				return nil, fmt.Errorf("encryption key %d: not base64 of %d bytes: make one with \"runtime-action serve keys generate\"", len(keys)+1, KeySize)
			}
			k, err := NewKey(raw)
			if err != nil {
				return nil, fmt.Errorf("encryption key %d: %w", len(keys)+1, err)
			}
			keys = append(keys, k)
		}
	}
	return keys, nil
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(s); err == nil && len(raw) == KeySize {
			return raw, nil
		}
	}
	return nil, errors.New("not a key")
}

// Keyring holds keys; the last one seals, any opens.
type Keyring struct {
	keys []Key
	byID map[string]Key
}

// NewKeyring makes a keyring of keys, oldest first: the last one seals. A
// key given twice counts once (where it was last given).
func NewKeyring(keys ...Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("no encryption key given")
	}
	kr := &Keyring{byID: map[string]Key{}}
	for i, k := range keys {
		if k.aead == nil {
			return nil, fmt.Errorf("encryption key %d is not a key made by NewKey or ParseKeys", i+1)
		}
		if _, dup := kr.byID[k.id]; dup {
			for j, o := range kr.keys {
				if o.id == k.id {
					kr.keys = append(kr.keys[:j], kr.keys[j+1:]...)
					break
				}
			}
		}
		kr.byID[k.id] = k
		kr.keys = append(kr.keys, k)
	}
	return kr, nil
}

// Primary is the key that seals.
func (kr *Keyring) Primary() Key { return kr.keys[len(kr.keys)-1] }

// Keys lists the keys, oldest first.
func (kr *Keyring) Keys() []Key { return append([]Key(nil), kr.keys...) }

// Key finds a key by id.
func (kr *Keyring) Key(id string) (Key, bool) {
	k, ok := kr.byID[id]
	return k, ok
}

// header is a parsed sealed file header.
type header struct {
	raw     []byte
	id      string
	segment int
	prefix  []byte
}

func newHeader(id string, segment int) (header, error) {
	h := header{id: id, segment: segment, prefix: make([]byte, prefixSize)}
	if _, err := rand.Read(h.prefix); err != nil {
		return h, fmt.Errorf("make nonce: %w", err)
	}
	h.raw = append([]byte(magic), byte(len(id)))
	h.raw = append(h.raw, id...)
	h.raw = binary.BigEndian.AppendUint32(h.raw, uint32(segment))
	h.raw = append(h.raw, h.prefix...)
	return h, nil
}

func readHeader(r io.Reader) (header, error) {
	var h header
	fixed := make([]byte, len(magic)+1)
	if _, err := io.ReadFull(r, fixed); err != nil {
		return h, ErrNotSealed
	}
	if string(fixed[:len(magic)]) != magic {
		return h, ErrNotSealed
	}
	n := int(fixed[len(magic)])
	if n == 0 || n > maxIDLen {
		return h, fmt.Errorf("%w: invalid key id length %d", ErrNotSealed, n)
	}
	rest := make([]byte, n+4+prefixSize)
	if _, err := io.ReadFull(r, rest); err != nil {
		return h, fmt.Errorf("%w: header cut short", ErrNotSealed)
	}
	h.raw = append(fixed, rest...)
	h.id = string(rest[:n])
	h.segment = int(binary.BigEndian.Uint32(rest[n : n+4]))
	h.prefix = rest[n+4:]
	if h.segment <= 0 || h.segment > maxSegment {
		return h, fmt.Errorf("%w: invalid segment size %d", ErrNotSealed, h.segment)
	}
	return h, nil
}

func (h header) nonce(counter uint32, last bool) []byte {
	n := make([]byte, 0, nonceSize)
	n = append(n, h.prefix...)
	n = binary.BigEndian.AppendUint32(n, counter)
	if last {
		return append(n, 1)
	}
	return append(n, 0)
}

// KeyID reads the id of the key a sealed stream was sealed with.
func KeyID(r io.Reader) (string, error) {
	h, err := readHeader(r)
	return h.id, err
}

// writer seals a stream.
type writer struct {
	dst     io.Writer
	key     Key
	h       header
	buf     []byte // plaintext of the segment being filled
	out     []byte
	counter uint32
	started bool
	closed  bool
	err     error
}

// NewWriter returns a writer that seals what is written to it into dst under
// the primary key; Close writes the last segment and must be called.
func (kr *Keyring) NewWriter(dst io.Writer) (io.WriteCloser, error) {
	return newWriter(dst, kr.Primary(), DefaultSegmentSize)
}

func newWriter(dst io.Writer, k Key, segment int) (*writer, error) {
	h, err := newHeader(k.id, segment)
	if err != nil {
		return nil, err
	}
	return &writer{dst: dst, key: k, h: h, buf: make([]byte, 0, segment)}, nil
}

func (w *writer) start() error {
	if !w.started {
		w.started = true
		if _, err := w.dst.Write(w.h.raw); err != nil {
			return err
		}
	}
	return nil
}

// seal writes the buffered segment.
func (w *writer) seal(last bool) error {
	if err := w.start(); err != nil {
		return err
	}
	if !last && w.counter == ^uint32(0) {
		return errors.New("seal: stream too long")
	}
	w.out = w.key.aead.Seal(w.out[:0], w.h.nonce(w.counter, last), w.buf, w.h.raw)
	w.counter++
	w.buf = w.buf[:0]
	_, err := w.dst.Write(w.out)
	return err
}

// Write buffers p, sealing each full segment once more follows it (the
// last segment is sealed by Close, so it knows it is the last).
func (w *writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, errors.New("seal: write after close")
	}
	n := 0
	for len(p) > 0 {
		if len(w.buf) == w.h.segment {
			if w.err = w.seal(false); w.err != nil {
				return n, w.err
			}
		}
		k := min(len(p), w.h.segment-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p, n = p[k:], n+k
	}
	return n, nil
}

// Close seals the last segment.
func (w *writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	w.err = w.seal(true)
	clear(w.buf[:cap(w.buf)])
	return w.err
}

// reader opens a sealed stream.
type reader struct {
	src     *bufio.Reader
	key     Key
	h       header
	seg     []byte
	plain   []byte // opened plaintext not yet returned
	counter uint32
	done    bool
	err     error
}

// NewReader reads the header of a sealed stream and returns a reader of its
// plaintext. The key named in the header must be in the keyring
// (*UnknownKeyError otherwise). A stream that does not open, or ends early,
// fails with ErrDecrypt, and nothing of a segment that does not open is
// returned.
func (kr *Keyring) NewReader(src io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(src, 64<<10)
	h, err := readHeader(br)
	if err != nil {
		return nil, err
	}
	k, ok := kr.byID[h.id]
	if !ok {
		return nil, &UnknownKeyError{ID: h.id}
	}
	return &reader{src: br, key: k, h: h, seg: make([]byte, h.segment+tagOverhead)}, nil
}

// Read returns opened plaintext.
func (r *reader) Read(p []byte) (int, error) {
	for len(r.plain) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.done {
			return 0, io.EOF
		}
		r.err = r.next()
	}
	n := copy(p, r.plain)
	r.plain = r.plain[n:]
	return n, nil
}

// next opens the next segment.
func (r *reader) next() error {
	n, err := io.ReadFull(r.src, r.seg)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		r.done = true // a short segment is the last one
	case err != nil:
		return err
	default:
		// a full segment is the last one when nothing follows it
		if _, perr := r.src.Peek(1); errors.Is(perr, io.EOF) {
			r.done = true
		} else if perr != nil {
			return perr
		}
	}
	if n < tagOverhead {
		return ErrDecrypt
	}
	plain, oerr := r.key.aead.Open(r.seg[:0], r.h.nonce(r.counter, r.done), r.seg[:n], r.h.raw)
	if oerr != nil {
		return ErrDecrypt
	}
	r.counter++
	r.plain = plain
	return nil
}

// Seal seals all of src into dst under the primary key.
func (kr *Keyring) Seal(dst io.Writer, src io.Reader) error {
	w, err := kr.NewWriter(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, src); err != nil {
		return err
	}
	return w.Close()
}

// Open writes the plaintext of the sealed src to dst.
func (kr *Keyring) Open(dst io.Writer, src io.Reader) error {
	r, err := kr.NewReader(src)
	if err != nil {
		return err
	}
	_, err = io.Copy(dst, r)
	return err
}
