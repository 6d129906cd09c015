package executor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// defaultIndex is pip's own index, used when the operator's proxy needs a
// password but no index is configured.
const defaultIndex = "https://pypi.org/simple"

// indexEnvKeys are the variables of pip and uv that name package indexes;
// their values are URLs separated by spaces (uv's UV_INDEX also NAME=URL).
var indexEnvKeys = []string{"PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX"}

// indexArgs are the options of pip and uv whose value is an index URL.
var indexArgs = []string{"--index-url", "-i", "--extra-index-url", "--default-index", "--index"}

// proxyEnvKeys are the proxy variables an install would use.
var proxyEnvKeys = []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"}

// indexProxy keeps the operator's index and proxy credentials out of the
// sandbox of a dependency install, where build backends of sdists run: the
// install is given loopback URLs of this proxy without credentials, and
// the proxy forwards each request to the real index, with the credentials
// added (and through the operator's proxy, with its own). Links and
// redirects in its answers are rewritten to go through it too.
type indexProxy struct {
	ln     net.Listener
	srv    *http.Server
	base   string // http://127.0.0.1:PORT/<random>
	creds  map[string]*url.Userinfo
	client *http.Client
}

// absURL finds the absolute http(s) URLs in an index page.
var absURL = regexp.MustCompile(`https?://[A-Za-z0-9.\-_~%!$&'()*+,;=:@\[\]]+`)

// hideIndexCredentials returns env and args for an install with every
// index URL that has credentials (all of them when a proxy variable has
// credentials) replaced by a URL of a loopback proxy that adds them, and
// the proxy variables with credentials removed; stop ends the proxy. When
// nothing has credentials, env and args come back as they are.
func hideIndexCredentials(env, args []string) (outEnv, outArgs []string, stop func(), err error) {
	var proxy *url.URL
	for _, k := range proxyEnvKeys {
		if v := lookEnv(env, k); v != "" {
			if u, err := url.Parse(v); err == nil && u.User != nil {
				proxy = u
				break
			}
		}
	}
	needs := proxy != nil
	found := false
	eachIndex(env, args, func(raw string) string {
		found = true
		if u, err := url.Parse(raw); err == nil && u.User != nil {
			needs = true
		}
		return raw
	})
	if !needs {
		return env, args, func() {}, nil
	}
	p, err := startIndexProxy(proxy)
	if err != nil {
		return nil, nil, nil, err
	}
	rewrite := func(raw string) string {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return raw
		}
		if u.User != nil {
			p.creds[u.Host] = u.User
			u.User = nil
		}
		return p.local(u.String())
	}
	outEnv, outArgs = eachIndex(env, args, rewrite)
	if proxy != nil {
		kept := outEnv[:0:0]
		for _, kv := range outEnv {
			k, _, _ := strings.Cut(kv, "=")
			if !containsStr(proxyEnvKeys, k) {
				kept = append(kept, kv)
			}
		}
		outEnv = kept
		if !found {
			outEnv = append(outEnv, "PIP_INDEX_URL="+rewrite(defaultIndex), "UV_DEFAULT_INDEX="+rewrite(defaultIndex))
		}
	}
	return outEnv, outArgs, p.close, nil
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// eachIndex calls fn on every index URL in env and args and returns them
// with each URL replaced by what fn returned.
func eachIndex(env, args []string, fn func(string) string) ([]string, []string) {
	mapList := func(v string) string {
		fields := strings.Fields(v)
		for i, f := range fields {
			if name, u, ok := strings.Cut(f, "="); ok && !strings.Contains(name, "/") {
				fields[i] = name + "=" + fn(u) // uv's NAME=URL
			} else {
				fields[i] = fn(f)
			}
		}
		return strings.Join(fields, " ")
	}
	outEnv := make([]string, len(env))
	for i, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if containsStr(indexEnvKeys, k) && v != "" {
			kv = k + "=" + mapList(v)
		}
		outEnv[i] = kv
	}
	outArgs := make([]string, len(args))
	copy(outArgs, args)
	for i := 0; i < len(outArgs); i++ {
		a := outArgs[i]
		if k, v, ok := strings.Cut(a, "="); ok && containsStr(indexArgs, k) {
			outArgs[i] = k + "=" + fn(v)
		} else if containsStr(indexArgs, a) && i+1 < len(outArgs) {
			outArgs[i+1] = fn(outArgs[i+1])
			i++
		}
	}
	return outEnv, outArgs
}

func startIndexProxy(proxy *url.URL) (*indexProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start the index proxy: %w", err)
	}
	tok := make([]byte, 16)
	_, _ = rand.Read(tok)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	if proxy != nil {
		tr.Proxy = http.ProxyURL(proxy)
	}
	tr.DisableCompression = true // answers are rewritten, so they come in plain
	p := &indexProxy{
		ln: ln, base: "http://" + ln.Addr().String() + "/" + hex.EncodeToString(tok),
		creds:  map[string]*url.Userinfo{},
		client: &http.Client{Transport: tr, Timeout: 10 * time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func (p *indexProxy) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
}

// local is the proxy's URL for the absolute URL raw (no credentials in it).
func (p *indexProxy) local(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return p.base + "/_/" + u.Scheme + "/" + u.Host + u.EscapedPath() + queryOf(u)
}

func queryOf(u *url.URL) string {
	if u.RawQuery == "" {
		return ""
	}
	return "?" + u.RawQuery
}

// ServeHTTP forwards GET and HEAD requests under base to the index they
// name, with its credentials.
func (p *indexProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	prefix := strings.TrimPrefix(p.base, "http://"+p.ln.Addr().String()) + "/_/"
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), prefix)
	if !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	scheme, rest, _ := strings.Cut(rest, "/")
	host, path, _ := strings.Cut(rest, "/")
	host, err := url.PathUnescape(host) // clients may escape its ':'
	if err != nil || (scheme != "http" && scheme != "https") {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	target := scheme + "://" + host + "/" + path
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, target, nil)
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	for _, h := range []string{"Accept", "User-Agent", "Range", "If-None-Match", "If-Modified-Since"} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	if ui := p.creds[host]; ui != nil {
		pw, _ := ui.Password()
		req.SetBasicAuth(ui.Username(), pw)
	}
	res, err := p.client.Do(req)
	if err != nil {
		http.Error(w, "index unreachable", http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	for _, h := range []string{"Content-Type", "ETag", "Last-Modified", "Cache-Control", "Content-Range", "Accept-Ranges"} {
		if v := res.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	if loc := res.Header.Get("Location"); loc != "" {
		if u, err := req.URL.Parse(loc); err == nil {
			u.User = nil
			w.Header().Set("Location", p.local(u.String()))
		}
	}
	ct := res.Header.Get("Content-Type")
	if strings.Contains(ct, "html") || strings.Contains(ct, "json") {
		body, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
		if err != nil {
			http.Error(w, "index answer cut short", http.StatusBadGateway)
			return
		}
		body = absURL.ReplaceAllFunc(body, func(m []byte) []byte { return []byte(p.local(string(m))) })
		w.WriteHeader(res.StatusCode)
		_, _ = w.Write(body)
		return
	}
	if cl := res.Header.Get("Content-Length"); cl != "" {
		w.Header().Set("Content-Length", cl)
	}
	w.WriteHeader(res.StatusCode)
	_, _ = io.Copy(w, res.Body)
}
