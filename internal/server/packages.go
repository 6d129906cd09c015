package server

import (
	"crypto/sha3"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/pack"
	"github.com/dlthub/runtime-action/internal/store"
)

// multipartSlack is what the multipart framing around the package may add
// to the body: boundaries, part headers and small extra fields.
const multipartSlack = 64 << 10

func (s *Server) listPackages(kind store.PackageKind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		c := callFrom(r)
		pg, err := page(r)
		if err != nil {
			return err
		}
		pkgs, total, err := s.dir.store.Packages(r.Context(), kind, c.ws.ID, pg)
		if err != nil {
			return internal("list "+string(kind)+"s", err)
		}
		if kind == store.KindConfiguration {
			items := make([]api.Configuration, len(pkgs))
			for i, p := range pkgs {
				items[i] = api.Configuration{PackageInfo: apiPackage(p), Profiles: p.Profiles}
			}
			writeJSON(w, http.StatusOK, api.Page[api.Configuration]{Items: items, Limit: pg.Limit, Offset: pg.Offset, Total: total})
			return nil
		}
		items := make([]api.Deployment, len(pkgs))
		for i, p := range pkgs {
			items[i] = apiPackage(p)
		}
		writeJSON(w, http.StatusOK, api.Page[api.Deployment]{Items: items, Limit: pg.Limit, Offset: pg.Offset, Total: total})
		return nil
	}
}

// getPackage answers .../latest (latest) or .../{id_or_version}.
func (s *Server) getPackage(kind store.PackageKind, latest bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		c := callFrom(r)
		ctx := r.Context()
		var p store.Package
		var err error
		sel := r.PathValue("id_or_version")
		switch {
		case latest:
			p, err = s.dir.store.LatestPackage(ctx, kind, c.ws.ID)
			if errors.Is(err, store.ErrNotFound) {
				return notFound("the workspace has no %s yet: upload one first", kind)
			}
		case isVersion(sel):
			v, _ := strconv.Atoi(sel)
			p, err = s.dir.store.PackageByVersion(ctx, kind, c.ws.ID, v)
		default:
			p, err = s.dir.store.PackageByID(ctx, kind, c.ws.ID, sel)
		}
		if errors.Is(err, store.ErrNotFound) {
			return notFound("%s %q not found", kind, sel)
		}
		if err != nil {
			return internal("find "+string(kind), err)
		}
		writeJSON(w, http.StatusOK, apiPackageOf(p))
		return nil
	}
}

// isVersion tells a version number from an id in a path.
func isVersion(s string) bool {
	if s == "" || len(s) > 9 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// uploadPackage takes a package from the multipart part "file": it streams
// it to a temporary file while hashing it, checks it completely with
// pack.Check, and only then stores it. The tarball goes into packages/
// inside the store's transaction, so a failed request leaves neither a row
// nor a file.
func (s *Server) uploadPackage(kind store.PackageKind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		c := callFrom(r)
		limit := s.cfg.MaxUpload
		if r.ContentLength > limit+multipartSlack {
			return tooLarge(r.ContentLength, limit, false)
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit+multipartSlack)
		part, err := filePart(r)
		if err != nil {
			return err
		}
		tmp, err := os.CreateTemp(s.dir.join(tmpDir), "upload-*.tar.gz")
		if err != nil {
			return internal("store upload", err)
		}
		defer func() {
			tmp.Close()
			os.Remove(tmp.Name())
		}()
		h := sha3.New256()
		sink, finish, err := s.uploadSink(kind, tmp)
		if err != nil {
			return internal("store upload", err)
		}
		n, err := io.Copy(io.MultiWriter(sink, h), io.LimitReader(part, limit+1))
		if err == nil && n > limit {
			// count the rest (bounded by MaxBytesReader) to say how big it is
			var m int64
			m, err = io.Copy(io.Discard, part)
			n += m
			if err == nil {
				return tooLarge(n, limit, false)
			}
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return tooLarge(n, limit, true)
			}
			return badRequest("read upload: %v", err)
		}
		if err := finish(); err != nil {
			return internal("store upload", err)
		}
		if err := tmp.Sync(); err != nil {
			return internal("store upload", err)
		}
		// A legacy package (no digests in its manifest) is read twice: its
		// content hash is the one dlt's older client computes over the
		// whole tar stream (PACKAGING.md, "Legacy packages").
		var openErr error
		v, err := pack.Check(func() (io.Reader, error) {
			if _, openErr = tmp.Seek(0, io.SeekStart); openErr != nil {
				return nil, openErr
			}
			var src io.Reader
			src, openErr = s.uploadSource(kind, tmp)
			return src, openErr
		}, pack.Limits{MaxMembers: s.cfg.MaxMembers, MaxUnpacked: s.cfg.MaxUnpacked})
		if openErr != nil {
			return internal("store upload", openErr)
		}
		if err != nil {
			var pe *pack.Error
			if errors.As(err, &pe) {
				return &Error{Kind: KindBadRequest, Detail: pe.Error(), Extra: map[string]any{"member": pe.Member, "check": pe.Check}}
			}
			return badRequest("invalid package: %v", err)
		}
		if err := checkPackageNames(v); err != nil {
			return err
		}
		if kind == store.KindConfiguration {
			if err := checkSecretsLinks(v); err != nil {
				return err
			}
		}
		blob := hex.EncodeToString(h.Sum(nil))
		p := store.Package{
			Kind:        kind,
			WorkspaceID: c.ws.ID,
			ContentHash: v.ContentHash,
			Blob:        blob,
			CreatedBy:   c.p.UserID,
			FileCount:   len(v.Manifest.Files),
			FileNames:   v.FileNames(),
			Size:        n,
		}
		if kind == store.KindConfiguration {
			p.Profiles = profilesOf(v.Manifest.Files)
		}
		final := s.blobPath(kind, blob)
		placed := false
		res, _, err := s.dir.store.CreatePackage(r.Context(), p, func(store.Package) error {
			if _, err := os.Stat(final); err == nil {
				return nil // the same bytes are stored already
			}
			if err := os.Rename(tmp.Name(), final); err != nil {
				return err
			}
			placed = true
			return syncDir(s.dir.join(packagesDir))
		})
		if err != nil {
			if placed {
				if used, uerr := s.dir.store.BlobInUse(r.Context(), blob); uerr == nil && !used {
					os.Remove(final)
				}
			}
			return internal("store "+string(kind), err)
		}
		writeJSON(w, http.StatusCreated, apiPackageOf(res))
		return nil
	}
}

func tooLarge(n, limit int64, atLeast bool) error {
	detail := fmt.Sprintf("package is %d bytes, over the limit of %d bytes", n, limit)
	if atLeast {
		detail = fmt.Sprintf("package is more than %d bytes, over the limit of %d bytes", n, limit)
	}
	return &Error{Kind: KindTooLarge, Detail: detail, Extra: map[string]any{"limit": limit}}
}

// filePart finds the multipart part named "file", skipping others.
func filePart(r *http.Request) (io.Reader, error) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "multipart/form-data" {
		return nil, badRequest("expected a multipart/form-data body with the package in a part named \"file\", got Content-Type %q",
			r.Header.Get("Content-Type"))
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, badRequest("malformed multipart body: %v", err)
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, badRequest("field \"file\" is required: the multipart body has no part named \"file\"")
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, &Error{Kind: KindTooLarge, Detail: fmt.Sprintf("upload is over the limit of %d bytes", mbe.Limit),
					Extra: map[string]any{"limit": mbe.Limit}}
			}
			return nil, badRequest("malformed multipart body: %v", err)
		}
		if part.FormName() == "file" {
			return part, nil
		}
		if _, err := io.Copy(io.Discard, part); err != nil {
			return nil, badRequest("malformed multipart body: %v", err)
		}
	}
}

// profilesOf finds the profile names in a configuration's file names
// (prod.secrets.toml and extra/dev.config.toml name prod and dev; plain
// config.toml and secrets.toml name none), sorted and joined with ", ".
func profilesOf(items []pack.Item) string {
	seen := map[string]bool{}
	for _, it := range items {
		base := path.Base(it.RelativePath)
		for _, suffix := range []string{".config.toml", ".secrets.toml"} {
			if p, ok := strings.CutSuffix(base, suffix); ok && p != "" {
				seen[p] = true
			}
		}
	}
	names := make([]string, 0, len(seen))
	for p := range seen {
		names = append(names, p)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
