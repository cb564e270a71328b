// Package dispatching is the dispatching.yml contract: the model, a strict
// parser that keeps the line and column of every node, the JSON Schema check
// and the semantic lint.
//
// It is a [core] package: it does no I/O and imports no network, database or
// terminal packages. Callers read the bytes and hand them to Parse.
package dispatching
