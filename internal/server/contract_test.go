package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"gopkg.in/yaml.v3"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/oidc"
	"github.com/dlthub/runtime-action/internal/oidctest"
)

// contractFile is the API contract that the server implements; the test at
// the module's root (TestSpecCopiesAreCurrent) keeps it equal to the
// project's shared copy.
const contractFile = "../../docs/runtime-v1.openapi.yaml"

// contract is the OpenAPI document, decoded as plain maps and lists.
type contract struct {
	doc map[string]any
	ops map[string]contractOp // by operationId
}

// contractOp is one operation of the contract.
type contractOp struct {
	id, method, path string
	pathRE           *regexp.Regexp
	responses        map[string]any // status code -> response object
}

func loadContract(t *testing.T) *contract {
	t.Helper()
	b, err := os.ReadFile(contractFile)
	if err != nil {
		t.Fatalf("read the contract: %v", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("parse %s: %v", contractFile, err)
	}
	c := &contract{doc: doc, ops: map[string]contractOp{}}
	paths, _ := doc["paths"].(map[string]any)
	if len(paths) == 0 {
		t.Fatalf("%s has no paths", contractFile)
	}
	for p, item := range paths {
		for method, o := range item.(map[string]any) {
			op, ok := o.(map[string]any)
			if !ok {
				continue
			}
			id, _ := op["operationId"].(string)
			if id == "" {
				t.Fatalf("%s %s has no operationId", method, p)
			}
			// A script name may hold slashes (sent unencoded by dlt's
			// client); every other parameter is one segment.
			re := regexp.QuoteMeta(p)
			re = strings.ReplaceAll(re, `\{script_id_or_name\}`, `.+`)
			re = regexp.MustCompile(`\\\{[a-z_]+\\\}`).ReplaceAllString(re, `[^/]+`)
			c.ops[id] = contractOp{id: id, method: strings.ToUpper(method), path: p,
				pathRE: regexp.MustCompile("^" + re + "$"), responses: op["responses"].(map[string]any)}
		}
	}
	return c
}

// resolve follows $ref until it reaches a node that is not a reference.
func (c *contract) resolve(t *testing.T, node any) map[string]any {
	t.Helper()
	for range 20 {
		m, ok := node.(map[string]any)
		if !ok {
			t.Fatalf("schema node %v is not an object", node)
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		var cur any = c.doc
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			next, ok := cur.(map[string]any)[part]
			if !ok {
				t.Fatalf("unresolvable $ref %q", ref)
			}
			cur = next
		}
		node = cur
	}
	t.Fatalf("$ref loop at %v", node)
	return nil
}

// jsonKind names the JSON type of a value decoded with UseNumber.
func jsonKind(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		if _, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// validate checks v against schema and returns what does not conform: the
// type (a list of types allows null), enums, formats uuid and date-time,
// required properties, and, recursively, properties, array items, allOf
// and oneOf. Properties the schema does not name are allowed.
func (c *contract) validate(t *testing.T, schema any, v any, at string) []string {
	t.Helper()
	s := c.resolve(t, schema)
	var errs []string
	for _, sub := range listOf(s["allOf"]) {
		errs = append(errs, c.validate(t, sub, v, at)...)
	}
	if one := listOf(s["oneOf"]); len(one) > 0 {
		matches := 0
		for _, sub := range one {
			if len(c.validate(t, sub, v, at)) == 0 {
				matches++
			}
		}
		if matches != 1 {
			errs = append(errs, fmt.Sprintf("%s: %s matches %d of the oneOf schemas, want exactly 1", at, jsonKind(v), matches))
		}
	}
	if typ, ok := s["type"]; ok {
		var types []string
		switch x := typ.(type) {
		case string:
			types = []string{x}
		case []any:
			for _, y := range x {
				types = append(types, y.(string))
			}
		}
		kind := jsonKind(v)
		if !slices.Contains(types, kind) && !(kind == "integer" && slices.Contains(types, "number")) {
			return append(errs, fmt.Sprintf("%s: a JSON %s, want %s", at, kind, strings.Join(types, " or ")))
		}
	}
	if enum := listOf(s["enum"]); len(enum) > 0 && !slices.Contains(enum, v) {
		errs = append(errs, fmt.Sprintf("%s: %v is not one of %v", at, v, enum))
	}
	if str, ok := v.(string); ok {
		switch s["format"] {
		case "uuid":
			if _, err := uuid.Parse(str); err != nil || len(str) != 36 {
				errs = append(errs, fmt.Sprintf("%s: %q is not a UUID", at, str))
			}
		case "date-time":
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %q is not an RFC 3339 date-time", at, str))
			}
		}
	}
	switch x := v.(type) {
	case map[string]any:
		for _, name := range listOf(s["required"]) {
			if _, ok := x[name.(string)]; !ok {
				errs = append(errs, fmt.Sprintf("%s: required property %q is missing", at, name))
			}
		}
		props, _ := s["properties"].(map[string]any)
		for name, ps := range props {
			if pv, ok := x[name]; ok {
				errs = append(errs, c.validate(t, ps, pv, at+"."+name)...)
			}
		}
	case []any:
		if items, ok := s["items"]; ok {
			for i, it := range x {
				errs = append(errs, c.validate(t, items, it, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	}
	return errs
}

func listOf(v any) []any { l, _ := v.([]any); return l }

// responseSchema is the JSON schema of an operation's answer with status,
// or the media type when it is not JSON.
func (c *contract) responseSchema(t *testing.T, op contractOp, status int) (schema any, mediaType string, listed bool) {
	t.Helper()
	r, ok := op.responses[strconv.Itoa(status)]
	if !ok {
		return nil, "", false
	}
	content, _ := c.resolve(t, r)["content"].(map[string]any)
	for mt, m := range content {
		return m.(map[string]any)["schema"], mt, true
	}
	return nil, "", true
}

// contractState is what the cases learn as they go, for later cases.
type contractState struct {
	user, org, other                string
	scriptID, sleepID, sleepVersion string
	depV1, depV2, confV1            string
	runDone, runRunning, runPending string
	depTarball, confTarball         []byte
}

// contractCase is one request and the answer it must get.
type contractCase struct {
	name string
	// op is the operationId; "" for a request that addresses no operation
	// (an unknown path or method): the answer must then be an ErrorResponse.
	op string
	// invalid marks a request outside the contract's parameter schemas
	// (limit 0, say): only "errors are an ErrorResponse" applies to it.
	invalid bool
	method  string // default: the operation's
	path    func(s *contractState) string
	noToken bool
	body    func(s *contractState) (io.Reader, string) // body, content type
	want    int
	// check looks at the decoded answer (JSON objects as map[string]any).
	check func(t *testing.T, s *contractState, body any)
}

// TestContract sends every operation of the contract to a real server on
// loopback, with real uploads and real runs, and checks that each answer's
// status is one the contract lists for the operation and that its body
// conforms to the schema of that status (required properties present, with
// their types, nullability, enums and formats, through $ref, allOf and
// oneOf). Some cases check the meaning of fields too (versions, sizes,
// file_names, profiles, run numbers, cancel semantics).
func TestContract(t *testing.T) {
	c := loadContract(t)

	gh, _ := fakeGitHub(t, map[string]string{"ghp_alice": "alice alice@example.com", "ghp_eve": "eve"})
	p, err := oidctest.Start(oidctest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	e := newEnv(t, func(cfg *Config) {
		cfg.MaxUpload = 32 << 10
		cfg.MaxConcurrentRuns = 1
		cfg.CancelGrace = 200 * time.Millisecond
		cfg.LogPollInterval = 20 * time.Millisecond
		cfg.GitHubAPIURL = gh.URL
		cfg.OIDC.Issuer = p.URL
	})
	ctx := context.Background()
	if err := e.srv.Admin().AllowGitHub(ctx, "alice", ""); err != nil {
		t.Fatal(err)
	}
	other, err := e.srv.Admin().CreateWorkspace(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.srv.Admin().AddTrustRule(ctx, TrustRuleInput{WorkspaceID: e.ws, RepositoryID: "42", RepositoryOwnerID: "7"}); err != nil {
		t.Fatal(err)
	}

	depFiles := map[string]string{
		"jobs/load.py": "print('loaded 3 rows', flush=True)\n",
		"sleep.py":     "import time\nprint('sleeping', flush=True)\ntime.sleep(120)\n",
		"a.py":         "x = 1\n",
	}
	s := &contractState{other: other.ID,
		depTarball:  buildPackage(t, depFiles),
		confTarball: buildPackage(t, map[string]string{"config.toml": "", "secrets.toml": "", "prod.secrets.toml": "", "access.secrets.toml": "", "extra/dev.config.toml": ""}),
	}
	ws := func(parts ...string) func(*contractState) string {
		return func(*contractState) string { return e.wsPath(parts...) }
	}
	fixed := func(p string) func(*contractState) string { return func(*contractState) string { return p } }
	jsonBody := func(v any) func(*contractState) (io.Reader, string) {
		return func(*contractState) (io.Reader, string) {
			b, _ := json.Marshal(v)
			return bytes.NewReader(b), "application/json"
		}
	}
	upload := func(tarball func(*contractState) []byte) func(*contractState) (io.Reader, string) {
		return func(s *contractState) (io.Reader, string) {
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			fw, _ := mw.CreateFormFile("file", "workspace.tar.gz")
			fw.Write(tarball(s))
			mw.Close()
			return &buf, mw.FormDataContentType()
		}
	}
	// The packages and tokens are made here: a subtest must not fail its parent.
	depV1 := func(s *contractState) []byte { return s.depTarball }
	depV2Tarball := buildPackage(t, map[string]string{"jobs/load.py": depFiles["jobs/load.py"], "sleep.py": depFiles["sleep.py"], "b.py": ""})
	depV2 := func(*contractState) []byte { return depV2Tarball }
	conf := func(s *contractState) []byte { return s.confTarball }
	// The noise does not compress, so that the tarball is over MaxUpload.
	noise := make([]byte, 48<<10)
	rand.NewChaCha8([32]byte{1}).Read(noise)
	bigTarball := buildPackage(t, map[string]string{"noise.bin": string(noise)})
	big := func(*contractState) []byte { return bigTarball }
	oidcGood, err := p.Sign(p.Claims(oidc.DefaultAudience))
	if err != nil {
		t.Fatal(err)
	}
	unruled := p.Claims(oidc.DefaultAudience)
	unruled["repository_id"] = "43"
	oidcNoRule, err := p.Sign(unruled)
	if err != nil {
		t.Fatal(err)
	}
	field := func(body any, name string) any { m, _ := body.(map[string]any); return m[name] }
	str := func(body any, name string) string { v, _ := field(body, name).(string); return v }
	num := func(body any, name string) int64 {
		n, _ := field(body, name).(json.Number)
		v, _ := n.Int64()
		return v
	}
	expect := func(t *testing.T, what string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	wait := func(t *testing.T, id string, until func(api.RunStatus) bool) {
		t.Helper()
		e.waitRun(t, id, 30*time.Second, until)
	}
	items := func(body any) []any { l, _ := field(body, "items").([]any); return l }
	noSuchRun := ws("/runs/", uuid.NewString())

	cases := []contractCase{
		// ping, on both services and under /api
		{name: "ping api", op: "ping", path: fixed("/v1/ping"), noToken: true, want: 200,
			check: func(t *testing.T, _ *contractState, b any) { expect(t, "service", str(b, "service"), "api") }},
		{name: "ping api under /api", op: "ping", path: fixed("/api/v1/ping"), noToken: true, want: 200},
		{name: "ping auth", op: "ping", path: fixed("/auth/v1/ping"), noToken: true, want: 200,
			check: func(t *testing.T, _ *contractState, b any) { expect(t, "service", str(b, "service"), "auth") }},

		// me, organization, workspace
		{name: "me", op: "me", path: fixed("/v1/me"), want: 200, check: func(t *testing.T, s *contractState, b any) {
			s.user = str(b, "user_id")
			s.org = str(field(b, "default_organization"), "id")
			expect(t, "default_workspace.id", str(field(b, "default_workspace"), "id"), e.ws)
		}},
		{name: "me without token", op: "me", path: fixed("/v1/me"), noToken: true, want: 401},
		{name: "me under /api", op: "me", path: fixed("/api/v1/me"), want: 200},
		{name: "organization", op: "get_organization", path: func(s *contractState) string { return "/v1/organizations/" + s.org }, want: 200},
		{name: "organization unknown", op: "get_organization", path: fixed("/v1/organizations/" + uuid.NewString()), want: 404},
		{name: "organization without token", op: "get_organization", path: fixed("/v1/organizations/" + uuid.NewString()), noToken: true, want: 401},
		{name: "workspace", op: "get_workspace", path: ws(), want: 200},
		{name: "workspace unknown", op: "get_workspace", path: fixed("/v1/workspaces/" + uuid.NewString()), want: 404},

		// an empty workspace: lists are empty, latest is 404
		{name: "deployments empty", op: "list_deployments", path: ws("/deployments"), want: 200, check: func(t *testing.T, _ *contractState, b any) {
			expect(t, "items", len(items(b)), 0)
			expect(t, "total limit offset", []int64{num(b, "total"), num(b, "limit"), num(b, "offset")}, []int64{0, 100, 0})
		}},
		{name: "latest deployment of none", op: "get_latest_deployment", path: ws("/deployments/latest"), want: 404},
		{name: "latest configuration of none", op: "get_latest_configuration", path: ws("/configurations/latest"), want: 404},
		{name: "latest run of none", op: "get_latest_run", path: ws("/runs/latest"), want: 404},
		{name: "configurations empty", op: "list_configurations", path: ws("/configurations"), want: 200},
		{name: "scripts empty", op: "list_scripts", path: ws("/scripts"), want: 200},
		{name: "runs empty", op: "list_runs", path: ws("/runs"), want: 200},

		// scripts
		{name: "create script", op: "create_or_update_script", path: ws("/scripts"), want: 201,
			body: jsonBody(map[string]any{"name": "jobs/load.py", "entry_point": "jobs/load.py", "description": "load", "script_type": "batch",
				"schedule": "0 0 1 1 *"}),
			check: func(t *testing.T, s *contractState, b any) {
				s.scriptID = str(b, "id")
				expect(t, "version", num(b, "version"), 1)
				expect(t, "created_by", str(b, "created_by"), s.user)
				expect(t, "active", field(b, "active"), true)
				expect(t, "profile", field(b, "profile"), nil)
				expect(t, "script_url of a batch script", str(b, "script_url"), "")
				if field(b, "next_scheduled_run") == nil {
					t.Error("next_scheduled_run is null for a scheduled script")
				}
			}},
		{name: "create script again, identical", op: "create_or_update_script", path: ws("/scripts"), want: 201,
			body: jsonBody(map[string]any{"name": "jobs/load.py", "entry_point": "jobs/load.py", "description": "load", "script_type": "batch",
				"schedule": "0 0 1 1 *", "extra_field": "ignored"}),
			check: func(t *testing.T, s *contractState, b any) {
				expect(t, "id", str(b, "id"), s.scriptID)
				expect(t, "version", num(b, "version"), 1)
			}},
		{name: "update script", op: "create_or_update_script", path: fixed("/api" + e.wsPath("/scripts")), want: 201,
			body: jsonBody(map[string]any{"name": "jobs/load.py", "entry_point": "jobs/load.py", "description": "load rows", "script_type": "batch",
				"schedule": "0 0 1 1 *", "profile": "prod"}),
			check: func(t *testing.T, s *contractState, b any) {
				expect(t, "id", str(b, "id"), s.scriptID)
				expect(t, "version", num(b, "version"), 2)
				expect(t, "profile", field(b, "profile"), "prod")
			}},
		{name: "create script, invalid schedule", op: "create_or_update_script", path: ws("/scripts"), want: 400,
			body: jsonBody(map[string]any{"name": "x.py", "entry_point": "x.py", "description": "", "script_type": "batch", "schedule": "every day"})},
		{name: "create script, invalid script_type", op: "create_or_update_script", path: ws("/scripts"), want: 400,
			body: jsonBody(map[string]any{"name": "x.py", "entry_point": "x.py", "description": "", "script_type": "cron"})},
		{name: "create script, description missing", op: "create_or_update_script", path: ws("/scripts"), want: 400,
			body: jsonBody(map[string]any{"name": "x.py", "entry_point": "x.py", "script_type": "batch"})},
		{name: "create sleep script", op: "create_or_update_script", path: ws("/scripts"), want: 201,
			body: jsonBody(map[string]any{"name": "sleep.py", "entry_point": "sleep.py", "description": "", "script_type": "batch", "active": true,
				"profile": nil, "schedule": nil}),
			check: func(t *testing.T, s *contractState, b any) {
				s.sleepID = str(b, "id")
				expect(t, "next_scheduled_run", field(b, "next_scheduled_run"), nil)
			}},
		{name: "create interactive script", op: "create_or_update_script", path: ws("/scripts"), want: 201,
			body: jsonBody(map[string]any{"name": "apps/app.py", "entry_point": "apps/app.py", "description": "", "script_type": "interactive"}),
			check: func(t *testing.T, _ *contractState, b any) {
				if u := str(b, "script_url"); !strings.HasPrefix(u, e.url+"/") {
					t.Errorf("script_url of an interactive script = %q, want its app's address", u)
				}
			}},
		{name: "run before any deployment", op: "create_run", path: ws("/runs"), want: 400,
			body: jsonBody(map[string]any{"script_id_or_name": "jobs/load.py"})},

		// deployments and configurations
		{name: "upload deployment", op: "create_deployment", path: ws("/deployments"), body: upload(depV1), want: 201,
			check: func(t *testing.T, s *contractState, b any) {
				s.depV1 = str(b, "id")
				expect(t, "version", num(b, "version"), 1)
				expect(t, "size", num(b, "size"), len(s.depTarball))
				expect(t, "file_count", num(b, "file_count"), 3)
				expect(t, "file_names", str(b, "file_names"), "a.py, jobs/load.py, sleep.py")
				expect(t, "created_by", str(b, "created_by"), s.user)
				expect(t, "workspace_id", str(b, "workspace_id"), e.ws)
			}},
		{name: "upload the same deployment", op: "create_deployment", path: ws("/deployments"), body: upload(depV1), want: 201,
			check: func(t *testing.T, s *contractState, b any) {
				expect(t, "id", str(b, "id"), s.depV1)
				expect(t, "version", num(b, "version"), 1)
			}},
		{name: "run before any configuration", op: "create_run", path: ws("/runs"), want: 400,
			body: jsonBody(map[string]any{"script_id_or_name": "jobs/load.py"})},
		{name: "upload configuration", op: "create_configuration", path: ws("/configurations"), body: upload(conf), want: 201,
			check: func(t *testing.T, s *contractState, b any) {
				s.confV1 = str(b, "id")
				expect(t, "version", num(b, "version"), 1)
				expect(t, "size", num(b, "size"), len(s.confTarball))
				expect(t, "file_names", str(b, "file_names"), "access.secrets.toml, config.toml, extra/dev.config.toml, prod.secrets.toml, secrets.toml")
				expect(t, "profiles", str(b, "profiles"), "access, dev, prod")
			}},
		{name: "upload deployment v2 under /api", op: "create_deployment", path: fixed("/api" + e.wsPath("/deployments")), body: upload(depV2), want: 201,
			check: func(t *testing.T, s *contractState, b any) {
				s.depV2 = str(b, "id")
				expect(t, "version", num(b, "version"), 2)
			}},
		{name: "versions count per workspace", op: "create_deployment", path: func(s *contractState) string { return "/v1/workspaces/" + s.other + "/deployments" },
			body: upload(depV2), want: 201,
			check: func(t *testing.T, s *contractState, b any) {
				expect(t, "version in another workspace", num(b, "version"), 1)
			}},
		{name: "upload not multipart", op: "create_deployment", path: ws("/deployments"), want: 400,
			body: func(*contractState) (io.Reader, string) { return strings.NewReader("{}"), "application/json" }},
		{name: "upload not a package", op: "create_deployment", path: ws("/deployments"), want: 400,
			body: upload(func(*contractState) []byte { return []byte("not a tarball") })},
		{name: "upload too large", op: "create_deployment", path: ws("/deployments"), body: upload(big), want: 413},
		{name: "upload too large under /api", op: "create_deployment", path: fixed("/api" + e.wsPath("/deployments")), body: upload(big), want: 413},
		{name: "upload deployment to an unknown workspace", op: "create_deployment", path: fixed("/v1/workspaces/" + uuid.NewString() + "/deployments"),
			body: upload(depV1), want: 404},
		{name: "upload deployment without token", op: "create_deployment", path: ws("/deployments"), body: upload(depV1), noToken: true, want: 401},
		{name: "configuration too large", op: "create_configuration", path: ws("/configurations"), body: upload(big), want: 413},
		{name: "configuration not a package", op: "create_configuration", path: ws("/configurations"), want: 400,
			body: upload(func(*contractState) []byte { return []byte("not a tarball") })},

		{name: "latest deployment", op: "get_latest_deployment", path: ws("/deployments/latest"), want: 200,
			check: func(t *testing.T, s *contractState, b any) { expect(t, "id", str(b, "id"), s.depV2) }},
		{name: "deployment by version", op: "get_deployment", path: ws("/deployments/1"), want: 200,
			check: func(t *testing.T, s *contractState, b any) { expect(t, "id", str(b, "id"), s.depV1) }},
		{name: "deployment by id", op: "get_deployment", path: func(s *contractState) string { return e.wsPath("/deployments/", s.depV2) }, want: 200,
			check: func(t *testing.T, s *contractState, b any) { expect(t, "version", num(b, "version"), 2) }},
		{name: "deployment unknown", op: "get_deployment", path: ws("/deployments/9"), want: 404},
		{name: "deployments", op: "list_deployments", path: ws("/deployments"), want: 200, check: func(t *testing.T, s *contractState, b any) {
			l := items(b)
			if len(l) != 2 || str(l[0], "id") != s.depV2 || str(l[1], "id") != s.depV1 || num(b, "total") != 2 {
				t.Errorf("want v2 then v1, total 2: %v", b)
			}
		}},
		{name: "deployments page 2", op: "list_deployments", path: ws("/deployments?limit=1&offset=1"), want: 200, check: func(t *testing.T, s *contractState, b any) {
			l := items(b)
			if len(l) != 1 || str(l[0], "id") != s.depV1 || num(b, "limit") != 1 || num(b, "offset") != 1 || num(b, "total") != 2 {
				t.Errorf("want v1 alone, limit 1, offset 1, total 2: %v", b)
			}
		}},
		{name: "deployments of an unknown workspace without token", op: "list_deployments", path: ws("/deployments"), noToken: true, want: 401},
		{name: "latest configuration", op: "get_latest_configuration", path: ws("/configurations/latest"), want: 200},
		{name: "configuration by version", op: "get_configuration", path: ws("/configurations/1"), want: 200},
		{name: "configuration by id", op: "get_configuration", path: func(s *contractState) string { return e.wsPath("/configurations/", s.confV1) }, want: 200},
		{name: "configuration unknown", op: "get_configuration", path: ws("/configurations/" + uuid.NewString()), want: 404},
		{name: "configurations", op: "list_configurations", path: ws("/configurations?limit=1000"), want: 200},

		// scripts by id and by name, encoded or not
		{name: "script by name, unencoded", op: "get_script", path: ws("/scripts/jobs/load.py"), want: 200,
			check: func(t *testing.T, s *contractState, b any) {
				expect(t, "id", str(b, "id"), s.scriptID)
				if last, ok := b.(map[string]any)["last_run"]; !ok || last != nil {
					t.Errorf("last_run before any run = %v (present: %v), want null", last, ok)
				}
			}},
		{name: "script by name, encoded", op: "get_script", path: ws("/scripts/jobs%2Fload.py"), want: 200},
		{name: "script by name under /api", op: "get_script", path: fixed("/api" + e.wsPath("/scripts/jobs/load.py")), want: 200},
		{name: "script by name, encoded, under /api", op: "get_script", path: fixed("/api" + e.wsPath("/scripts/jobs%2Fload.py")), want: 200},
		{name: "script by id", op: "get_script", path: func(s *contractState) string { return e.wsPath("/scripts/", s.scriptID) }, want: 200},
		{name: "script unknown", op: "get_script", path: ws("/scripts/jobs/nothing.py"), want: 404},
		{name: "scripts", op: "list_scripts", path: ws("/scripts"), want: 200,
			check: func(t *testing.T, _ *contractState, b any) { expect(t, "total", num(b, "total"), 3) }},
		{name: "script versions, unencoded", op: "list_script_versions", path: ws("/scripts/jobs/load.py/versions"), want: 200,
			check: func(t *testing.T, s *contractState, b any) {
				l := items(b)
				if len(l) != 2 || num(l[0], "version") != 2 || str(l[0], "script_id") != s.scriptID {
					t.Errorf("want versions 2 and 1 of the script: %v", b)
				}
			}},
		{name: "script versions, encoded", op: "list_script_versions", path: ws("/scripts/jobs%2Fload.py/versions?limit=1"), want: 200},
		{name: "latest script version, unencoded", op: "get_latest_script_version", path: ws("/scripts/jobs/load.py/versions/latest"), want: 200,
			check: func(t *testing.T, _ *contractState, b any) { expect(t, "version", num(b, "version"), 2) }},
		{name: "latest script version, encoded", op: "get_latest_script_version", path: ws("/scripts/jobs%2Fload.py/versions/latest"), want: 200},
		{name: "latest script version under /api", op: "get_latest_script_version", path: fixed("/api" + e.wsPath("/scripts/jobs/load.py/versions/latest")), want: 200},
		{name: "script version by number", op: "get_script_version", path: ws("/scripts/jobs/load.py/versions/1"), want: 200,
			check: func(t *testing.T, _ *contractState, b any) {
				expect(t, "version", num(b, "version"), 1)
				expect(t, "description", str(b, "description"), "load")
			}},
		{name: "latest script version by script id", op: "get_latest_script_version", path: func(s *contractState) string {
			return e.wsPath("/scripts/", s.sleepID, "/versions/latest")
		}, want: 200, check: func(t *testing.T, s *contractState, b any) { s.sleepVersion = str(b, "id") }},
		{name: "script version by id", op: "get_script_version", path: func(s *contractState) string {
			return e.wsPath("/scripts/", s.sleepID, "/versions/", s.sleepVersion)
		}, want: 200, check: func(t *testing.T, s *contractState, b any) { expect(t, "script_id", str(b, "script_id"), s.sleepID) }},

		// a run to its end
		{name: "run", op: "create_run", path: ws("/runs"), want: 201, body: jsonBody(map[string]any{"script_id_or_name": "jobs/load.py"}),
			check: func(t *testing.T, s *contractState, b any) {
				s.runDone = str(b, "id")
				expect(t, "status", str(b, "status"), "pending")
				expect(t, "number", num(b, "number"), 1)
				expect(t, "trigger", str(b, "trigger"), "manual")
				expect(t, "triggered_by", str(b, "triggered_by"), s.user)
				expect(t, "profile (the script's)", str(b, "profile"), "prod")
				expect(t, "deployment_id", str(b, "deployment_id"), s.depV2)
				expect(t, "configuration_id", str(b, "configuration_id"), s.confV1)
				expect(t, "duration", field(b, "duration"), nil)
				wait(t, s.runDone, terminal)
			}},
		{name: "run of an unknown script", op: "create_run", path: ws("/runs"), want: 404, body: jsonBody(map[string]any{"script_id_or_name": "nothing.py"})},
		{name: "run, invalid profile", op: "create_run", path: ws("/runs"), want: 400,
			body: jsonBody(map[string]any{"script_id_or_name": "jobs/load.py", "profile": "../x"})},
		{name: "finished run", op: "get_run", path: func(s *contractState) string { return e.wsPath("/runs/", s.runDone) }, want: 200,
			check: func(t *testing.T, s *contractState, b any) {
				expect(t, "status", str(b, "status"), "completed")
				expect(t, "script.name", str(field(b, "script"), "name"), "jobs/load.py")
				if kind := jsonKind(field(b, "duration")); kind != "integer" {
					t.Errorf("duration of a finished run is a JSON %s, want integer", kind)
				}
				if field(b, "time_started") == nil || field(b, "time_ended") == nil {
					t.Errorf("a finished run has no time_started or time_ended: %v", b)
				}
			}},
		{name: "run unknown", op: "get_run", path: noSuchRun, want: 404},
		{name: "run logs", op: "get_run_logs", path: func(s *contractState) string { return e.wsPath("/runs/", s.runDone, "/logs") }, want: 200,
			check: func(t *testing.T, s *contractState, b any) {
				if !strings.Contains(str(b, "logs"), "loaded 3 rows\n") {
					t.Errorf("logs = %q", str(b, "logs"))
				}
				expect(t, "run.id", str(field(b, "run"), "id"), s.runDone)
			}},
		{name: "run logs unknown", op: "get_run_logs", path: func(*contractState) string { return noSuchRun(nil) + "/logs" }, want: 404},
		{name: "run log stream", op: "stream_run_logs", path: func(s *contractState) string { return e.wsPath("/runs/", s.runDone, "/logs/stream?offset=0") }, want: 200},
		{name: "run log stream unknown", op: "stream_run_logs", path: func(*contractState) string { return noSuchRun(nil) + "/logs/stream" }, want: 404},
		{name: "latest run", op: "get_latest_run", path: ws("/runs/latest"), want: 200,
			check: func(t *testing.T, s *contractState, b any) { expect(t, "id", str(b, "id"), s.runDone) }},
		{name: "latest run of a script without runs", op: "get_latest_run", path: func(s *contractState) string { return e.wsPath("/runs/latest?script_id=", s.sleepID) },
			want: 404},
		{name: "script with its last run", op: "get_script", path: ws("/scripts/jobs/load.py"), want: 200,
			check: func(t *testing.T, s *contractState, b any) {
				expect(t, "last_run.id", str(field(b, "last_run"), "id"), s.runDone)
			}},
		{name: "runs of a script", op: "list_runs", path: func(s *contractState) string { return e.wsPath("/runs?status=completed&script_id=", s.scriptID) },
			want: 200, check: func(t *testing.T, _ *contractState, b any) { expect(t, "total", num(b, "total"), 1) }},

		// cancel: a running run, a pending one (one run at a time), a finished one
		{name: "start a long run", op: "create_run", path: ws("/runs"), want: 201, body: jsonBody(map[string]any{"script_id_or_name": "sleep.py", "profile": "dev"}),
			check: func(t *testing.T, s *contractState, b any) {
				s.runRunning = str(b, "id")
				expect(t, "number", num(b, "number"), 1)
				expect(t, "profile", str(b, "profile"), "dev")
				run := e.waitRun(t, s.runRunning, 30*time.Second, func(st api.RunStatus) bool { return st == api.StatusRunning || st.Terminal() })
				expect(t, "status", run.Status, api.StatusRunning)
			}},
		{name: "start a run that waits", op: "create_run", path: fixed("/api" + e.wsPath("/runs")), want: 201,
			body: func(s *contractState) (io.Reader, string) {
				return jsonBody(map[string]any{"script_id_or_name": s.sleepID})(s)
			},
			check: func(t *testing.T, s *contractState, b any) {
				s.runPending = str(b, "id")
				expect(t, "number", num(b, "number"), 2)
			}},
		{name: "cancel a pending run", op: "cancel_run", path: func(s *contractState) string { return e.wsPath("/runs/", s.runPending, "/cancel") }, want: 201,
			check: func(t *testing.T, _ *contractState, b any) { expect(t, "status", str(b, "status"), "cancelled") }},
		{name: "cancel a running run", op: "cancel_run", path: func(s *contractState) string { return e.wsPath("/runs/", s.runRunning, "/cancel") }, want: 201,
			check: func(t *testing.T, s *contractState, b any) {
				if st := str(b, "status"); st != "cancelling" && st != "cancelled" {
					t.Errorf("status %q, want cancelling", st)
				}
				expect(t, "script.name", str(field(b, "script"), "name"), "sleep.py")
				run := e.waitRun(t, s.runRunning, 30*time.Second, terminal)
				expect(t, "status once the process is gone", run.Status, api.StatusCancelled)
			}},
		{name: "cancel a cancelled run", op: "cancel_run", path: func(s *contractState) string { return e.wsPath("/runs/", s.runRunning, "/cancel") }, want: 400,
			check: func(t *testing.T, _ *contractState, b any) {
				if !strings.Contains(str(b, "detail"), "terminal state") {
					t.Errorf("detail %q does not say \"terminal state\"", str(b, "detail"))
				}
			}},
		{name: "cancel a completed run", op: "cancel_run", path: func(s *contractState) string { return e.wsPath("/runs/", s.runDone, "/cancel") }, want: 400},
		{name: "cancel unknown", op: "cancel_run", path: func(*contractState) string { return noSuchRun(nil) + "/cancel" }, want: 404},
		{name: "runs", op: "list_runs", path: ws("/runs"), want: 200, check: func(t *testing.T, s *contractState, b any) {
			var ids []string
			for _, it := range items(b) {
				ids = append(ids, str(it, "id"))
			}
			expect(t, "ids, newest first", ids, []string{s.runPending, s.runRunning, s.runDone})
		}},
		{name: "scripts with last runs", op: "list_scripts", path: ws("/scripts?offset=1"), want: 200},

		// the auth service
		{name: "token exchange", op: "github_oauth_exchange", path: fixed("/auth/v1/github/token-exchange"), noToken: true, want: 201,
			body:  jsonBody(map[string]any{"access_token": "ghp_alice"}),
			check: func(t *testing.T, _ *contractState, b any) { expect(t, "email", str(b, "email"), "alice@example.com") }},
		{name: "token exchange, token refused by GitHub", op: "github_oauth_exchange", path: fixed("/auth/v1/github/token-exchange"), noToken: true, want: 400,
			body: jsonBody(map[string]any{"access_token": "ghp_wrong"})},
		{name: "token exchange, user not allowed", op: "github_oauth_exchange", path: fixed("/auth/v1/github/token-exchange"), noToken: true, want: 400,
			body: jsonBody(map[string]any{"access_token": "ghp_eve"})},
		{name: "token exchange, no token", op: "github_oauth_exchange", path: fixed("/auth/v1/github/token-exchange"), noToken: true, want: 400,
			body: jsonBody(map[string]any{})},
		{name: "oidc exchange", op: "github_oidc_exchange", path: fixed("/auth/v1/github/oidc-exchange"), noToken: true, want: 201,
			body: jsonBody(map[string]any{"token": oidcGood})},
		{name: "oidc exchange, empty token", op: "github_oidc_exchange", path: fixed("/auth/v1/github/oidc-exchange"), noToken: true, want: 400,
			body: jsonBody(map[string]any{"token": ""})},
		{name: "oidc exchange, not a token", op: "github_oidc_exchange", path: fixed("/auth/v1/github/oidc-exchange"), noToken: true, want: 401,
			body: jsonBody(map[string]any{"token": "a.b.c"})},
		{name: "oidc exchange, no trust rule", op: "github_oidc_exchange", path: fixed("/auth/v1/github/oidc-exchange"), noToken: true, want: 403,
			body: jsonBody(map[string]any{"token": oidcNoRule})},
		// This server has no device flow: 400, which the contract lists.
		{name: "device flow start", op: "github_oauth_start", path: fixed("/auth/v1/github/device-flow/code"), noToken: true, want: 400},
		{name: "device flow poll", op: "github_oauth_complete", path: fixed("/auth/v1/github/device-flow/token"), noToken: true, want: 400,
			body: jsonBody(map[string]any{"device_code": "x"})},

		// requests outside the contract: still an ErrorResponse
		{name: "unknown path", path: fixed("/v1/nothing"), method: "GET", want: 404},
		{name: "unknown path under /api", path: fixed("/api/v1/nothing"), method: "GET", want: 404},
		{name: "unknown path of the auth service", path: fixed("/auth/v1/nothing"), method: "GET", want: 404},
		{name: "method not allowed", path: ws("/runs"), method: "DELETE", want: 405},
		{name: "method not allowed under /api", path: fixed("/api/v1/me"), method: "PUT", want: 405},
		{name: "method not allowed on the auth service", path: fixed("/auth/v1/github/token-exchange"), method: "GET", want: 405},
		{name: "limit 0", op: "list_runs", invalid: true, path: ws("/runs?limit=0"), want: 400},
		{name: "limit over 1000", op: "list_deployments", invalid: true, path: ws("/deployments?limit=1001"), want: 400},
		{name: "negative offset", op: "list_scripts", invalid: true, path: ws("/scripts?offset=-1"), want: 400},
		{name: "limit not a number", op: "list_configurations", invalid: true, path: ws("/configurations?limit=ten"), want: 400},
		{name: "invalid status filter", op: "list_runs", invalid: true, path: ws("/runs?status=done"), want: 400},
		{name: "script versions, limit 0", op: "list_script_versions", invalid: true, path: ws("/scripts/sleep.py/versions?limit=0"), want: 400},
		{name: "JSON body not an object", op: "create_run", invalid: true, path: ws("/runs"), want: 400,
			body: func(*contractState) (io.Reader, string) { return strings.NewReader("[]"), "application/json" }},
	}

	exercised := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			op, known := c.ops[tc.op]
			method := tc.method
			if tc.op != "" {
				if !known {
					t.Fatalf("the contract has no operation %q", tc.op)
				}
				method = cmpOr(method, op.method)
			}
			path := tc.path(s)
			opPath, _, _ := strings.Cut(path, "?")
			for _, prefix := range []string{"/api/", "/auth/"} {
				if strings.HasPrefix(opPath, prefix) {
					opPath = opPath[len(prefix)-1:]
				}
			}
			if tc.op != "" && !op.pathRE.MatchString(opPath) {
				t.Fatalf("%s is not a path of %s (%s)", opPath, tc.op, op.path)
			}
			var body io.Reader
			var ct string
			if tc.body != nil {
				body, ct = tc.body(s)
			}
			token := e.token
			if tc.noToken {
				token = ""
			}
			status, mediaType, raw := contractRequest(t, e, method, path, token, body, ct)
			if status != tc.want {
				t.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, status, tc.want, raw)
			}
			var schema any
			wantType := "application/json"
			switch {
			case tc.op == "" || tc.invalid:
				schema = c.doc["components"].(map[string]any)["schemas"].(map[string]any)["ErrorResponse"]
			default:
				var listed bool
				schema, wantType, listed = c.responseSchema(t, op, status)
				if !listed {
					t.Fatalf("%s %s: HTTP %d, which the contract does not list for %s (it lists %v): %s",
						method, path, status, tc.op, sortedKeys(op.responses), raw)
				}
			}
			if mediaType != wantType {
				t.Fatalf("Content-Type %q, want %q", mediaType, wantType)
			}
			if wantType != "application/json" {
				if status < 300 {
					exercised[tc.op] = true
				}
				return
			}
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			var v any
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("answer is not JSON: %v: %s", err, raw)
			}
			for _, msg := range c.validate(t, schema, v, "body") {
				t.Errorf("%s %s: HTTP %d: %s", method, path, status, msg)
			}
			if status >= 400 {
				if got := field(v, "status_code"); fmt.Sprint(got) != strconv.Itoa(status) {
					t.Errorf("status_code %v in a HTTP %d answer", got, status)
				}
			}
			if tc.check != nil {
				tc.check(t, s, v)
			}
			if status < 300 && !t.Failed() {
				exercised[tc.op] = true
			}
		})
	}

	// Every operation was answered with success, but those this server
	// answers only with an error (it has no device flow).
	noSuccess := map[string]bool{"github_oauth_start": true, "github_oauth_complete": true}
	for id := range c.ops {
		if !exercised[id] && !noSuccess[id] {
			t.Errorf("operation %s was not exercised with a successful answer", id)
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// contractRequest sends one request and reads the answer whole (a log
// stream of a finished run ends by itself).
func contractRequest(t *testing.T, e *testEnv, method, path, token string, body io.Reader, contentType string) (int, string, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, e.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := e.hs.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read answer: %v", method, path, err)
	}
	mt, _, _ := strings.Cut(res.Header.Get("Content-Type"), ";")
	return res.StatusCode, strings.TrimSpace(mt), raw
}

// TestContractValidator shows that the schema check of TestContract fails
// where it must: each case breaks one rule of a contract schema.
func TestContractValidator(t *testing.T) {
	t.Parallel()
	c := loadContract(t)
	schemas := c.doc["components"].(map[string]any)["schemas"].(map[string]any)
	id, ts := uuid.NewString(), "2026-01-02T03:04:05.000000Z"
	run := func(mod func(m map[string]any)) map[string]any {
		m := map[string]any{"id": id, "configuration_id": id, "deployment_id": id, "script_version_id": id, "workspace_id": id,
			"number": json.Number("1"), "status": "running", "trigger": "manual", "date_added": ts, "date_updated": ts,
			"duration": nil, "time_started": nil}
		if mod != nil {
			mod(m)
		}
		return m
	}
	for _, tc := range []struct {
		name, schema string
		value        any
		want         string // "" when the value conforms
	}{
		{"a run", "RunResponse", run(nil), ""},
		{"unknown properties are allowed", "RunResponse", run(func(m map[string]any) { m["cpu"] = "x" }), ""},
		{"required missing", "RunResponse", run(func(m map[string]any) { delete(m, "trigger") }), `required property "trigger" is missing`},
		{"required from allOf missing", "RunResponse", run(func(m map[string]any) { delete(m, "date_added") }), `"date_added" is missing`},
		{"wrong type", "RunResponse", run(func(m map[string]any) { m["duration"] = "5" }), "body.duration: a JSON string, want integer or null"},
		{"not an integer", "RunResponse", run(func(m map[string]any) { m["number"] = json.Number("1.5") }), "body.number: a JSON number, want integer"},
		{"null where not nullable", "RunResponse", run(func(m map[string]any) { m["workspace_id"] = nil }), "body.workspace_id: a JSON null, want string"},
		{"enum", "RunResponse", run(func(m map[string]any) { m["status"] = "done" }), "body.status: done is not one of"},
		{"uuid", "RunResponse", run(func(m map[string]any) { m["id"] = "run-1" }), `body.id: "run-1" is not a UUID`},
		{"date-time", "RunResponse", run(func(m map[string]any) { m["date_added"] = "yesterday" }), `"yesterday" is not an RFC 3339 date-time`},
		{"oneOf null", "DetailedScriptResponse", map[string]any{"last_run": nil}, `required property "id" is missing`},
		{"oneOf neither", "DetailedScriptResponse", map[string]any{"last_run": map[string]any{}}, "body.last_run: object matches 0 of the oneOf schemas"},
		{"array items", "ListRuns", map[string]any{"items": []any{run(func(m map[string]any) { delete(m, "status") })}}, `body.items[0]: required property "status" is missing`},
		{"array items of $ref with allOf", "ListRuns", map[string]any{"items": []any{run(nil)}}, `body.items[0]: required property "script" is missing`},
		{"error body", "ErrorResponse", map[string]any{"status_code": "400", "detail": "x"}, "body.status_code: a JSON string, want integer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := c.validate(t, schemas[tc.schema], tc.value, "body")
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Errorf("conforming value refused: %v", errs)
			case tc.want != "" && !strings.Contains(strings.Join(errs, "\n"), tc.want):
				t.Errorf("errors %q lack %q", errs, tc.want)
			}
		})
	}
}
