package terraform_test

// A small static checker and evaluator for Terraform configurations, standing
// in for `terraform fmt -check`, `terraform validate` and a plan, none of
// which can run here (see doc.go). It knows only what this module uses.

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// tfModule is the parsed .tf files of one directory.
type tfModule struct {
	dir       string
	variables map[string]*hclsyntax.Block
	locals    map[string]*hclsyntax.Attribute
	resources map[string]*hclsyntax.Block // "type.name"
	data      map[string]*hclsyntax.Block // "type.name"
	modules   map[string]*hclsyntax.Block
	outputs   map[string]*hclsyntax.Block
	bodies    []*hclsyntax.Body // every file's body
}

// loadTF parses every .tf file of dir. Problems: syntax errors, files that
// `terraform fmt` would change, and duplicate variables, locals, outputs,
// module calls, resources and data sources.
func loadTF(dir string) (*tfModule, []string) {
	m := &tfModule{
		dir:       dir,
		variables: map[string]*hclsyntax.Block{},
		locals:    map[string]*hclsyntax.Attribute{},
		resources: map[string]*hclsyntax.Block{},
		data:      map[string]*hclsyntax.Block{},
		modules:   map[string]*hclsyntax.Block{},
		outputs:   map[string]*hclsyntax.Block{},
	}
	var problems []string
	paths, _ := filepath.Glob(filepath.Join(dir, "*.tf"))
	if len(paths) == 0 {
		return m, []string{dir + ": no .tf files"}
	}
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		rel := filepath.Base(p)
		f, diags := hclsyntax.ParseConfig(src, rel, hcl.InitialPos)
		if diags.HasErrors() {
			problems = append(problems, "syntax: "+diags.Error())
			continue
		}
		if !bytes.Equal(hclwrite.Format(src), src) {
			problems = append(problems, fmt.Sprintf("fmt: %s is not formatted (terraform fmt would change it)", rel))
		}
		body := f.Body.(*hclsyntax.Body)
		m.bodies = append(m.bodies, body)
		for _, b := range body.Blocks {
			add := func(set map[string]*hclsyntax.Block, kind, key string) {
				if prev, ok := set[key]; ok {
					problems = append(problems, fmt.Sprintf("duplicate %s %q at %s (first at %s)", kind, key, b.DefRange(), prev.DefRange()))
					return
				}
				set[key] = b
			}
			switch b.Type {
			case "variable":
				add(m.variables, "variable", b.Labels[0])
			case "output":
				add(m.outputs, "output", b.Labels[0])
			case "module":
				add(m.modules, "module", b.Labels[0])
			case "resource":
				add(m.resources, "resource", b.Labels[0]+"."+b.Labels[1])
			case "data":
				add(m.data, "data source", b.Labels[0]+"."+b.Labels[1])
			case "locals":
				for name, a := range b.Body.Attributes {
					if prev, ok := m.locals[name]; ok {
						problems = append(problems, fmt.Sprintf("duplicate local %q at %s (first at %s)", name, a.NameRange, prev.NameRange))
						continue
					}
					m.locals[name] = a
				}
			}
		}
	}
	return m, problems
}

// attrs lists every attribute of body and its nested blocks, with the names
// of the dynamic-block iterators in scope.
func walkAttrs(body *hclsyntax.Body, iterators []string, fn func(a *hclsyntax.Attribute, iterators []string)) {
	for _, a := range body.Attributes {
		fn(a, iterators)
	}
	for _, b := range body.Blocks {
		its := iterators
		if b.Type == "dynamic" && len(b.Labels) == 1 {
			it := b.Labels[0]
			if a, ok := b.Body.Attributes["iterator"]; ok {
				if tr, d := hcl.AbsTraversalForExpr(a.Expr); !d.HasErrors() {
					it = tr.RootName()
				}
			}
			its = append(slices.Clone(iterators), it)
		}
		walkAttrs(b.Body, its, fn)
	}
}

// checkReferences reports var., local., module., data. and resource
// references to things the module does not declare (terraform validate's
// "Reference to undeclared ..."), and unknown root names.
func (m *tfModule) checkReferences() []string {
	types := map[string]bool{}
	for addr := range m.resources {
		types[strings.SplitN(addr, ".", 2)[0]] = true
	}
	var problems []string
	report := func(tr hcl.Traversal, msg string) {
		problems = append(problems, fmt.Sprintf("%s: %s", tr.SourceRange(), msg))
	}
	step := func(tr hcl.Traversal, i int) string {
		if i < len(tr) {
			if a, ok := tr[i].(hcl.TraverseAttr); ok {
				return a.Name
			}
		}
		return ""
	}
	for _, body := range m.bodies {
		walkAttrs(body, nil, func(a *hclsyntax.Attribute, iterators []string) {
			if isTypeConstraint(body, a) {
				return // type = list(string) names types, not values
			}
			for _, tr := range a.Expr.Variables() {
				root := tr.RootName()
				switch {
				case root == "var":
					if _, ok := m.variables[step(tr, 1)]; !ok {
						report(tr, fmt.Sprintf("reference to undeclared input variable %q", step(tr, 1)))
					}
				case root == "local":
					if _, ok := m.locals[step(tr, 1)]; !ok {
						report(tr, fmt.Sprintf("reference to undeclared local value %q", step(tr, 1)))
					}
				case root == "module":
					if _, ok := m.modules[step(tr, 1)]; !ok {
						report(tr, fmt.Sprintf("reference to undeclared module %q", step(tr, 1)))
					}
				case root == "data":
					if _, ok := m.data[step(tr, 1)+"."+step(tr, 2)]; !ok {
						report(tr, fmt.Sprintf("reference to undeclared data source %q", step(tr, 1)+"."+step(tr, 2)))
					}
				case types[root]:
					if _, ok := m.resources[root+"."+step(tr, 1)]; !ok {
						report(tr, fmt.Sprintf("reference to undeclared resource %q", root+"."+step(tr, 1)))
					}
				case root == "each" || root == "count" || root == "path" || root == "terraform" || root == "self":
				case slices.Contains(iterators, root):
				default:
					report(tr, fmt.Sprintf("reference to unknown name %q", root))
				}
			}
		})
	}
	sort.Strings(problems)
	return problems
}

// checkUnused reports variables, locals and data sources nothing refers to
// (tflint's terraform_unused_declarations). A root module's variables are
// its inputs and count as used when the module passes them on.
func (m *tfModule) checkUnused() []string {
	used := map[string]bool{}
	for _, body := range m.bodies {
		walkAttrs(body, nil, func(a *hclsyntax.Attribute, _ []string) {
			for _, tr := range a.Expr.Variables() {
				var parts []string
				for _, s := range tr {
					switch x := s.(type) {
					case hcl.TraverseRoot:
						parts = append(parts, x.Name)
					case hcl.TraverseAttr:
						parts = append(parts, x.Name)
					}
					if len(parts) == 3 {
						break
					}
				}
				for i := 1; i <= len(parts); i++ {
					used[strings.Join(parts[:i], ".")] = true
				}
			}
		})
	}
	var problems []string
	for n, b := range m.variables {
		if !used["var."+n] {
			problems = append(problems, fmt.Sprintf("%s: variable %q is declared but not used", b.DefRange(), n))
		}
	}
	for n, a := range m.locals {
		if !used["local."+n] {
			problems = append(problems, fmt.Sprintf("%s: local %q is declared but not used", a.NameRange, n))
		}
	}
	for addr, b := range m.data {
		if !used["data."+addr] {
			problems = append(problems, fmt.Sprintf("%s: data source %q is declared but not used", b.DefRange(), addr))
		}
	}
	sort.Strings(problems)
	return problems
}

// isTypeConstraint reports whether a is the type argument of a variable
// block of body.
func isTypeConstraint(body *hclsyntax.Body, a *hclsyntax.Attribute) bool {
	for _, b := range body.Blocks {
		if b.Type == "variable" && b.Body.Attributes["type"] == a {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------- evaluation

// symbolic values stand for resource attributes known only after apply:
// «aws_sqs_queue.dlq["requests"].arn».
var symRE = regexp.MustCompile(`«((?:data\.)?[a-z0-9_]+\.[a-z0-9_]+)(?:\["([^"]*)"\])?\.([a-z0-9_]+)»`)

// symbol is a parsed symbolic reference: the instance and the attribute.
type symbol struct {
	addr string // type.name or data.type.name
	key  string // for_each key, "" without for_each
	attr string
	rest string // text after the symbol (e.g. ":*" or "/index/by-delivery")
}

func parseSymbol(s string) (symbol, bool) {
	loc := symRE.FindStringSubmatchIndex(s)
	if loc == nil || loc[0] != 0 {
		return symbol{}, false
	}
	sub := symRE.FindStringSubmatch(s)
	return symbol{addr: sub[1], key: sub[2], attr: sub[3], rest: s[loc[1]:]}, true
}

// evaluator evaluates a module's expressions for one set of input values.
type evaluator struct {
	m        *tfModule
	vars     map[string]cty.Value
	locals   map[string]cty.Value
	keys     map[string][]string // for_each keys by "type.name" / "data.type.name"; nil slice = no for_each
	symAttrs []string
	funcs    map[string]function.Function
	problems []string

	base  map[string]cty.Value             // ctx variables, once resolved
	cache map[string]map[string]*evaluated // instances by address
}

// newEvaluator resolves the variables (inputs over defaults), the locals and
// the for_each keys of every resource.
func newEvaluator(m *tfModule, inputs map[string]cty.Value) *evaluator {
	e := &evaluator{m: m, vars: map[string]cty.Value{}, locals: map[string]cty.Value{}, keys: map[string][]string{}}
	e.funcs = functions(m.dir)
	for name, b := range m.variables {
		ty := cty.DynamicPseudoType
		if a, ok := b.Body.Attributes["type"]; ok {
			t, d := typeexpr.TypeConstraint(a.Expr)
			if d.HasErrors() {
				e.fail("variable %s: type: %s", name, d.Error())
			} else {
				ty = t
			}
		}
		v, given := inputs[name]
		if !given {
			a, ok := b.Body.Attributes["default"]
			if !ok {
				e.fail("variable %s is required and the scenario gives no value", name)
				continue
			}
			var d hcl.Diagnostics
			if v, d = a.Expr.Value(nil); d.HasErrors() {
				e.fail("variable %s: default: %s", name, d.Error())
				continue
			}
		}
		cv, err := convert.Convert(v, ty)
		if err != nil {
			e.fail("variable %s: value %s does not fit type %s: %v", name, v.GoString(), ty.FriendlyName(), err)
			continue
		}
		e.vars[name] = cv
	}
	for name := range inputs {
		if _, ok := m.variables[name]; !ok {
			e.fail("the scenario sets undeclared variable %q", name)
		}
	}
	// Every attribute name used in a traversal becomes an attribute of the
	// symbolic resource objects.
	seen := map[string]bool{}
	for _, body := range m.bodies {
		walkAttrs(body, nil, func(a *hclsyntax.Attribute, _ []string) {
			hclsyntax.VisitAll(a.Expr, func(n hclsyntax.Node) hcl.Diagnostics {
				var trs []hcl.Traversal
				switch x := n.(type) {
				case *hclsyntax.ScopeTraversalExpr:
					trs = append(trs, x.Traversal)
				case *hclsyntax.RelativeTraversalExpr:
					trs = append(trs, x.Traversal)
				}
				for _, tr := range trs {
					for _, s := range tr {
						if at, ok := s.(hcl.TraverseAttr); ok {
							seen[at.Name] = true
						}
					}
				}
				return nil
			})
		})
	}
	for n := range seen {
		e.symAttrs = append(e.symAttrs, n)
	}
	sort.Strings(e.symAttrs)

	// Locals and for_each keys depend on each other (a local may name a
	// resource instance; a for_each may use a local): resolve to a fixpoint.
	pendingLocals := map[string]bool{}
	for n := range m.locals {
		pendingLocals[n] = true
	}
	pendingKeys := map[string]*hclsyntax.Block{}
	for addr, b := range m.resources {
		pendingKeys[addr] = b
	}
	for addr, b := range m.data {
		pendingKeys["data."+addr] = b
	}
	lastErr := map[string]string{}
	for progress := true; progress; {
		progress = false
		ctx := e.ctx(nil) // what this pass resolves is visible in the next
		for n := range pendingLocals {
			v, d := m.locals[n].Expr.Value(ctx)
			if d.HasErrors() {
				lastErr["local."+n] = d.Error()
				continue
			}
			e.locals[n] = v
			delete(pendingLocals, n)
			progress = true
		}
		for addr, b := range pendingKeys {
			if _, ok := b.Body.Attributes["count"]; ok {
				e.fail("%s: count is not supported by this checker; use for_each", addr)
				delete(pendingKeys, addr)
				continue
			}
			a, ok := b.Body.Attributes["for_each"]
			if !ok {
				e.keys[addr] = nil
				delete(pendingKeys, addr)
				progress = true
				continue
			}
			v, d := a.Expr.Value(ctx)
			if d.HasErrors() {
				lastErr[addr] = d.Error()
				continue
			}
			ks, err := forEachKeys(v)
			if err != nil {
				e.fail("%s: for_each: %v", addr, err)
				delete(pendingKeys, addr)
				continue
			}
			e.keys[addr] = ks
			delete(pendingKeys, addr)
			progress = true
		}
	}
	for n := range pendingLocals {
		e.fail("local.%s cannot be evaluated: %s", n, lastErr["local."+n])
	}
	for addr := range pendingKeys {
		e.fail("%s: for_each cannot be evaluated: %s", addr, lastErr[addr])
	}
	e.base = e.ctx(nil).Variables
	e.cache = map[string]map[string]*evaluated{}
	return e
}

func (e *evaluator) fail(format string, args ...any) {
	e.problems = append(e.problems, fmt.Sprintf(format, args...))
}

// forEachKeys returns the keys of a for_each value (a map, an object or a set
// of strings).
func forEachKeys(v cty.Value) ([]string, error) {
	if !v.IsWhollyKnown() || v.IsNull() {
		return nil, fmt.Errorf("unknown or null")
	}
	ks := []string{} // not nil: nil means "no for_each"
	switch {
	case v.Type().IsMapType() || v.Type().IsObjectType():
		for it := v.ElementIterator(); it.Next(); {
			k, _ := it.Element()
			ks = append(ks, k.AsString())
		}
	case v.Type().IsSetType() && v.Type().ElementType() == cty.String:
		for it := v.ElementIterator(); it.Next(); {
			_, el := it.Element()
			ks = append(ks, el.AsString())
		}
	default:
		return nil, fmt.Errorf("must be a map or a set of strings, not %s", v.Type().FriendlyName())
	}
	sort.Strings(ks)
	return ks, nil
}

// symObject is the symbolic object of one resource instance.
func (e *evaluator) symObject(addr, key string, keyed bool) cty.Value {
	ref := addr
	if keyed {
		ref += fmt.Sprintf("[%q]", key)
	}
	attrs := make(map[string]cty.Value, len(e.symAttrs))
	for _, n := range e.symAttrs {
		attrs[n] = cty.StringVal("«" + ref + "." + n + "»")
	}
	return cty.ObjectVal(attrs)
}

func (e *evaluator) instancesVal(addr string) (cty.Value, bool) {
	ks, ok := e.keys[addr]
	if !ok {
		return cty.NilVal, false
	}
	if ks == nil {
		return e.symObject(addr, "", false), true
	}
	objs := map[string]cty.Value{}
	for _, k := range ks {
		objs[k] = e.symObject(addr, k, true)
	}
	return cty.ObjectVal(objs), true
}

// ctx is the evaluation context: var, local, path, the resources, data
// sources and module calls resolved so far, plus extra (each, iterators).
func (e *evaluator) ctx(extra map[string]cty.Value) *hcl.EvalContext {
	if e.base != nil {
		vars := make(map[string]cty.Value, len(e.base)+len(extra))
		for k, v := range e.base {
			vars[k] = v
		}
		for k, v := range extra {
			vars[k] = v
		}
		return &hcl.EvalContext{Variables: vars, Functions: e.funcs}
	}
	vars := map[string]cty.Value{
		"var":   cty.ObjectVal(e.vars),
		"local": cty.ObjectVal(e.locals),
		"path": cty.ObjectVal(map[string]cty.Value{
			"module": cty.StringVal(e.m.dir), "root": cty.StringVal(e.m.dir), "cwd": cty.StringVal(e.m.dir),
		}),
	}
	byType := map[string]map[string]cty.Value{}
	data := map[string]map[string]cty.Value{}
	for addr := range e.keys {
		v, _ := e.instancesVal(addr)
		parts := strings.Split(addr, ".")
		if parts[0] == "data" {
			if data[parts[1]] == nil {
				data[parts[1]] = map[string]cty.Value{}
			}
			data[parts[1]][parts[2]] = v
			continue
		}
		if byType[parts[0]] == nil {
			byType[parts[0]] = map[string]cty.Value{}
		}
		byType[parts[0]][parts[1]] = v
	}
	for t, names := range byType {
		vars[t] = cty.ObjectVal(names)
	}
	dv := map[string]cty.Value{}
	for t, names := range data {
		dv[t] = cty.ObjectVal(names)
	}
	vars["data"] = cty.ObjectVal(dv)
	mods := map[string]cty.Value{}
	for n := range e.m.modules {
		mods[n] = e.symObject("module."+n, "", false)
	}
	vars["module"] = cty.ObjectVal(mods)
	for k, v := range extra {
		vars[k] = v
	}
	return &hcl.EvalContext{Variables: vars, Functions: e.funcs}
}

// evaluated is one evaluated body: its attributes and nested blocks
// (dynamic blocks expanded).
type evaluated struct {
	addr   string
	attrs  map[string]cty.Value
	blocks map[string][]*evaluated
}

func (ev *evaluated) str(name string) string {
	v, ok := ev.attrs[name]
	if !ok || v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
		return ""
	}
	return v.AsString()
}

func (ev *evaluated) num(name string) (float64, bool) {
	v, ok := ev.attrs[name]
	if !ok || v.IsNull() || !v.IsKnown() {
		return 0, false
	}
	n, err := convert.Convert(v, cty.Number)
	if err != nil {
		return 0, false
	}
	f, _ := n.AsBigFloat().Float64()
	return f, true
}

func (ev *evaluated) boolean(name string) bool {
	v, ok := ev.attrs[name]
	return ok && v.Type() == cty.Bool && v.IsKnown() && !v.IsNull() && v.True()
}

func (ev *evaluated) strings(name string) []string {
	v, ok := ev.attrs[name]
	if !ok || v.IsNull() || !v.IsKnown() || !v.CanIterateElements() {
		return nil
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, el := it.Element()
		if el.Type() == cty.String && !el.IsNull() {
			out = append(out, el.AsString())
		}
	}
	return out
}

func (ev *evaluated) block(name string) *evaluated {
	if bs := ev.blocks[name]; len(bs) > 0 {
		return bs[0]
	}
	return &evaluated{attrs: map[string]cty.Value{}, blocks: map[string][]*evaluated{}}
}

var metaArgs = map[string]bool{"for_each": true, "count": true, "depends_on": true, "provider": true, "providers": true, "source": true, "version": true}

func (e *evaluator) evalBody(addr string, body *hclsyntax.Body, extra map[string]cty.Value) *evaluated {
	out := &evaluated{addr: addr, attrs: map[string]cty.Value{}, blocks: map[string][]*evaluated{}}
	ctx := e.ctx(extra)
	for n, a := range body.Attributes {
		if metaArgs[n] {
			continue
		}
		v, d := a.Expr.Value(ctx)
		if d.HasErrors() {
			e.fail("%s: %s", addr, d.Error())
			continue
		}
		out.attrs[n] = v
	}
	for _, b := range body.Blocks {
		if b.Type != "dynamic" {
			out.blocks[b.Type] = append(out.blocks[b.Type], e.evalBody(addr+"."+b.Type, b.Body, extra))
			continue
		}
		label := b.Labels[0]
		it := label
		if a, ok := b.Body.Attributes["iterator"]; ok {
			tr, _ := hcl.AbsTraversalForExpr(a.Expr)
			it = tr.RootName()
		}
		fe, d := b.Body.Attributes["for_each"].Expr.Value(ctx)
		if d.HasErrors() || !fe.IsWhollyKnown() || fe.IsNull() {
			e.fail("%s: dynamic %q: for_each: %s", addr, label, d.Error())
			continue
		}
		var content *hclsyntax.Block
		for _, c := range b.Body.Blocks {
			if c.Type == "content" {
				content = c
			}
		}
		for iter := fe.ElementIterator(); iter.Next(); {
			k, v := iter.Element()
			x := map[string]cty.Value{}
			for kk, vv := range extra {
				x[kk] = vv
			}
			x[it] = cty.ObjectVal(map[string]cty.Value{"key": k, "value": v})
			out.blocks[label] = append(out.blocks[label], e.evalBody(addr+"."+label, content.Body, x))
		}
	}
	return out
}

// instances evaluates every instance of a resource ("type.name") or data
// source ("data.type.name"), keyed by its for_each key ("" without one).
func (e *evaluator) instances(addr string) map[string]*evaluated {
	var b *hclsyntax.Block
	if strings.HasPrefix(addr, "data.") {
		b = e.m.data[strings.TrimPrefix(addr, "data.")]
	} else {
		b = e.m.resources[addr]
	}
	ks, ok := e.keys[addr]
	if b == nil || !ok {
		return nil
	}
	if c, ok := e.cache[addr]; ok {
		return c
	}
	out := map[string]*evaluated{}
	defer func() { e.cache[addr] = out }()
	if ks == nil {
		out[""] = e.evalBody(addr, b.Body, nil)
		return out
	}
	fe, _ := b.Body.Attributes["for_each"].Expr.Value(e.ctx(nil))
	for _, k := range ks {
		var v cty.Value
		switch {
		case fe.Type().IsSetType():
			v = cty.StringVal(k)
		case fe.Type().IsObjectType():
			v = fe.GetAttr(k)
		default:
			v = fe.Index(cty.StringVal(k))
		}
		each := cty.ObjectVal(map[string]cty.Value{"key": cty.StringVal(k), "value": v})
		out[k] = e.evalBody(fmt.Sprintf("%s[%q]", addr, k), b.Body, map[string]cty.Value{"each": each})
	}
	return out
}

// resourcesOfType evaluates every instance of every resource of one type.
func (e *evaluator) resourcesOfType(typ string) map[string]*evaluated {
	out := map[string]*evaluated{}
	for addr := range e.m.resources {
		if strings.HasPrefix(addr, typ+".") {
			for k, ev := range e.instances(addr) {
				out[symAddr(addr, k, e.keys[addr] != nil)] = ev
			}
		}
	}
	return out
}

func symAddr(addr, key string, keyed bool) string {
	if keyed {
		return fmt.Sprintf("%s[%q]", addr, key)
	}
	return addr
}

// resolve returns the instance a symbolic value points at.
func (e *evaluator) resolve(s symbol) *evaluated {
	insts := e.instances(s.addr)
	return insts[s.key]
}

// outputValue evaluates an output.
func (e *evaluator) output(name string) (cty.Value, bool) {
	b, ok := e.m.outputs[name]
	if !ok {
		return cty.NilVal, false
	}
	v, d := b.Body.Attributes["value"].Expr.Value(e.ctx(nil))
	if d.HasErrors() {
		e.fail("output %s: %s", name, d.Error())
		return cty.NilVal, false
	}
	return v, true
}

// validate evaluates every variable's validation conditions.
func (e *evaluator) validate() {
	names := make([]string, 0, len(e.m.variables))
	for n := range e.m.variables {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, b := range e.m.variables[n].Body.Blocks {
			if b.Type != "validation" {
				continue
			}
			v, d := b.Body.Attributes["condition"].Expr.Value(e.ctx(nil))
			switch {
			case d.HasErrors():
				e.fail("variable %s: validation: %s", n, d.Error())
			case v.IsNull() || !v.IsKnown() || v.Type() != cty.Bool:
				e.fail("variable %s: validation condition is not a known bool", n)
			case v.False():
				e.fail("variable %s: validation fails for %s", n, e.vars[n].GoString())
			}
		}
	}
}

// preconditions evaluates the lifecycle preconditions of every resource
// instance.
func (e *evaluator) preconditions() {
	for addr := range e.m.resources {
		for _, ev := range e.instances(addr) {
			for _, pc := range ev.block("lifecycle").blocks["precondition"] {
				if c, ok := pc.attrs["condition"]; ok && c.Type() == cty.Bool && c.IsKnown() && !c.IsNull() && c.False() {
					e.fail("%s: precondition fails: %s", ev.addr, pc.str("error_message"))
				}
			}
		}
	}
}

// ---------------------------------------------------------------- functions

// functions are the Terraform built-ins this repository's modules use, from
// cty's standard library where it has them.
func functions(dir string) map[string]function.Function {
	str := func(impl func(string) (string, error)) function.Function {
		return function.New(&function.Spec{
			Params: []function.Parameter{{Name: "s", Type: cty.String}},
			Type:   function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				out, err := impl(args[0].AsString())
				return cty.StringVal(out), err
			},
		})
	}
	fileHash := func(enc func([]byte) string) function.Function {
		return str(func(p string) (string, error) {
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return "", err
			}
			h := sha256.Sum256(b)
			return enc(h[:]), nil
		})
	}
	length := function.New(&function.Spec{
		Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType}},
		Type:   function.StaticReturnType(cty.Number),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if args[0].Type() == cty.String {
				return stdlib.Strlen(args[0])
			}
			return args[0].Length(), nil
		},
	})
	alltrue := function.New(&function.Spec{
		Params: []function.Parameter{{Name: "l", Type: cty.List(cty.Bool)}},
		Type:   function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			for it := args[0].ElementIterator(); it.Next(); {
				if _, v := it.Element(); v.IsNull() || v.False() {
					return cty.False, nil
				}
			}
			return cty.True, nil
		},
	})
	cidrhost := function.New(&function.Spec{
		Params: []function.Parameter{{Name: "prefix", Type: cty.String}, {Name: "n", Type: cty.Number}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p, err := netip.ParsePrefix(args[0].AsString())
			if err != nil {
				return cty.NilVal, err
			}
			return cty.StringVal(p.Masked().Addr().String()), nil
		},
	})
	return map[string]function.Function{
		"alltrue":          alltrue,
		"can":              tryfunc.CanFunc,
		"cidrhost":         cidrhost,
		"coalesce":         stdlib.CoalesceFunc,
		"compact":          stdlib.CompactFunc,
		"concat":           stdlib.ConcatFunc,
		"contains":         stdlib.ContainsFunc,
		"distinct":         stdlib.DistinctFunc,
		"filebase64sha256": fileHash(base64.StdEncoding.EncodeToString),
		"filesha256":       fileHash(hex.EncodeToString),
		"flatten":          stdlib.FlattenFunc,
		"floor":            stdlib.FloorFunc,
		"format":           stdlib.FormatFunc,
		"join":             stdlib.JoinFunc,
		"jsondecode":       stdlib.JSONDecodeFunc,
		"jsonencode":       stdlib.JSONEncodeFunc,
		"keys":             stdlib.KeysFunc,
		"length":           length,
		"lookup":           stdlib.LookupFunc,
		"lower":            stdlib.LowerFunc,
		"max":              stdlib.MaxFunc,
		"merge":            stdlib.MergeFunc,
		"min":              stdlib.MinFunc,
		"range":            stdlib.RangeFunc,
		"regex":            stdlib.RegexFunc,
		"split":            stdlib.SplitFunc,
		"substr":           stdlib.SubstrFunc,
		"tolist":           stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
		"tomap":            stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)),
		"tonumber":         stdlib.MakeToFunc(cty.Number),
		"toset":            stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)),
		"tostring":         stdlib.MakeToFunc(cty.String),
		"trimspace":        stdlib.TrimSpaceFunc,
		"trimsuffix":       stdlib.TrimSuffixFunc,
		"try":              tryfunc.TryFunc,
		"upper":            stdlib.UpperFunc,
		"values":           stdlib.ValuesFunc,
	}
}
