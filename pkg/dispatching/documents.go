package dispatching

import (
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/token"
)

// secondDocument finds where a second YAML document starts in a file that
// parsed: at a second "---", or at content after a "..." document end. It
// reads the token stream rather than the parser's documents because
// goccy/go-yaml drops documents in some streams ("---\n---\nkey: v" parses
// as one empty document), and YAML 1.2 counts every one of them. header
// tells whether the document starts with "---".
func secondDocument(data []byte) (p Pos, header, found bool) {
	started, ended := false, false
	directiveLine := -1
	for _, tk := range lexer.Tokenize(string(data)) {
		if tk == nil || tk.Position == nil {
			continue
		}
		switch {
		case tk.Type == token.CommentType:
			continue
		case tk.Type == token.DirectiveType:
			directiveLine = tk.Position.Line
			continue
		case tk.Position.Line == directiveLine:
			continue // the rest of a %YAML or %TAG line
		case tk.Type == token.DocumentEndType:
			ended = started
			continue
		case tk.Type == token.DocumentHeaderType:
			if started {
				return tokenPos(tk), true, true
			}
			started = true
		default:
			if ended {
				return tokenPos(tk), false, true
			}
			started = true
		}
	}
	return Pos{}, false, false
}
