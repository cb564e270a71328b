// Package schemas embeds the project's JSON Schemas so that the binary and
// the tests use the same bytes that editors and users see in this folder.
package schemas
