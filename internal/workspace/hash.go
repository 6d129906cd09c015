package workspace

import (
	"crypto/sha3"
	"encoding/base64"
	"io"
	"os"
)

// fileHasher hashes files one at a time, reusing its state and buffer.
type fileHasher struct {
	h   *sha3.SHA3
	buf []byte
	sum [32]byte
}

func newFileHasher() *fileHasher {
	return &fileHasher{h: sha3.New256(), buf: make([]byte, 256<<10)}
}

// hash returns the base64 SHA3-256 of the file at p and its size.
func (f *fileHasher) hash(p string) (string, int64, error) {
	fd, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer fd.Close()
	f.h.Reset()
	// A plain read loop: io.Copy would let *os.File bring its own buffer.
	var n int64
	for {
		k, err := fd.Read(f.buf)
		f.h.Write(f.buf[:k])
		n += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", 0, err
		}
	}
	return base64.StdEncoding.EncodeToString(f.h.Sum(f.sum[:0])), n, nil
}
