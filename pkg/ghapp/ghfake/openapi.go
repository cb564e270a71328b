package ghfake

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Operation is one REST operation of GitHub's OpenAPI description, reduced
// to what the fake checks: method, path template, known query parameters,
// the JSON Schema of the request body and the documented response codes.
type Operation struct {
	Method        string         `json:"method"`
	Path          string         `json:"path"`
	OperationID   string         `json:"operation_id"`
	Query         []string       `json:"query,omitempty"`
	RequestSchema map[string]any `json:"request_schema,omitempty"`
	Responses     []string       `json:"responses"`
	// ResponseSchemas are the shapes of the documented 2xx JSON answers
	// by status code (types and enums a few levels deep; see the
	// generator), which the fake's own answers must fit.
	ResponseSchemas map[string]map[string]any `json:"response_schemas,omitempty"`
	// InGHES317 says the operation also exists in GitHub Enterprise Server
	// 3.17's description.
	InGHES317 bool `json:"in_ghes_3_17"`

	schema    *jsonschema.Schema
	responses map[string]*jsonschema.Schema
}

type operationsFile struct {
	Source     string      `json:"source"`
	Generator  string      `json:"generator"`
	Operations []Operation `json:"operations"`
}

//go:embed testdata/openapi-operations.json
var operationsJSON []byte

// Operations returns the REST operations dispatcher uses, as extracted
// from @octokit/openapi into testdata/openapi-operations.json.
func Operations() ([]Operation, error) {
	var f operationsFile
	if err := json.Unmarshal(operationsJSON, &f); err != nil {
		return nil, fmt.Errorf("ghfake: decode openapi operations: %w", err)
	}
	c := jsonschema.NewCompiler()
	for i := range f.Operations {
		op := &f.Operations[i]
		for code, rs := range op.ResponseSchemas {
			id := fmt.Sprintf("mem:///%d-%s.json", i, code)
			if err := c.AddResource(id, rs); err != nil {
				return nil, fmt.Errorf("ghfake: %s response of %s %s: %w", code, op.Method, op.Path, err)
			}
			sch, err := c.Compile(id)
			if err != nil {
				return nil, fmt.Errorf("ghfake: compile %s response of %s %s: %w", code, op.Method, op.Path, err)
			}
			if op.responses == nil {
				op.responses = map[string]*jsonschema.Schema{}
			}
			op.responses[code] = sch
		}
		if op.RequestSchema == nil {
			continue
		}
		// Be stricter than the description: GitHub Enterprise Server
		// rejects unknown body keys, so an unknown key is a client bug.
		s := map[string]any{}
		for k, v := range op.RequestSchema {
			s[k] = v
		}
		if _, ok := s["additionalProperties"]; !ok {
			s["additionalProperties"] = false
		}
		id := fmt.Sprintf("mem:///%d.json", i)
		if err := c.AddResource(id, s); err != nil {
			return nil, fmt.Errorf("ghfake: schema of %s %s: %w", op.Method, op.Path, err)
		}
		sch, err := c.Compile(id)
		if err != nil {
			return nil, fmt.Errorf("ghfake: compile schema of %s %s: %w", op.Method, op.Path, err)
		}
		op.schema = sch
	}
	return f.Operations, nil
}

// Checker validates requests against a set of operations.
type Checker struct{ ops []Operation }

// NewChecker returns a Checker over Operations().
func NewChecker() (*Checker, error) {
	ops, err := Operations()
	if err != nil {
		return nil, err
	}
	return &Checker{ops: ops}, nil
}

// Match returns the operation that method and path (without any API prefix)
// belong to.
func (c *Checker) Match(method, path string) (*Operation, bool) {
	for i := range c.ops {
		op := &c.ops[i]
		if op.Method == method && matchTemplate(op.Path, path) {
			return op, true
		}
	}
	return nil, false
}

// Check returns an error when the request is not one of the operations, uses
// an undocumented query parameter, or has a JSON body that does not fit the
// operation's request schema.
func (c *Checker) Check(method, path string, query url.Values, body []byte) error {
	op, ok := c.Match(method, path)
	if !ok {
		return fmt.Errorf("%s %s is not an operation dispatcher may use (see testdata/openapi-operations.json)", method, path)
	}
	for k := range query {
		if !slices.Contains(op.Query, k) {
			return fmt.Errorf("%s %s: query parameter %q is not documented", method, op.Path, k)
		}
	}
	if op.schema == nil {
		if len(bytes.TrimSpace(body)) > 0 {
			return fmt.Errorf("%s %s takes no request body", method, op.Path)
		}
		return nil
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if req, _ := op.RequestSchema["required"].([]any); len(req) > 0 {
			return fmt.Errorf("%s %s: a JSON body with %v is required", method, op.Path, req)
		}
		return nil
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s %s: body is not JSON: %w", method, op.Path, err)
	}
	if err := op.schema.Validate(v); err != nil {
		return fmt.Errorf("%s %s: body does not fit the request schema: %w", method, op.Path, err)
	}
	return nil
}

// CheckResponse returns an error when a 2xx answer of the fake to method
// and path is not documented, or its JSON body does not fit the shape of
// the documented answer. Error answers are not checked: GitHub's
// description leaves out many it really sends (a dispatch's 404 and 422).
func (c *Checker) CheckResponse(method, path string, status int, body []byte) error {
	if status < 200 || status > 299 {
		return nil
	}
	op, ok := c.Match(method, path)
	if !ok {
		return nil // the request was already reported
	}
	code := strconv.Itoa(status)
	if !slices.Contains(op.Responses, code) {
		return fmt.Errorf("%s %s: answered %d, which is not a documented answer (%v)", method, op.Path, status, op.Responses)
	}
	sch := op.responses[code]
	if sch == nil || len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s %s: %d answer is not JSON: %w", method, op.Path, status, err)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("%s %s: %d answer does not fit the documented response: %w", method, op.Path, status, err)
	}
	return nil
}

// matchTemplate matches an OpenAPI path template; the last parameter named
// {path} may span several segments (the contents API).
func matchTemplate(tmpl, path string) bool {
	ts := strings.Split(strings.Trim(tmpl, "/"), "/")
	ps := strings.Split(strings.Trim(path, "/"), "/")
	for i, t := range ts {
		if i >= len(ps) {
			return false
		}
		if t == "{path}" && i == len(ts)-1 {
			return true
		}
		if strings.HasPrefix(t, "{") {
			if ps[i] == "" {
				return false
			}
			continue
		}
		if t != ps[i] {
			return false
		}
	}
	return len(ts) == len(ps)
}
