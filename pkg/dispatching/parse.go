package dispatching

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// MaxFileSize is the largest dispatching.yml accepted (64 KiB); larger files
// are rejected before parsing.
const MaxFileSize = 64 << 10

// Parse parses and validates one dispatching.yml. file is the name used in
// diagnostics. It returns the Config when the file is valid (no diagnostic
// of severity error); otherwise Config is nil and the diagnostics say why,
// each positioned. An empty file (zero bytes) is not valid here: callers
// that look files up treat empty content as "missing" before calling Parse.
//
// The checks, in order: size; UTF-8; YAML syntax (goccy/go-yaml, which also
// rejects tab indentation); a single document; YAML 1.2 core-schema typing
// of plain scalars, duplicate keys at any depth, tags and bounded alias
// expansion; then schemas/dispatching.schema.json for structure. Every
// problem is reported once, by the first layer that sees it. Parse never
// panics.
func Parse(file string, data []byte) (cfg *Config, diags []Diagnostic) {
	defer func() {
		if r := recover(); r != nil {
			cfg = nil
			diags = append(diags, Diagnostic{File: file, Line: 1, Column: 1, Severity: SeverityError, Rule: RuleSyntax,
				Message: fmt.Sprintf("the YAML parser failed on this file: %v", r)})
		}
	}()
	errAt := func(p Pos, rule, format string, args ...any) []Diagnostic {
		return []Diagnostic{{File: file, Line: max(p.Line, 1), Column: max(p.Column, 1), Severity: SeverityError, Rule: rule, Message: fmt.Sprintf(format, args...)}}
	}
	if len(data) > MaxFileSize {
		return nil, errAt(Pos{1, 1}, RuleFileTooLarge, "file is %d bytes, more than the limit of %d bytes (64 KiB)", len(data), MaxFileSize)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		return nil, errAt(invalidUTF8Pos(data), RuleSyntax, "file is not valid UTF-8")
	}
	f, err := parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		var se *yaml.SyntaxError
		if errors.As(err, &se) {
			if strings.Contains(se.Message, "character '\t'") {
				// The parser's own words show a raw tab between quotes.
				return nil, errAt(tokenPos(se.Token), RuleSyntax, "invalid YAML: a tab character cannot indent YAML; indent with spaces")
			}
			return nil, errAt(tokenPos(se.Token), RuleSyntax, "invalid YAML: %s", se.Message)
		}
		return nil, errAt(Pos{1, 1}, RuleSyntax, "invalid YAML: %v", err)
	}
	var docs []*ast.DocumentNode
	for _, d := range f.Docs {
		if _, directive := d.Body.(*ast.DirectiveNode); directive {
			continue
		}
		docs = append(docs, d)
	}
	second, header, multi := secondDocument(data)
	if !multi && len(docs) > 1 {
		second, header, multi = tokenPos(docs[1].Start), true, true
		if second.Line == 0 {
			second, header = nodePos(docs[1].Body), false
		}
	}
	if multi {
		msg := "a second YAML document starts here; dispatching.yml must hold exactly one document (remove this ---)"
		if !header {
			msg = "a second YAML document starts here, after the document end marker (...); dispatching.yml must hold exactly one document"
		}
		diags = append(diags, errAt(second, RuleMultipleDocuments, "%s", msg)...)
	}
	if len(docs) == 0 || docs[0].Body == nil {
		if multi {
			return nil, SortDiagnostics(diags)
		}
		diags = append(diags, errAt(Pos{1, 1}, RuleEmptyDocument, "the file has no content (only whitespace or comments); the top level must be a mapping with outbound and/or inbound rules")...)
		return nil, SortDiagnostics(diags)
	}
	c := &converter{file: file}
	root := c.convert(docs[0].Body, Pos{1, 1}, 0)
	diags = append(diags, c.diags...)
	if !c.aliasFailed {
		diags = append(diags, checkSchema(file, root)...)
	}
	diags = SortDiagnostics(diags)
	if HasErrors(diags) {
		return nil, diags
	}
	return decode(root), diags
}

// invalidUTF8Pos finds the line and column of the first invalid byte.
func invalidUTF8Pos(data []byte) Pos {
	p := Pos{Line: 1, Column: 1}
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		if r == utf8.RuneError && size <= 1 {
			return p
		}
		if r == '\n' {
			p.Line++
			p.Column = 1
		} else {
			p.Column++
		}
		data = data[size:]
	}
	return p
}

// LookupPaths are the places a repository's dispatching.yml is read from, in
// order; the first one that exists wins (paths are case-sensitive).
var LookupPaths = []string{"dispatching.yml", ".github/dispatching.yml"}
