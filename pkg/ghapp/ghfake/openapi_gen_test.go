package ghfake

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/dispatcher-dev/dispatcher/pkg/internal/npmfixture"
)

var update = flag.Bool("update", false, "regenerate testdata/openapi-operations.json from @octokit/openapi")

// usedOperations are the REST operations pkg/ghapp calls (method, path
// template). The committed testdata file holds exactly these.
var usedOperations = [][2]string{
	{"POST", "/app/installations/{installation_id}/access_tokens"},
	{"GET", "/app"},
	{"GET", "/repos/{owner}/{repo}/installation"},
	{"GET", "/repos/{owner}/{repo}"},
	{"GET", "/repos/{owner}/{repo}/contents/{path}"},
	{"GET", "/repos/{owner}/{repo}/actions/runs/{run_id}"},
	{"GET", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs"},
	{"POST", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches"},
	{"POST", "/repos/{owner}/{repo}/issues"},
}

// TestOpenAPIOperations regenerates the extract from the npm package (when
// it is installed) and fails when the committed file is stale; with
// -update it rewrites the file.
func TestOpenAPIOperations(t *testing.T) {
	src := npmfixture.Path(t, "@octokit/openapi/generated/api.github.com.deref.json")
	dotcom := loadSpec(t, src)
	ghes := loadSpec(t, npmfixture.Path(t, "@octokit/openapi/generated/ghes-3.17.deref.json"))
	var ops []Operation
	for _, mp := range usedOperations {
		op, ok := extract(dotcom, mp[0], mp[1])
		if !ok {
			t.Fatalf("%s %s is not in api.github.com", mp[0], mp[1])
		}
		_, op.InGHES317 = extract(ghes, mp[0], mp[1])
		ops = append(ops, op)
	}
	out, err := json.MarshalIndent(operationsFile{
		Source:     "@octokit/openapi generated/api.github.com.deref.json (GHES column: ghes-3.17.deref.json)",
		Generator:  "go test ./pkg/ghapp/ghfake -run TestOpenAPIOperations -update",
		Operations: ops,
	}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, '\n')
	const dst = "testdata/openapi-operations.json"
	if *update {
		if err := os.WriteFile(dst, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, out) {
		t.Fatalf("%s is stale; run: go test ./pkg/ghapp/ghfake -run TestOpenAPIOperations -update", dst)
	}
}

type spec struct {
	Paths map[string]map[string]json.RawMessage `json:"paths"`
}

func loadSpec(t *testing.T, file string) spec {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var s spec
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return s
}

func extract(s spec, method, path string) (Operation, bool) {
	m, ok := s.Paths[path]
	if !ok {
		return Operation{}, false
	}
	raw, ok := m[lower(method)]
	if !ok {
		return Operation{}, false
	}
	var op struct {
		OperationID string `json:"operationId"`
		Parameters  []struct {
			Name     string `json:"name"`
			In       string `json:"in"`
			Required bool   `json:"required"`
		} `json:"parameters"`
		RequestBody *struct {
			Content map[string]struct {
				Schema map[string]any `json:"schema"`
			} `json:"content"`
		} `json:"requestBody"`
		Responses map[string]json.RawMessage `json:"responses"`
	}
	if err := json.Unmarshal(raw, &op); err != nil {
		return Operation{}, false
	}
	out := Operation{Method: method, Path: path, OperationID: op.OperationID}
	for _, p := range op.Parameters {
		if p.In == "query" {
			out.Query = append(out.Query, p.Name)
		}
	}
	sort.Strings(out.Query)
	if op.RequestBody != nil {
		if c, ok := op.RequestBody.Content["application/json"]; ok {
			out.RequestSchema = toJSONSchema(c.Schema)
		}
	}
	for code, raw := range op.Responses {
		out.Responses = append(out.Responses, code)
		if !strings.HasPrefix(code, "2") {
			continue
		}
		var resp struct {
			Content map[string]struct {
				Schema map[string]any `json:"schema"`
			} `json:"content"`
		}
		if json.Unmarshal(raw, &resp) != nil {
			continue
		}
		if c, ok := resp.Content["application/json"]; ok && c.Schema != nil {
			if out.ResponseSchemas == nil {
				out.ResponseSchemas = map[string]map[string]any{}
			}
			out.ResponseSchemas[code] = shapeOf(toJSONSchema(c.Schema), 0)
		}
	}
	sort.Strings(out.Responses)
	return out, true
}

// shapeOf reduces a response schema to what the fake can be held to: the
// types (and enums) of properties down to shapeDepth levels of objects,
// and the required properties of the top level when there are at most
// three of them (a small answer the fake must give whole: run details, a
// token, a run list). Deeper levels accept anything; larger required
// lists (a repository, a run, an issue) are not required of the fake,
// which leaves out fields dispatcher does not read.
func shapeOf(v map[string]any, depth int) map[string]any {
	const shapeDepth = 3
	if v == nil || depth > shapeDepth {
		return map[string]any{}
	}
	out := map[string]any{}
	for k, val := range v {
		switch k {
		case "type", "enum", "format":
			if k != "format" {
				out[k] = val
			}
		case "required":
			if list, ok := val.([]any); ok && depth == 0 && len(list) <= 3 {
				out[k] = val
			}
		case "properties":
			props := map[string]any{}
			for name, p := range val.(map[string]any) {
				pm, _ := p.(map[string]any)
				props[name] = shapeOf(pm, depth+1)
			}
			out[k] = props
		case "items":
			if sub, ok := val.(map[string]any); ok {
				out[k] = shapeOf(sub, depth+1)
			}
		case "oneOf", "anyOf":
			var list []any
			for _, s := range val.([]any) {
				sm, _ := s.(map[string]any)
				list = append(list, shapeOf(sm, depth))
			}
			out[k] = list
		case "allOf":
			var list []any
			for _, s := range val.([]any) {
				sm, _ := s.(map[string]any)
				list = append(list, shapeOf(sm, depth))
			}
			out[k] = list
		}
	}
	return out
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// toJSONSchema turns an OpenAPI 3.0 schema object into JSON Schema: a
// "nullable" type also accepts null, and documentation-only keywords are
// dropped to keep the extract small.
func toJSONSchema(v any) map[string]any {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	out := map[string]any{}
	for k, val := range m {
		switch k {
		case "description", "example", "examples", "title", "nullable":
			continue
		case "properties":
			props := map[string]any{}
			for name, p := range val.(map[string]any) {
				props[name] = toJSONSchema(p)
			}
			out[k] = props
		case "items", "additionalProperties", "not":
			if sub, ok := val.(map[string]any); ok {
				out[k] = toJSONSchema(sub)
			} else {
				out[k] = val
			}
		case "oneOf", "anyOf", "allOf":
			var list []any
			for _, s := range val.([]any) {
				list = append(list, toJSONSchema(s))
			}
			out[k] = list
		default:
			out[k] = val
		}
	}
	if n, _ := m["nullable"].(bool); n {
		if t, ok := out["type"].(string); ok {
			out["type"] = []any{t, "null"}
		} else if _, hasType := out["type"]; !hasType {
			return map[string]any{"anyOf": []any{out, map[string]any{"type": "null"}}}
		}
	}
	return out
}
