package pack

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha3"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"slices"
	"strings"
)

// member is what the archive held for one file.
type member struct {
	size     int64
	digest   string
	linkname string
	symlink  bool
}

// checker streams one archive: every member is checked as it arrives, file
// bytes are hashed (and written, when out is set), and the manifest is
// compared with what was seen once the archive ends.
type checker struct {
	lim Limits
	out *extractor

	src       errReader
	unpacked  countingReader
	members   map[string]member // by relative path
	dirs      map[string]bool   // parent folders of file members
	manifest  []byte
	sawManif  bool
	count     int
	buf       []byte
	h         *sha3.SHA3
	lastEntry string
	// prevName and unsorted tell whether the members came in name order,
	// which the legacy hash's one streaming pass needs (see LegacyHash).
	prevName string
	unsorted bool
}

// errReader remembers an error of the uploaded stream itself (a network
// failure, a body too large), which is not the package's fault and must
// reach the caller unchanged.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// countingReader stops the decompressed stream at max bytes, so a gzip bomb
// is never inflated further than the limit, and remembers decompression
// errors to tell a damaged gzip stream from a damaged tar.
type countingReader struct {
	r        io.Reader
	left     int64
	exceeded bool
	err      error
}

var errUnpackedLimit = errors.New("decompressed size limit reached")

func (c *countingReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// Probe for one more byte: a stream ending exactly at the limit is
		// fine, anything beyond is not.
		var one [1]byte
		n, err := c.r.Read(one[:])
		if n > 0 {
			c.exceeded = true
			return 0, errUnpackedLimit
		}
		if err != nil && err != io.EOF {
			c.err = err
		}
		return 0, err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

func (c *checker) run(r io.Reader) (*Verified, error) {
	c.src = errReader{r: r}
	c.members = map[string]member{}
	c.dirs = map[string]bool{}
	c.buf = make([]byte, 64<<10)
	c.h = sha3.New256()

	gz, err := gzip.NewReader(&c.src)
	if err != nil {
		if c.src.err != nil {
			return nil, fmt.Errorf("read package: %w", c.src.err)
		}
		return nil, &Error{Check: "not a gzip-compressed tar archive"}
	}
	c.unpacked = countingReader{r: gz, left: c.lim.MaxUnpacked}
	tr := tar.NewReader(&c.unpacked)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, c.streamError(err)
		}
		c.count++
		if c.count > c.lim.MaxMembers {
			return nil, &Error{Check: fmt.Sprintf("more than %d members", c.lim.MaxMembers)}
		}
		c.lastEntry = hdr.Name
		if err := c.member(tr, hdr); err != nil {
			return nil, err
		}
	}
	// Read what follows the end-of-archive blocks so gzip checks its CRC;
	// it still counts against the limit.
	if _, err := io.CopyBuffer(io.Discard, &c.unpacked, c.buf); err != nil {
		return nil, c.streamError(err)
	}
	return c.finish()
}

// streamError classifies a failure to read the archive.
func (c *checker) streamError(err error) error {
	switch {
	case c.src.err != nil:
		return fmt.Errorf("read package: %w", c.src.err)
	case c.unpacked.exceeded:
		return &Error{Check: fmt.Sprintf("more than %d bytes when decompressed", c.lim.MaxUnpacked)}
	case c.unpacked.err != nil:
		return &Error{Check: "corrupt or truncated gzip stream"}
	case c.count == 0:
		return &Error{Check: "not a gzip-compressed tar archive"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Member: c.lastEntry, Check: "archive ends inside this member"}
	}
	return &Error{Member: c.lastEntry, Check: "corrupt tar archive after this member"}
}

func (c *checker) member(tr *tar.Reader, hdr *tar.Header) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil // archive-wide PAX metadata (git archive writes one); no file
	}
	name := hdr.Name
	if hdr.Typeflag == tar.TypeDir {
		name = strings.TrimSuffix(name, "/")
	}
	if s := pathProblem(name); s != "" {
		return &Error{Member: hdr.Name, Check: s}
	}
	if c.count > 1 && name <= c.prevName {
		c.unsorted = true
	}
	c.prevName = name
	if name == ManifestName {
		return c.manifestMember(tr, hdr)
	}
	if hdr.Typeflag == tar.TypeDir && name+"/" == FilesPrefix {
		return nil // the files/ folder itself
	}
	rel, ok := strings.CutPrefix(name, FilesPrefix)
	if !ok {
		return &Error{Member: hdr.Name, Check: "unexpected member: a package holds only files/... and " + ManifestName}
	}
	switch hdr.Typeflag {
	case tar.TypeReg: // the reader turns the old TypeRegA into TypeReg
		if err := c.claim(hdr.Name, rel); err != nil {
			return err
		}
		return c.regular(tr, hdr, rel)
	case tar.TypeSymlink:
		if s := linkProblem(rel, hdr.Linkname); s != "" {
			return &Error{Member: hdr.Name, Check: s}
		}
		if err := c.claim(hdr.Name, rel); err != nil {
			return err
		}
		c.members[rel] = member{digest: Digest([]byte(hdr.Linkname)), linkname: hdr.Linkname, symlink: true}
		if c.out != nil {
			return c.out.symlink(rel, hdr.Linkname)
		}
		return nil
	case tar.TypeDir:
		// Tolerated (some tar tools add them) but nothing is created: the
		// folders of the files are made as needed.
		return nil
	case tar.TypeLink:
		return &Error{Member: hdr.Name, Check: "hard links are not allowed"}
	case tar.TypeChar, tar.TypeBlock:
		return &Error{Member: hdr.Name, Check: "device files are not allowed"}
	case tar.TypeFifo:
		return &Error{Member: hdr.Name, Check: "fifos are not allowed"}
	}
	return &Error{Member: hdr.Name, Check: fmt.Sprintf("unsupported member type %q", hdr.Typeflag)}
}

// claim records rel as a file, refusing a second member of the same path and
// a path that is both a file and a folder (which would make a later member
// land inside, or through, an earlier one).
func (c *checker) claim(name, rel string) error {
	if _, dup := c.members[rel]; dup {
		return &Error{Member: name, Check: "duplicate member"}
	}
	if c.dirs[rel] {
		return &Error{Member: name, Check: "path is also a folder of another member"}
	}
	for d := path.Dir(rel); d != "."; d = path.Dir(d) {
		if _, ok := c.members[d]; ok {
			return &Error{Member: name, Check: fmt.Sprintf("folder %q is also a file member", d)}
		}
		c.dirs[d] = true
	}
	c.members[rel] = member{} // placeholder until its bytes are read
	return nil
}

func (c *checker) regular(tr *tar.Reader, hdr *tar.Header, rel string) error {
	c.h.Reset()
	var w io.Writer = c.h
	var f *os.File
	if c.out != nil {
		var err error
		if f, err = c.out.create(rel); err != nil {
			return err
		}
		defer f.Close()
	}
	var n int64
	for {
		k, err := tr.Read(c.buf)
		if k > 0 {
			w.Write(c.buf[:k])
			if f != nil {
				if _, werr := f.Write(c.buf[:k]); werr != nil {
					return fmt.Errorf("extract %q: %w", rel, werr)
				}
			}
			n += int64(k)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return c.streamError(err)
		}
	}
	if f != nil {
		if err := f.Close(); err != nil {
			return fmt.Errorf("extract %q: %w", rel, err)
		}
	}
	c.members[rel] = member{size: n, digest: sum64(c.h)}
	return nil
}

func sum64(h hash.Hash) string {
	var b [32]byte
	return base64.StdEncoding.EncodeToString(h.Sum(b[:0]))
}

func (c *checker) manifestMember(tr *tar.Reader, hdr *tar.Header) error {
	if c.sawManif {
		return &Error{Member: hdr.Name, Check: "duplicate member"}
	}
	c.sawManif = true
	if hdr.Typeflag != tar.TypeReg {
		return &Error{Member: hdr.Name, Check: "must be a regular file"}
	}
	b, err := readManifest(tr)
	if errors.Is(err, errManifestTooLarge) {
		return &Error{Member: hdr.Name, Check: fmt.Sprintf("larger than %d bytes", manifestLimit)}
	}
	if err != nil {
		return c.streamError(err)
	}
	c.manifest = b
	return nil
}

// finish compares the manifest with the members seen.
func (c *checker) finish() (*Verified, error) {
	if !c.sawManif {
		return nil, &Error{Member: ManifestName, Check: "missing: a package ends with " + ManifestName}
	}
	if err := c.checkManifestBudget(); err != nil {
		return nil, err
	}
	m, err := ParseManifest(c.manifest)
	if err != nil {
		return nil, &Error{Member: ManifestName, Check: strings.TrimPrefix(err.Error(), "parse manifest: ")}
	}
	if m.EngineVersion != EngineVersion {
		return nil, &Error{Member: ManifestName, Check: fmt.Sprintf("engine_version %d is not supported: expected %d", m.EngineVersion, EngineVersion)}
	}
	listed := make(map[string]bool, len(m.Files))
	for _, it := range m.Files {
		if s := pathProblem(it.RelativePath); s != "" {
			return nil, &Error{Member: ManifestName, Check: fmt.Sprintf("relative_path %q: %s", it.RelativePath, s)}
		}
		if listed[it.RelativePath] {
			return nil, &Error{Member: ManifestName, Check: fmt.Sprintf("relative_path %q is listed more than once", it.RelativePath)}
		}
		listed[it.RelativePath] = true
	}
	Sort(m.Files)
	legacy, err := isLegacy(m.Files)
	if err != nil {
		return nil, err
	}
	if legacy {
		return c.finishLegacy(m, listed)
	}
	for _, it := range m.Files {
		name := FilesPrefix + it.RelativePath
		got, err := c.listedMember(it)
		switch {
		case err != nil:
			return nil, err
		case got.symlink && it.Linkname == "":
			return nil, &Error{Member: name, Check: "is a symlink but " + ManifestName + " gives no linkname"}
		case got.size != it.SizeInBytes:
			return nil, &Error{Member: name, Check: fmt.Sprintf("size %d does not match size_in_bytes %d in %s", got.size, it.SizeInBytes, ManifestName)}
		case got.digest != it.SHA3256:
			return nil, &Error{Member: name, Check: "sha3_256 in " + ManifestName + " does not match the member's content"}
		}
	}
	if err := c.unlisted(listed); err != nil {
		return nil, err
	}
	// Every listed digest equals the one computed from the received bytes,
	// so this hash is the server's own, not the client's claim.
	return &Verified{Manifest: m, ContentHash: ContentHash(m.Files)}, nil
}

// listedMember returns the archive's member for a manifest item, refusing
// one that is missing or whose linkname the manifest contradicts; both
// package forms check their items this way.
func (c *checker) listedMember(it Item) (member, error) {
	name := FilesPrefix + it.RelativePath
	got, ok := c.members[it.RelativePath]
	switch {
	case !ok:
		return got, &Error{Member: name, Check: "listed in " + ManifestName + " but not in the archive"}
	case !got.symlink && it.Linkname != "":
		return got, &Error{Member: name, Check: "is a regular file but " + ManifestName + " gives a linkname"}
	case it.Linkname != "" && got.linkname != it.Linkname:
		return got, &Error{Member: name, Check: "symlink target does not match linkname in " + ManifestName}
	}
	return got, nil
}

// unlisted refuses a member that the manifest does not list.
func (c *checker) unlisted(listed map[string]bool) error {
	if len(c.members) <= len(listed) {
		return nil
	}
	var extra []string
	for rel := range c.members {
		if !listed[rel] {
			extra = append(extra, rel)
		}
	}
	slices.Sort(extra)
	return &Error{Member: FilesPrefix + extra[0], Check: "not listed in " + ManifestName}
}
