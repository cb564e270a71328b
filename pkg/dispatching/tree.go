package dispatching

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// maxAliasNodes bounds the nodes that alias expansion may produce in one
// file. A real dispatching.yml reuses a few small anchors; a "billion
// laughs" file needs billions.
const maxAliasNodes = 10_000

// maxDepth bounds nesting. A valid file is at most six levels deep.
const maxDepth = 64

type nodeKind int

const (
	kindNull nodeKind = iota
	kindBool
	kindInt
	kindFloat
	kindString
	kindMap
	kindSeq
)

// ynode is one YAML node after YAML 1.2 core-schema typing, with its
// position. Mappings keep their keys in file order.
type ynode struct {
	kind     nodeKind
	pos      Pos    // where the value starts
	keyPos   Pos    // the key holding it, when it is a mapping value
	text     string // kindString: the string; other scalars: source text
	implicit bool   // an empty value (implicit null)
	keys     []string
	vals     []*ynode
	items    []*ynode
	// reported marks a node whose problem was already reported by the
	// YAML layer, so schema errors at or under it are not reported again.
	reported bool
}

// anchorPos is where a problem with the node as a whole is reported: the key
// that holds it when there is one, else the node itself.
func (n *ynode) anchorPos() Pos {
	if n.keyPos.Line > 0 {
		return n.keyPos
	}
	return n.pos
}

// valuePos is where a problem with the node's value is reported. An empty
// value has no text of its own, so its key is used.
func (n *ynode) valuePos() Pos {
	if n.implicit && n.keyPos.Line > 0 {
		return n.keyPos
	}
	return n.pos
}

func (n *ynode) get(key string) *ynode {
	for i, k := range n.keys {
		if k == key {
			return n.vals[i]
		}
	}
	return nil
}

// describe names the node's type and value for messages.
func (n *ynode) describe() string {
	switch n.kind {
	case kindNull:
		if n.implicit {
			return "an empty value (null)"
		}
		return fmt.Sprintf("null (%s)", n.text)
	case kindBool:
		return "the boolean " + n.text
	case kindInt:
		return "the integer " + n.text
	case kindFloat:
		return "the number " + n.text
	case kindString:
		return "the string " + strconv.Quote(n.text)
	case kindMap:
		return "a mapping"
	default:
		return "a list"
	}
}

// toAny turns the tree into the JSON data model the schema validator reads.
func (n *ynode) toAny() any {
	switch n.kind {
	case kindNull:
		return nil
	case kindBool:
		return n.text == "true" || n.text == "True" || n.text == "TRUE"
	case kindInt:
		if v, err := strconv.ParseInt(strings.TrimPrefix(n.text, "+"), 0, 64); err == nil {
			return v
		}
		return json.Number("1e300") // only its type matters
	case kindFloat:
		if v, err := strconv.ParseFloat(n.text, 64); err == nil && v == v && v < 1e308 && v > -1e308 {
			return v
		}
		return 0.5 // .inf and .nan: only the type matters
	case kindString:
		return n.text
	case kindMap:
		m := make(map[string]any, len(n.keys))
		for i, k := range n.keys {
			m[k] = n.vals[i].toAny()
		}
		return m
	default:
		a := make([]any, len(n.items))
		for i, it := range n.items {
			a[i] = it.toAny()
		}
		return a
	}
}

// YAML 1.2 core schema (YAML 1.2.2 section 10.3.2) resolution of plain
// scalars. goccy/go-yaml follows YAML 1.1 for some forms (1_000, 0b101 and
// 017 are integers there, 1e3 is a string), so plain scalars are resolved
// here from their text instead of by the node type goccy reports.
var (
	coreNull  = regexp.MustCompile(`^(?:null|Null|NULL|~|)$`)
	coreBool  = regexp.MustCompile(`^(?:true|True|TRUE|false|False|FALSE)$`)
	coreInt   = regexp.MustCompile(`^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$`)
	coreFloat = regexp.MustCompile(`^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$`)
)

func resolvePlain(text string) nodeKind {
	switch {
	case coreNull.MatchString(text):
		return kindNull
	case coreBool.MatchString(text):
		return kindBool
	case coreInt.MatchString(text):
		return kindInt
	case coreFloat.MatchString(text):
		return kindFloat
	default:
		return kindString
	}
}

// converter turns a goccy AST into ynodes, reporting the YAML-level problems
// a schema cannot see: duplicate keys, unsupported tags and keys, unknown
// aliases, runaway alias expansion.
type converter struct {
	file        string
	diags       []Diagnostic
	anchors     map[string]ast.Node
	inAlias     int
	aliasAt     Pos // the outermost alias being expanded
	aliasNodes  int
	aliasFailed bool
}

func (c *converter) errorf(p Pos, rule, format string, args ...any) {
	c.diags = append(c.diags, Diagnostic{
		File: c.file, Line: max(p.Line, 1), Column: max(p.Column, 1),
		Severity: SeverityError, Rule: rule, Message: fmt.Sprintf(format, args...),
	})
}

func tokenPos(tk *token.Token) Pos {
	if tk == nil || tk.Position == nil {
		return Pos{}
	}
	return Pos{Line: tk.Position.Line, Column: tk.Position.Column}
}

func nodePos(n ast.Node) Pos {
	if n == nil {
		return Pos{}
	}
	return tokenPos(n.GetToken())
}

func isQuoted(tk *token.Token) bool {
	return tk != nil && (tk.Type == token.SingleQuoteType || tk.Type == token.DoubleQuoteType)
}

// convert converts one node. at is the position to use when n is nil (an
// empty value).
func (c *converter) convert(n ast.Node, at Pos, depth int) *ynode {
	if c.aliasFailed {
		return &ynode{kind: kindNull, pos: at, reported: true}
	}
	if c.inAlias > 0 {
		c.aliasNodes++
		if c.aliasNodes > maxAliasNodes {
			c.aliasFailed = true
			c.errorf(c.aliasAt, RuleAliasLimit, "aliases expand to more than %d nodes; use fewer or smaller aliases", maxAliasNodes)
			return &ynode{kind: kindNull, pos: at, reported: true}
		}
	}
	if depth > maxDepth {
		c.errorf(nodePos(n), RuleUnsupportedYAML, "nesting is deeper than %d levels", maxDepth)
		return &ynode{kind: kindNull, pos: nodePos(n), reported: true}
	}
	if n == nil {
		return &ynode{kind: kindNull, pos: at, implicit: true}
	}
	pos := nodePos(n)
	switch v := n.(type) {
	case *ast.NullNode:
		tk := v.GetToken()
		if tk != nil && tk.Type == token.ImplicitNullType {
			return &ynode{kind: kindNull, pos: pos, implicit: true}
		}
		return c.scalar(tk, "", pos)
	case *ast.StringNode:
		return c.scalar(v.Token, v.Value, pos)
	case *ast.BoolNode, *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		tk := v.GetToken()
		return c.scalar(tk, tk.Value, pos)
	case *ast.LiteralNode:
		s := ""
		if v.Value != nil {
			s = v.Value.Value
		}
		return &ynode{kind: kindString, pos: pos, text: s}
	case *ast.MappingNode:
		out := &ynode{kind: kindMap, pos: pos}
		if tk := v.GetToken(); tk == nil || tk.Type != token.MappingStartType {
			if len(v.Values) > 0 {
				out.pos = c.keyPos(v.Values[0].Key)
			}
		}
		seen := map[string]Pos{}
		for _, mv := range v.Values {
			c.entry(out, mv, seen, depth)
		}
		return out
	case *ast.MappingValueNode:
		out := &ynode{kind: kindMap, pos: c.keyPos(v.Key)}
		c.entry(out, v, map[string]Pos{}, depth)
		return out
	case *ast.SequenceNode:
		out := &ynode{kind: kindSeq, pos: pos}
		for _, it := range v.Values {
			out.items = append(out.items, c.convert(it, pos, depth+1))
		}
		return out
	case *ast.AnchorNode:
		res := c.convert(v.Value, pos, depth+1)
		if c.inAlias == 0 && v.Name != nil {
			if c.anchors == nil {
				c.anchors = map[string]ast.Node{}
			}
			c.anchors[v.Name.GetToken().Value] = v.Value
		}
		return res
	case *ast.AliasNode:
		name := ""
		if v.Value != nil && v.Value.GetToken() != nil {
			name = v.Value.GetToken().Value
		}
		target, ok := c.anchors[name]
		if !ok {
			c.errorf(pos, RuleSyntax, "alias *%s refers to no anchor defined before it", name)
			return &ynode{kind: kindNull, pos: pos, reported: true}
		}
		if c.inAlias == 0 {
			c.aliasAt = pos
		}
		c.inAlias++
		res := c.convert(target, pos, depth+1)
		c.inAlias--
		res.pos = pos
		res.implicit = false
		return res
	case *ast.TagNode:
		return c.tagged(v, pos, depth)
	default:
		c.errorf(pos, RuleUnsupportedYAML, "unsupported YAML node (%s)", n.Type())
		return &ynode{kind: kindNull, pos: pos, reported: true}
	}
}

// scalar types a scalar: quoted scalars are strings, plain ones are
// resolved with the core schema from their text.
func (c *converter) scalar(tk *token.Token, value string, pos Pos) *ynode {
	if isQuoted(tk) {
		return &ynode{kind: kindString, pos: pos, text: value}
	}
	text := value
	if tk != nil && tk.Type != token.StringType {
		text = tk.Value
	}
	k := resolvePlain(text)
	return &ynode{kind: k, pos: pos, text: text}
}

func (c *converter) tagged(v *ast.TagNode, pos Pos, depth int) *ynode {
	tag := ""
	if v.Start != nil {
		tag = v.Start.Value
	}
	tag = strings.TrimPrefix(tag, "tag:yaml.org,2002:")
	tag = strings.TrimPrefix(tag, "!!")
	inner := c.convert(v.Value, pos, depth+1)
	inner.pos = pos
	isScalar := inner.kind != kindMap && inner.kind != kindSeq
	switch tag {
	case "str":
		if isScalar {
			if inner.kind != kindString {
				inner.kind = kindString
				if inner.implicit {
					inner.text = ""
				}
			}
			inner.implicit = false
			return inner
		}
	case "int", "float", "bool", "null":
		if isScalar {
			inner.kind = map[string]nodeKind{"int": kindInt, "float": kindFloat, "bool": kindBool, "null": kindNull}[tag]
			inner.implicit = false
			return inner
		}
	case "map":
		if inner.kind == kindMap {
			return inner
		}
	case "seq":
		if inner.kind == kindSeq {
			return inner
		}
	default:
		c.errorf(pos, RuleUnsupportedYAML, "unsupported tag %s; remove it (only !!str, !!int, !!float, !!bool, !!null, !!map and !!seq are understood)", v.Start.Value)
		inner.reported = true
		return inner
	}
	c.errorf(pos, RuleUnsupportedYAML, "tag %s does not fit %s", v.Start.Value, inner.describe())
	inner.reported = true
	return inner
}

func (c *converter) keyPos(k ast.MapKeyNode) Pos {
	if k == nil {
		return Pos{}
	}
	if mk, ok := k.(*ast.MappingKeyNode); ok && mk.Value != nil {
		return nodePos(mk.Value)
	}
	return nodePos(k)
}

// keyText returns the text of a mapping key. Scalar keys of any type are
// their text ("1: x" is the key "1"); a null key is "". ok is false when
// the key is not a scalar.
func (c *converter) keyText(k ast.Node) (text string, merge bool, ok bool) {
	switch v := k.(type) {
	case *ast.MergeKeyNode:
		return "<<", true, true
	case *ast.MappingKeyNode:
		return c.keyText(v.Value)
	case *ast.AnchorNode:
		return c.keyText(v.Value)
	case *ast.TagNode:
		return c.keyText(v.Value)
	case *ast.StringNode:
		if isQuoted(v.Token) {
			return v.Value, false, true
		}
		if resolvePlain(v.Value) == kindNull {
			return "", false, true
		}
		return v.Value, false, true
	case *ast.NullNode:
		return "", false, true
	case *ast.BoolNode, *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return v.GetToken().Value, false, true
	}
	return "", false, false
}

func (c *converter) entry(out *ynode, mv *ast.MappingValueNode, seen map[string]Pos, depth int) {
	kp := c.keyPos(mv.Key)
	key, _, ok := c.keyText(mv.Key)
	if !ok {
		c.errorf(kp, RuleUnsupportedYAML, "a mapping key must be plain text, not a list, mapping or alias")
		return
	}
	if first, dup := seen[key]; dup {
		c.errorf(kp, RuleDuplicateKey, "duplicate key %q: map keys must be unique (first defined at line %d, column %d)", key, first.Line, first.Column)
		return
	}
	seen[key] = kp
	// The position of an empty value is the end of its key.
	val := c.convert(mv.Value, kp, depth+1)
	val.keyPos = kp
	out.keys = append(out.keys, key)
	out.vals = append(out.vals, val)
}
