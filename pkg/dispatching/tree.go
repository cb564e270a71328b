package dispatching

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
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
		for i, it := range v.Values {
			item := c.convert(it, pos, depth+1)
			// An empty entry ("-" alone) has no text of its own: report
			// it at its "-".
			if item.implicit && i < len(v.Entries) && v.Entries[i] != nil {
				if p := tokenPos(v.Entries[i].Start); p.Line > 0 {
					item.pos = p
				}
			}
			out.items = append(out.items, item)
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

// keyText returns the text of a mapping key, as the original service saw it
// after its YAML library turned the mapping into a JavaScript object: a
// string key is its text; a key of another core-schema type is its value
// converted to a string the way JavaScript does ("1: x" and "01: x" are both
// the key "1", "0x1F" is "31", "1e3" is "1000", "True" is "true", a null key
// is ""). ok is false when the key is not a scalar; tag is set when the key
// carries a tag that is not understood.
func (c *converter) keyText(k ast.Node) (text string, ok bool, badTag string) {
	switch v := k.(type) {
	case *ast.MergeKeyNode:
		return "<<", true, ""
	case *ast.MappingKeyNode:
		return c.keyText(v.Value)
	case *ast.AnchorNode:
		return c.keyText(v.Value)
	case *ast.TagNode:
		tag := ""
		if v.Start != nil {
			tag = v.Start.Value
		}
		raw, isScalar := scalarKeyText(v.Value)
		if !isScalar {
			return "", false, ""
		}
		switch strings.TrimPrefix(strings.TrimPrefix(tag, "tag:yaml.org,2002:"), "!!") {
		case "str":
			return raw, true, ""
		case "int":
			return jsKeyString(raw, kindInt), true, ""
		case "float":
			return jsKeyString(raw, kindFloat), true, ""
		case "bool":
			return jsKeyString(raw, kindBool), true, ""
		case "null":
			return "", true, ""
		}
		return raw, true, tag
	case *ast.StringNode:
		if isQuoted(v.Token) {
			return v.Value, true, ""
		}
	case *ast.NullNode, *ast.BoolNode, *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
	default:
		return "", false, ""
	}
	raw, _ := scalarKeyText(k)
	return jsKeyString(raw, resolvePlain(raw)), true, ""
}

// scalarKeyText is the text of a scalar key as written (the value of a
// quoted scalar).
func scalarKeyText(k ast.Node) (string, bool) {
	switch v := k.(type) {
	case *ast.StringNode:
		if isQuoted(v.Token) {
			return v.Value, true
		}
		if v.Token != nil {
			return v.Token.Value, true
		}
		return v.Value, true
	case *ast.NullNode:
		if tk := v.GetToken(); tk != nil && tk.Type != token.ImplicitNullType {
			return tk.Value, true
		}
		return "", true
	case *ast.BoolNode, *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return v.GetToken().Value, true
	}
	return "", false
}

// jsKeyString converts the text of a plain scalar of the given core-schema
// kind to the string JavaScript makes of its value when it is used as an
// object key.
func jsKeyString(text string, k nodeKind) string {
	switch k {
	case kindNull:
		return ""
	case kindBool:
		return strings.ToLower(text)
	case kindInt:
		t := text
		neg := false
		if t != "" && (t[0] == '+' || t[0] == '-') {
			neg = t[0] == '-'
			t = t[1:]
		}
		base := 10
		switch {
		case strings.HasPrefix(t, "0x"):
			base, t = 16, t[2:]
		case strings.HasPrefix(t, "0o"):
			base, t = 8, t[2:]
		}
		n, ok := new(big.Int).SetString(t, base)
		if !ok {
			return text
		}
		f, _ := new(big.Float).SetInt(n).Float64()
		if neg {
			f = -f
		}
		return jsNumberString(f)
	case kindFloat:
		lower := strings.ToLower(text)
		switch {
		case strings.HasSuffix(lower, ".nan"):
			return "NaN"
		case strings.HasSuffix(lower, ".inf"):
			if strings.HasPrefix(text, "-") {
				return "-Infinity"
			}
			return "Infinity"
		}
		f, err := strconv.ParseFloat(text, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return text
		}
		return jsNumberString(f)
	}
	return text
}

// jsNumberString formats f as JavaScript's Number.prototype.toString does
// (ECMAScript Number::toString with radix 10): the shortest round-tripping
// digits, in plain notation for exponents from -7 to 20 and in exponential
// notation ("1e+21", "1.5e-7") outside that range.
func jsNumberString(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		return "0" // -0 too
	}
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	// d.ddddde±XX: the shortest digits and the decimal exponent.
	e := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	k, n := len(digits), x+1
	switch {
	case k <= n && n <= 21:
		return sign + digits + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		return sign + digits[:n] + "." + digits[n:]
	case -6 < n && n <= 0:
		return sign + "0." + strings.Repeat("0", -n) + digits
	}
	out := digits[:1]
	if k > 1 {
		out += "." + digits[1:]
	}
	es := "+"
	if n-1 < 0 {
		es = "-"
	}
	return sign + out + "e" + es + strconv.Itoa(abs(n-1))
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func (c *converter) entry(out *ynode, mv *ast.MappingValueNode, seen map[string]Pos, depth int) {
	kp := c.keyPos(mv.Key)
	key, ok, badTag := c.keyText(mv.Key)
	if !ok {
		c.errorf(kp, RuleUnsupportedYAML, "a mapping key must be plain text, not a list, mapping or alias")
		return
	}
	if badTag != "" {
		c.errorf(kp, RuleUnsupportedYAML, "unsupported tag %s on a key; remove it", badTag)
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
