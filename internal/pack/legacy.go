package pack

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha3"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
)

// Legacy packages are what dlt's runtime CLI of late 2025 uploads (PACKAGING.md,
// "Legacy packages"): the same layout, but manifest items without sha3_256
// and linkname, and a content hash over the whole tar stream. Such a client
// decides "unchanged" by comparing its own tar-stream hash with the server's
// content_hash, so the server must report exactly that hash for them.

// isLegacy tells a manifest without digests from one with them. A manifest
// that has digests for some files but not others is neither.
func isLegacy(items []Item) (bool, error) {
	with := 0
	for _, it := range items {
		if it.SHA3256 != "" {
			with++
		}
	}
	switch {
	case with == len(items):
		// Every item has a digest (or there are none: an empty package
		// gets the hash of no input, whichever client made it).
		return false, nil
	case with == 0:
		return true, nil
	}
	for _, it := range items {
		if it.SHA3256 == "" {
			return false, &Error{Member: ManifestName, Check: fmt.Sprintf("relative_path %q has no sha3_256 while other files have one: give every file a digest, or none (legacy form)", it.RelativePath)}
		}
	}
	panic("unreachable")
}

// finishLegacy checks a manifest without digests against the members: every
// listed file is there, no member is unlisted, sizes agree (for a symlink,
// the size of the package file it points to), and the members came in name
// order, so that LegacyHash can hash them in one pass.
func (c *checker) finishLegacy(m Manifest, listed map[string]bool) (*Verified, error) {
	for _, it := range m.Files {
		name := FilesPrefix + it.RelativePath
		got, err := c.listedMember(it)
		if err != nil {
			return nil, err
		}
		size, known := got.size, true
		if got.symlink {
			size, known = c.linkedSize(it.RelativePath)
		}
		if known && size != it.SizeInBytes {
			what := "size"
			if got.symlink {
				what = "size of the linked file"
			}
			return nil, &Error{Member: name, Check: fmt.Sprintf("%s %d does not match size_in_bytes %d in %s", what, size, it.SizeInBytes, ManifestName)}
		}
	}
	if err := c.unlisted(listed); err != nil {
		return nil, err
	}
	if c.unsorted {
		return nil, &Error{Check: "members of a package without sha3_256 digests must come in name order, as dlt's package builder writes them"}
	}
	return &Verified{Manifest: m, Legacy: true}, nil
}

// maxLinkHops bounds following links to links, as the kernel does.
const maxLinkHops = 40

// linkedSize follows the symlink member at rel through the package to a
// regular file and returns its size. A link whose target is not a file of
// the package (dlt left it out, or links loop) has no size to check: the
// link is kept as it is, as in a package with digests.
func (c *checker) linkedSize(rel string) (int64, bool) {
	for range maxLinkHops {
		m, ok := c.members[rel]
		if !ok {
			return 0, false
		}
		if !m.symlink {
			return m.size, true
		}
		// linkProblem admitted the target: leading ".." only, within depth.
		rel = path.Join(path.Dir(rel), m.linkname)
	}
	return 0, false
}

// LegacyHash computes dlt's digest256_tar_stream of a tar.gz: SHA3-256 over
// the members in name order, each member's name followed, for a regular
// file, by its bytes. It reads the archive once and needs its members in
// name order (Verify refuses a legacy package that has them otherwise).
// Folder members count by their name without the trailing slash, as
// Python's tarfile names them; archive-wide PAX headers are no members.
func LegacyHash(r io.Reader, lim Limits) (string, error) {
	lim = lim.orDefault()
	gz, err := gzip.NewReader(r)
	if err != nil {
		return "", fmt.Errorf("legacy hash: %w", err)
	}
	cr := &countingReader{r: gz, left: lim.MaxUnpacked}
	tr := tar.NewReader(cr)
	h := sha3.New256()
	buf := make([]byte, 64<<10)
	prev, count := "", 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("legacy hash: %w", err)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		count++
		if count > lim.MaxMembers {
			return "", fmt.Errorf("legacy hash: more than %d members", lim.MaxMembers)
		}
		name := hdr.Name
		if hdr.Typeflag == tar.TypeDir {
			name = strings.TrimSuffix(name, "/")
		}
		if count > 1 && name <= prev {
			return "", fmt.Errorf("legacy hash: member %q comes after %q: members are not in name order", name, prev)
		}
		prev = name
		io.WriteString(h, name)
		if hdr.Typeflag == tar.TypeReg { // the reader turns the old TypeRegA into TypeReg
			if _, err := io.CopyBuffer(h, tr, buf); err != nil {
				return "", fmt.Errorf("legacy hash: member %q: %w", hdr.Name, err)
			}
		}
	}
	return sum64(h), nil
}

// Check verifies the package that open gives, as Verify does, and sets its
// content hash in the form its manifest calls for: for a legacy package it
// opens the package a second time and computes LegacyHash. open must give
// the same bytes each time (a file read from its start).
func Check(open func() (io.Reader, error), lim Limits) (*Verified, error) {
	r, err := open()
	if err != nil {
		return nil, err
	}
	v, err := Verify(r, lim)
	if err != nil || !v.Legacy {
		return v, err
	}
	if r, err = open(); err != nil {
		return nil, err
	}
	if v.ContentHash, err = LegacyHash(r, lim); err != nil {
		// Verify read the same bytes without fault: only a changed or
		// unreadable source gets here.
		return nil, fmt.Errorf("read package again: %w", err)
	}
	return v, nil
}

// LegacyHashOf computes the content hash that dlt's runtime CLI of late 2025
// reports for a package of items (sorted, as a Selection holds them): the
// LegacyHash of the tarball it would build, without building it. open gives
// a regular file's bytes; linkedSize gives the size of the file a symlink
// item points to, which that client's manifest lists as the link's size. A
// client of the current form uses it to tell a Runtime's copy made by the
// older client from changed content.
func LegacyHashOf(items []Item, open Opener, linkedSize func(relativePath string) (int64, error)) (string, error) {
	if !isSorted(items) {
		items = slices.Clone(items)
		Sort(items)
	}
	legacy := make([]Item, len(items))
	h := sha3.New256()
	buf := make([]byte, 64<<10)
	for i, it := range items {
		legacy[i] = Item{RelativePath: it.RelativePath, SizeInBytes: it.SizeInBytes}
		io.WriteString(h, FilesPrefix+it.RelativePath)
		if it.Linkname != "" {
			n, err := linkedSize(it.RelativePath)
			if err != nil {
				return "", fmt.Errorf("size of the file %q points to: %w", it.RelativePath, err)
			}
			legacy[i].SizeInBytes = n
			continue
		}
		rc, err := open(it.RelativePath)
		if err != nil {
			return "", fmt.Errorf("open %q: %w", it.RelativePath, err)
		}
		_, err = io.CopyBuffer(h, rc, buf)
		rc.Close()
		if err != nil {
			return "", fmt.Errorf("read %q: %w", it.RelativePath, err)
		}
	}
	Sort(legacy)
	io.WriteString(h, ManifestName)
	h.Write(MarshalManifest(Manifest{EngineVersion: EngineVersion, Files: legacy}))
	return sum64(h), nil
}
