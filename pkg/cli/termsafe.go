package cli

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// termSafe returns s with everything a terminal would interpret instead of
// print made visible: C0 controls but tab (ESC, BEL, CR, backspace, ...),
// DEL, C1 controls (U+0080-U+009F, which some terminals read as CSI or OSC),
// Unicode bidirectional overrides (the "Trojan Source" characters) and bytes
// that are not UTF-8 (a binary file). Each becomes a Go-style escape, \x1b
// or \u202e, so a file can never move the cursor, clear the screen, set the
// window title or reorder what the operator reads. Text output of every
// command passes file contents and names through it; machine formats (JSON,
// SARIF) escape by their own rules.
func termSafe(s string) string {
	if termSafeClean(s) {
		return s
	}
	out, _ := termSafeCol(s, 0)
	return out
}

// termSafeClean reports whether s needs no escaping.
func termSafeClean(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || termUnsafeRune(r) {
			return false
		}
		i += size
	}
	return true
}

// termSafeCol escapes s like termSafe and moves the 1-based character
// column col (0 for none) to the same character in the result, so that a
// caret still points at it.
func termSafeCol(s string, col int) (string, int) {
	var b strings.Builder
	newCol := col
	n := 0 // characters of s seen
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		var esc string
		switch {
		case r == utf8.RuneError && size == 1:
			esc = fmt.Sprintf(`\x%02x`, s[i])
		case termUnsafeRune(r) && r < 0x80:
			esc = fmt.Sprintf(`\x%02x`, r)
		case termUnsafeRune(r):
			esc = fmt.Sprintf(`\u%04x`, r)
		}
		n++
		if esc != "" {
			b.WriteString(esc)
			if n < col {
				newCol += len(esc) - 1
			}
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String(), newCol
}

// termUnsafeRune reports whether a terminal would act on r rather than
// print it. Tab is allowed (source excerpts keep it for alignment).
func termUnsafeRune(r rune) bool {
	switch {
	case r == '\t':
		return false
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true // bidirectional marks, embeddings, overrides and isolates
	}
	return false
}

// termSafeLines is termSafe for a message of several lines: line breaks
// are kept, everything else is escaped.
func termSafeLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = termSafe(l)
	}
	return strings.Join(lines, "\n")
}
