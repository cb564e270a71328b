package dispatching

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/dispatcher-dev/dispatcher/schemas"
)

// SchemaID is the $id of schemas/dispatching.schema.json, the URL editors
// use in a "# yaml-language-server: $schema=..." line.
const SchemaID = "https://raw.githubusercontent.com/dispatcher-dev/dispatcher/main/schemas/dispatching.schema.json"

type compiledSchema struct {
	schema *jsonschema.Schema
	doc    any // the schema document, to read allowed keys from
}

// loadSchema compiles the embedded schema once. The schema is immutable, so
// sharing it is safe.
var loadSchema = sync.OnceValues(func() (*compiledSchema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemas.Dispatching))
	if err != nil {
		return nil, fmt.Errorf("read dispatching.schema.json: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(SchemaID, doc); err != nil {
		return nil, fmt.Errorf("load dispatching.schema.json: %w", err)
	}
	s, err := c.Compile(SchemaID)
	if err != nil {
		return nil, fmt.Errorf("compile dispatching.schema.json: %w", err)
	}
	return &compiledSchema{schema: s, doc: doc}, nil
})

// checkSchema validates the tree against the JSON Schema and turns each
// leaf error into one positioned diagnostic.
func checkSchema(file string, root *ynode) []Diagnostic {
	cs, err := loadSchema()
	if err != nil {
		return []Diagnostic{{File: file, Line: 1, Column: 1, Severity: SeverityError, Rule: RuleSchema, Message: "internal error: " + err.Error()}}
	}
	err = cs.schema.Validate(root.toAny())
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []Diagnostic{{File: file, Line: 1, Column: 1, Severity: SeverityError, Rule: RuleSchema, Message: err.Error()}}
	}
	var out []Diagnostic
	var walk func(e *jsonschema.ValidationError, parentLoc []string)
	walk = func(e *jsonschema.ValidationError, parentLoc []string) {
		if pn, ok := e.ErrorKind.(*kind.PropertyNames); ok {
			// Report the bad key itself, once, whatever the cause. The
			// mapping is the parent's location: jsonschema v6.0.3 can
			// report a wrong InstanceLocation for propertyNames errors
			// (a reused slice), so it is not used.
			n, path := locate(root, parentLoc)
			if n != nil && n.get(pn.Property) == nil {
				// The parent may be the object that holds the mapping:
				// take the property the schema URL names.
				if name, ok := propertyBefore(e.SchemaURL, "/propertyNames"); ok {
					if m := n.get(name); m != nil && m.kind == kindMap {
						n, path = locate(root, append(slices.Clone(parentLoc), name))
					}
				}
			}
			if n != nil {
				p := n.anchorPos()
				if v := n.get(pn.Property); v != nil {
					p = v.keyPos
				}
				out = append(out, Diagnostic{File: file, Line: max(p.Line, 1), Column: max(p.Column, 1), Severity: SeverityError, Rule: RuleEmptyValue,
					Message: fmt.Sprintf("%s has an empty input name; input names must not be empty", path)})
			}
			return
		}
		if len(e.Causes) == 0 {
			out = append(out, cs.leaf(file, root, e)...)
			return
		}
		for _, c := range e.Causes {
			walk(c, e.InstanceLocation)
		}
	}
	walk(ve, nil)
	return out
}

// locate follows an instance location through the tree. It returns nil when
// a node on the way already had its problem reported.
func locate(root *ynode, loc []string) (n *ynode, path string) {
	n = root
	var b strings.Builder
	for _, tok := range loc {
		if n.reported {
			return nil, ""
		}
		var next *ynode
		switch n.kind {
		case kindMap:
			next = n.get(tok)
			if isIdent(tok) {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(tok)
			} else {
				fmt.Fprintf(&b, "[%s]", strconv.Quote(tok))
			}
		case kindSeq:
			i, err := strconv.Atoi(tok)
			if err == nil && i >= 0 && i < len(n.items) {
				next = n.items[i]
			}
			fmt.Fprintf(&b, "[%s]", tok)
		}
		if next == nil {
			break
		}
		n = next
	}
	if n.reported {
		return nil, ""
	}
	return n, b.String()
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

func isIdent(s string) bool { return identRE.MatchString(s) }

func (cs *compiledSchema) leaf(file string, root *ynode, e *jsonschema.ValidationError) []Diagnostic {
	n, path := locate(root, e.InstanceLocation)
	if n == nil {
		return nil
	}
	subject := path
	if subject == "" {
		subject = "the top level"
	}
	d := func(p Pos, rule, format string, args ...any) Diagnostic {
		return Diagnostic{File: file, Line: max(p.Line, 1), Column: max(p.Column, 1), Severity: SeverityError, Rule: rule, Message: fmt.Sprintf(format, args...)}
	}
	switch k := e.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		allowed := cs.allowedKeys(e.SchemaURL)
		var out []Diagnostic
		for _, prop := range k.Properties {
			p := n.anchorPos()
			if v := n.get(prop); v != nil {
				p = v.keyPos
			}
			where := "at " + subject
			if path == "" {
				where = "at the top level"
			}
			msg := fmt.Sprintf("unknown key %q %s; expected %s", prop, where, oneOf(allowed))
			if prop == "<<" {
				msg += " (YAML merge keys are not supported; repeat the keys or use an alias as a whole value)"
			} else if s, ok := suggestKey(prop, allowed); ok {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			out = append(out, d(p, RuleUnknownKey, "%s", msg))
		}
		return out
	case *kind.Required:
		if n.get("<<") != nil {
			// A merge key was meant to supply the keys; the unknown-key
			// error on "<<" already explains the problem.
			return nil
		}
		var out []Diagnostic
		for _, m := range k.Missing {
			if path == "" {
				out = append(out, d(n.anchorPos(), RuleRequiredKey, "the top level is missing the required key %q", m))
				continue
			}
			out = append(out, d(n.anchorPos(), RuleRequiredKey, "%s is missing the required key %q", subject, m))
		}
		return out
	case *kind.Type:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = typeName(w)
		}
		msg := fmt.Sprintf("%s must be %s, got %s", subject, strings.Join(want, " or "), n.describe())
		switch {
		case slices.Contains(k.Want, "string") && n.kind != kindMap && n.kind != kindSeq && n.kind != kindNull:
			msg += fmt.Sprintf("; quote it to keep it as text: \"%s\"", n.text)
		case slices.Contains(k.Want, "array") && n.kind == kindNull:
			msg += "; write [] for an empty list or remove the key"
		case path == "" && slices.Contains(k.Want, "object"):
			msg = fmt.Sprintf("the top level must be a mapping with outbound and/or inbound rules, got %s", n.describe())
		}
		return []Diagnostic{d(n.valuePos(), RuleType, "%s", msg)}
	case *kind.MinLength:
		return []Diagnostic{d(n.valuePos(), RuleEmptyValue, "%s must not be empty", subject)}
	case *kind.MinItems:
		return []Diagnostic{d(n.valuePos(), RuleEmptyValue, "%s must list at least %d %s", subject, k.Want, plural(k.Want, "entry", "entries"))}
	case *kind.Pattern, *kind.Not:
		if n.text == "" {
			return nil // reported once, by minLength
		}
		// The Go twins of the patterns say exactly what is wrong; both
		// the pattern and the "not" may fail, giving the same message
		// once (SortDiagnostics drops exact duplicates).
		switch {
		case strings.Contains(e.SchemaURL, "/$defs/repository"):
			why := RepositoryProblem(n.text)
			if why == "" {
				why = "expected NAME or OWNER/NAME as GitHub spells them"
			}
			return []Diagnostic{d(n.valuePos(), RuleRepositoryFormat, "%s %q is not a repository: %s", subject, n.text, why)}
		case strings.Contains(e.SchemaURL, "/$defs/workflow"):
			why := WorkflowProblem(n.text)
			if why == "" {
				why = fmt.Sprintf("%q is not a workflow file name", n.text)
			}
			return []Diagnostic{d(n.valuePos(), RuleWorkflowFormat, "%s is not a workflow: %s", subject, why)}
		}
		if p, ok := k.(*kind.Pattern); ok {
			return []Diagnostic{d(n.valuePos(), RuleSchema, "%s %q does not match %s", subject, n.text, p.Want)}
		}
		return []Diagnostic{d(n.valuePos(), RuleSchema, "%s %q is not allowed", subject, n.text)}
	case *kind.Const:
		if path == "version" {
			return []Diagnostic{d(n.valuePos(), RuleVersion, "unsupported version: got %s, expected the integer 1 (or no version key)", n.describe())}
		}
		return []Diagnostic{d(n.valuePos(), RuleSchema, "%s has the wrong value", subject)}
	default:
		return []Diagnostic{d(n.valuePos(), RuleSchema, "%s: %s", subject, e.Error())}
	}
}

// allowedKeys reads the property names of the schema object whose
// additionalProperties failed, so messages list exactly what the schema
// allows.
func (cs *compiledSchema) allowedKeys(schemaURL string) []string {
	_, frag, _ := strings.Cut(schemaURL, "#")
	frag = strings.TrimSuffix(frag, "/additionalProperties")
	cur := cs.doc
	for _, tok := range strings.Split(strings.TrimPrefix(frag, "/"), "/") {
		if tok == "" {
			continue
		}
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[tok]
	}
	m, ok := cur.(map[string]any)
	if !ok {
		return nil
	}
	props, _ := m["properties"].(map[string]any)
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// suggestKey returns the allowed key closest to an unknown one, when it is
// close enough to be a likely typo: a different case, or an edit distance
// (insertions, deletions, substitutions and swaps of neighbours) of at most
// 1 for keys of up to 4 characters and 2 for longer ones. Ties go to the
// first key in allowed (sorted), so the suggestion is stable.
func suggestKey(key string, allowed []string) (string, bool) {
	limit := 2
	if utf8.RuneCountInString(key) <= 4 {
		limit = 1
	}
	best, bestDist := "", limit+1
	n := utf8.RuneCountInString(key)
	for _, a := range allowed {
		if abs(n-utf8.RuneCountInString(a)) > limit {
			continue // the distance is at least the difference in length
		}
		dist := editDistance(strings.ToLower(key), strings.ToLower(a))
		if dist < bestDist {
			best, bestDist = a, dist
		}
	}
	return best, best != ""
}

// editDistance is the optimal string alignment distance between a and b,
// counted in characters.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// d[i][j] is the distance between ra[:i] and rb[:j].
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

func oneOf(keys []string) string {
	if len(keys) == 0 {
		return "no keys here"
	}
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = strconv.Quote(k)
	}
	if len(q) == 1 {
		return q[0]
	}
	return "one of " + strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

func typeName(t string) string {
	switch t {
	case "object":
		return "a mapping"
	case "array":
		return "a list"
	case "string":
		return "a string"
	case "integer":
		return "an integer"
	case "number":
		return "a number"
	case "boolean":
		return "a boolean"
	case "null":
		return "null"
	}
	return t
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// propertyBefore returns the property name in a schema URL that ends with
// "/properties/NAME" + suffix.
func propertyBefore(schemaURL, suffix string) (string, bool) {
	rest, ok := strings.CutSuffix(schemaURL, suffix)
	if !ok {
		return "", false
	}
	i := strings.LastIndex(rest, "/properties/")
	if i < 0 {
		return "", false
	}
	name := rest[i+len("/properties/"):]
	return strings.ReplaceAll(strings.ReplaceAll(name, "~1", "/"), "~0", "~"), true
}
