// Package dispatching is the dispatching.yml contract: the model, a strict
// parser that keeps the line and column of every node, the JSON Schema check
// and the semantic lint.
//
// Parse returns a Config only for a valid file; every problem is a
// Diagnostic with a 1-based line and column and a stable rule id (see
// Rules). Lint adds warnings for valid files that will not do what they say.
// TemplateVariables, TemplateTokens and TokenPattern define the {{ }}
// template grammar that the decision engine resolves. docs/dispatching-yml.md
// and docs/validate.md describe the format and the rules for users.
//
// It is a [core] package: it does no I/O and imports no network, database or
// terminal packages. Callers read the bytes and hand them to Parse.
package dispatching
