// Package pack implements the package format of docs/PACKAGING.md: the manifest,
// per-file digests, the content hash, writing a tar.gz, and checking and
// extracting one that came over the wire. It knows nothing of workspaces
// (which files are chosen) nor of HTTP.
package pack

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha3"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// EngineVersion is the manifest's engine_version.
const EngineVersion = 1

// ManifestName is the tar member that holds the manifest; it comes last.
const ManifestName = "manifest.yaml"

// FilesPrefix prefixes every file member of the tar.
const FilesPrefix = "files/"

// Item is one file of a manifest.
type Item struct {
	RelativePath string `json:"relative_path" yaml:"relative_path"`
	SizeInBytes  int64  `json:"size_in_bytes" yaml:"size_in_bytes"`
	SHA3256      string `json:"sha3_256" yaml:"sha3_256"`
	Linkname     string `json:"linkname,omitempty" yaml:"linkname,omitempty"`
}

// Manifest is the content of manifest.yaml.
type Manifest struct {
	EngineVersion int    `json:"engine_version" yaml:"engine_version"`
	Files         []Item `json:"files" yaml:"files"`
}

// EmptyHash is the content hash of a package with no files.
const EmptyHash = "p//G+L8e12ZRwUdWoGHWYvWA/03kO0n6gtgKS4D4Q0o="

// Digest returns base64(SHA3-256(b)).
func Digest(b []byte) string {
	sum := sha3.Sum256(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// ContentHash computes the content hash of items (sorted by RelativePath
// first, in byte order, if they are not already).
func ContentHash(items []Item) string {
	if !isSorted(items) {
		items = slices.Clone(items) // the caller's order is theirs
		Sort(items)
	}
	h := sha3.New256()
	for _, it := range items {
		io.WriteString(h, it.RelativePath)
		io.WriteString(h, it.SHA3256)
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func isSorted(items []Item) bool {
	return slices.IsSortedFunc(items, func(a, b Item) int { return strings.Compare(a.RelativePath, b.RelativePath) })
}

// Sort sorts items by RelativePath in byte order.
func Sort(items []Item) {
	slices.SortStableFunc(items, func(a, b Item) int { return strings.Compare(a.RelativePath, b.RelativePath) })
}

// ParseManifest reads manifest.yaml.
func ParseManifest(b []byte) (Manifest, error) {
	var raw struct {
		EngineVersion *int    `yaml:"engine_version"`
		Files         *[]Item `yaml:"files"`
	}
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return Manifest{}, fmt.Errorf("parse manifest: %w", err)
	}
	if raw.EngineVersion == nil {
		return Manifest{}, errors.New("parse manifest: engine_version is missing")
	}
	if raw.Files == nil {
		return Manifest{}, errors.New("parse manifest: files is missing")
	}
	m := Manifest{EngineVersion: *raw.EngineVersion, Files: *raw.Files}
	if m.Files == nil {
		m.Files = []Item{}
	}
	return m, nil
}

// Opener opens the content of a regular file item for writing into the tar.
type Opener func(relativePath string) (io.ReadCloser, error)

// gzipBlockSize is the unit of parallel compression.
const gzipBlockSize = 1 << 20

// memberTime is the modification time of every member: packages depend only
// on content, so two packs of the same files give the same bytes.
func memberTime() time.Time { return time.Unix(0, 0) }

// Write writes the tar.gz of m to w: one member files/<path> per item (a
// symlink member for items with a Linkname), then manifest.yaml. open gives
// each regular file's bytes; their size must equal the item's.
func Write(w io.Writer, m Manifest, open Opener) error {
	// BestSpeed on all cores: packing must not be what a deploy waits for,
	// and higher levels shrink text only a little more (see the benchmarks).
	gz, err := newParallelGzip(w, gzip.BestSpeed, gzipBlockSize)
	if err != nil {
		return fmt.Errorf("write gzip header: %w", err)
	}
	defer gz.stop()
	tw := tar.NewWriter(gz)
	buf := make([]byte, 128<<10)
	for _, it := range m.Files {
		if err := writeItem(tw, it, open, buf); err != nil {
			return err
		}
	}
	man := MarshalManifest(m)
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: ManifestName, Size: int64(len(man)), Mode: 0o644, ModTime: memberTime()}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write %s: %w", ManifestName, err)
	}
	if _, err := tw.Write(man); err != nil {
		return fmt.Errorf("write %s: %w", ManifestName, err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("finish tar: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("finish gzip: %w", err)
	}
	return nil
}

func writeItem(tw *tar.Writer, it Item, open Opener, buf []byte) error {
	name := FilesPrefix + it.RelativePath
	if it.Linkname != "" {
		hdr := &tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: it.Linkname, Mode: 0o777, ModTime: memberTime()}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("write %q: %w", it.RelativePath, err)
		}
		return nil
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: it.SizeInBytes, Mode: 0o644, ModTime: memberTime()}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write %q: %w", it.RelativePath, err)
	}
	rc, err := open(it.RelativePath)
	if err != nil {
		return fmt.Errorf("open %q: %w", it.RelativePath, err)
	}
	defer rc.Close()
	n, err := io.CopyBuffer(tw, io.LimitReader(rc, it.SizeInBytes), buf)
	if err != nil {
		return fmt.Errorf("read %q: %w", it.RelativePath, err)
	}
	if n < it.SizeInBytes {
		return fmt.Errorf("file %q shrank from %d to %d bytes since it was selected: run the command again", it.RelativePath, it.SizeInBytes, n)
	}
	// One more byte means the file grew; the tar member would be cut short.
	var one [1]byte
	if k, _ := io.ReadFull(rc, one[:]); k > 0 {
		return fmt.Errorf("file %q grew since it was selected (was %d bytes): run the command again", it.RelativePath, it.SizeInBytes)
	}
	return rc.Close()
}

// Limits bound what Verify and Extract accept.
type Limits struct {
	MaxMembers  int   // most members in the tar (manifest included)
	MaxUnpacked int64 // most bytes of all members together, decompressed
}

// DefaultLimits are the limits used when a field of Limits is zero.
var DefaultLimits = Limits{MaxMembers: 100000, MaxUnpacked: 1 << 30}

func (l Limits) orDefault() Limits {
	if l.MaxMembers <= 0 {
		l.MaxMembers = DefaultLimits.MaxMembers
	}
	if l.MaxUnpacked <= 0 {
		l.MaxUnpacked = DefaultLimits.MaxUnpacked
	}
	return l
}

// Error is a package that fails a check: Member names the tar member (or
// "manifest.yaml", or "" for the whole archive) and Check says what failed.
type Error struct {
	Member string
	Check  string
}

// Error formats the failure for logs and API error details; it holds only
// member names and check texts, never file contents.
func (e *Error) Error() string {
	if e.Member == "" {
		return "invalid package: " + e.Check
	}
	return "invalid package: member \"" + e.Member + "\": " + e.Check
}

// Verified is a package that passed every check.
type Verified struct {
	Manifest    Manifest // sorted
	ContentHash string   // computed from the bytes received, not copied from the manifest
	// Legacy marks a manifest without sha3_256 digests (dlt's runtime CLI
	// of late 2025). Verify leaves ContentHash empty for it: its hash is
	// LegacyHash of the whole archive, which Check computes.
	Legacy bool
}

// FileNames joins the manifest's paths with ", " in manifest order.
func (v *Verified) FileNames() string {
	var b strings.Builder
	for i, it := range v.Manifest.Files {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(it.RelativePath)
	}
	return b.String()
}

// Verify reads a tar.gz from r and checks it entirely before the caller stores
// anything: members only files/... (regular files, or symlinks whose relative
// target stays inside) and manifest.yaml; no absolute paths, "..", backslashes,
// duplicates, hard links, devices or directories escaping; decompressed size
// and member count within lim; the manifest lists exactly the members and every
// digest and size matches the bytes. A manifest without digests (the legacy
// form) is checked by sizes and member order instead, and its ContentHash
// left to Check. Failures are *Error.
func Verify(r io.Reader, lim Limits) (*Verified, error) {
	c := &checker{lim: lim.orDefault()}
	return c.run(r)
}

// Extract checks the tar.gz from r as Verify does and writes its files under
// dir (files/ prefix removed, manifest not written), creating folders as
// needed. Nothing is written outside dir. Files get mode 0644, or mode when
// not zero.
func Extract(r io.Reader, dir string, lim Limits, mode uint32) (*Verified, error) {
	out, err := newExtractor(dir, mode)
	if err != nil {
		return nil, err
	}
	c := &checker{lim: lim.orDefault(), out: out}
	v, err := c.run(r)
	if err != nil {
		// The caller must not see half a package: take back what we wrote.
		if cerr := out.undo(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		out.close()
		return nil, err
	}
	if err := out.close(); err != nil {
		return nil, err
	}
	return v, nil
}

// manifestLimit bounds the manifest held in memory; 100,000 entries with
// long paths stay well below it.
const manifestLimit = 64 << 20

var errManifestTooLarge = errors.New("manifest too large")

func readManifest(r io.Reader) ([]byte, error) {
	var b bytes.Buffer
	n, err := io.Copy(&b, io.LimitReader(r, manifestLimit+1))
	if err != nil {
		return nil, err
	}
	if n > manifestLimit {
		return nil, errManifestTooLarge
	}
	return b.Bytes(), nil
}
