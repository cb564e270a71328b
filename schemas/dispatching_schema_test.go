package schemas

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

func TestDispatchingSchemaCompiles(t *testing.T) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Dispatching))
	if err != nil {
		t.Fatal(err)
	}
	m := doc.(map[string]any)
	if m["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v, want draft 2020-12", m["$schema"])
	}
	id, _ := m["$id"].(string)
	if !strings.HasSuffix(id, "/schemas/dispatching.schema.json") {
		t.Errorf("$id = %q", id)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(id, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(id)
	if err != nil {
		t.Fatal(err)
	}
	valid := map[string]any{"version": json.Number("1"), "outbound": []any{map[string]any{
		"source":  map[string]any{"workflow": "ci.yml"},
		"targets": []any{map[string]any{"repository": "acme/web", "workflow": "cd.yml", "inputs": map[string]any{"sha": "{{ source.sha }}"}}},
	}}}
	if err := s.Validate(valid); err != nil {
		t.Errorf("valid document rejected: %v", err)
	}
	invalid := map[string]any{"outbound": nil}
	if err := s.Validate(invalid); err == nil {
		t.Error("outbound: null accepted")
	}
}

// TestDispatchingSchemaDocumented checks that every property has a title
// and a description, so editors show help for every key.
func TestDispatchingSchemaDocumented(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(Dispatching, &doc); err != nil {
		t.Fatal(err)
	}
	count := 0
	var walk func(path string, node any)
	walk = func(path string, node any) {
		m, ok := node.(map[string]any)
		if !ok {
			return
		}
		if props, ok := m["properties"].(map[string]any); ok {
			for name, p := range props {
				pm, _ := p.(map[string]any)
				count++
				if s, _ := pm["title"].(string); s == "" {
					t.Errorf("%s/properties/%s has no title", path, name)
				}
				if s, _ := pm["description"].(string); s == "" {
					t.Errorf("%s/properties/%s has no description", path, name)
				}
			}
		}
		for k, v := range m {
			walk(path+"/"+k, v)
		}
	}
	walk("#", doc)
	if count < 13 {
		t.Errorf("found %d properties, want at least 13", count)
	}
}
