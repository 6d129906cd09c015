// Package pack implements the package format of PACKAGING.md: the manifest,
// per-file digests, the content hash, writing a tar.gz, and checking and
// extracting one that came over the wire. It knows nothing of workspaces
// (which files are chosen) nor of HTTP.
package pack

import (
	"io"
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
func Digest(b []byte) string { panic("todo") }

// DigestReader returns base64(SHA3-256) of everything r yields, and its length.
func DigestReader(r io.Reader) (string, int64, error) { panic("todo") }

// ContentHash computes the content hash of items (sorted by RelativePath
// first, in byte order, if they are not already).
func ContentHash(items []Item) string { panic("todo") }

// Sort sorts items by RelativePath in byte order.
func Sort(items []Item) { panic("todo") }

// MarshalManifest prints m as dlt's YAML writer does (see the vectors'
// manifest_yaml).
func MarshalManifest(m Manifest) []byte { panic("todo") }

// ParseManifest reads manifest.yaml.
func ParseManifest(b []byte) (Manifest, error) { panic("todo") }

// Opener opens the content of a regular file item for writing into the tar.
type Opener func(relativePath string) (io.ReadCloser, error)

// Write writes the tar.gz of m to w: one member files/<path> per item (a
// symlink member for items with a Linkname), then manifest.yaml. open gives
// each regular file's bytes; their size must equal the item's.
func Write(w io.Writer, m Manifest, open Opener) error { panic("todo") }

// Limits bound what Verify and Extract accept.
type Limits struct {
	MaxMembers  int   // most members in the tar (manifest included)
	MaxUnpacked int64 // most bytes of all members together, decompressed
}

// DefaultLimits are the limits used when a field of Limits is zero.
var DefaultLimits = Limits{MaxMembers: 100000, MaxUnpacked: 1 << 30}

// Error is a package that fails a check: Member names the tar member (or
// "manifest.yaml", or "" for the whole archive) and Check says what failed.
type Error struct {
	Member string
	Check  string
}

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
}

// FileNames joins the manifest's paths with ", " in manifest order.
func (v *Verified) FileNames() string { panic("todo") }

// Verify reads a tar.gz from r and checks it entirely before the caller stores
// anything: members only files/... (regular files, or symlinks whose relative
// target stays inside) and manifest.yaml; no absolute paths, "..", backslashes,
// duplicates, hard links, devices or directories escaping; decompressed size
// and member count within lim; the manifest lists exactly the members and every
// digest and size matches the bytes. Failures are *Error.
func Verify(r io.Reader, lim Limits) (*Verified, error) { panic("todo") }

// Extract checks the tar.gz from r as Verify does and writes its files under
// dir (files/ prefix removed, manifest not written), creating folders as
// needed. Nothing is written outside dir. Files get mode 0644, or mode when
// not zero.
func Extract(r io.Reader, dir string, lim Limits, mode uint32) (*Verified, error) {
	panic("todo")
}
