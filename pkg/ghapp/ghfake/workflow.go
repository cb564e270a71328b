package ghfake

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"github.com/goccy/go-yaml"
)

// dispatchTrigger is what a workflow file says about workflow_dispatch.
type dispatchTrigger struct {
	ok       bool            // the file parses and has the trigger
	inputs   map[string]bool // declared input -> required
	declared bool            // inputs were declared (a map, possibly empty)
}

// parseDispatchTrigger reads on.workflow_dispatch of a workflow file. A
// file that does not parse has no trigger, as on GitHub.
func parseDispatchTrigger(content string) dispatchTrigger {
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(content), &doc); err != nil {
		return dispatchTrigger{}
	}
	on, ok := doc["on"]
	if !ok {
		on, ok = doc["true"] // a YAML 1.1 reader's "on"
	}
	if !ok {
		return dispatchTrigger{}
	}
	switch v := on.(type) {
	case string:
		return dispatchTrigger{ok: v == "workflow_dispatch"}
	case []any:
		return dispatchTrigger{ok: slices.Contains(v, any("workflow_dispatch"))}
	case map[string]any:
		wd, ok := v["workflow_dispatch"]
		if !ok {
			return dispatchTrigger{}
		}
		t := dispatchTrigger{ok: true, inputs: map[string]bool{}}
		m, _ := wd.(map[string]any)
		ins, _ := m["inputs"].(map[string]any)
		for name, spec := range ins {
			t.declared = true
			req := false
			if sm, ok := spec.(map[string]any); ok {
				req, _ = sm["required"].(bool)
			}
			t.inputs[name] = req
		}
		return t
	}
	return dispatchTrigger{}
}

// checkDispatch answers what GitHub answers for a dispatch the workflow
// file cannot take, or nil.
func checkDispatch(content string, inputs map[string]string) *answer {
	t := parseDispatchTrigger(content)
	if !t.ok {
		a := message(422, "Workflow does not have 'workflow_dispatch' trigger")
		return &a
	}
	var unexpected []string
	for k := range inputs {
		if _, ok := t.inputs[k]; !ok {
			unexpected = append(unexpected, k)
		}
	}
	if len(unexpected) > 0 {
		sort.Strings(unexpected)
		list, _ := json.Marshal(unexpected)
		a := message(422, "Unexpected inputs provided: "+string(list))
		return &a
	}
	var names []string
	for k := range t.inputs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if _, given := inputs[k]; t.inputs[k] && !given {
			a := message(422, fmt.Sprintf("Required input '%s' not provided", k))
			return &a
		}
	}
	return nil
}
