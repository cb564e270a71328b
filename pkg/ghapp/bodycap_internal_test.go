package ghapp

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// TestCappedBodyBoundary: exactly max bytes read cleanly; one more fails,
// and the bytes past the cap are never handed out.
func TestCappedBodyBoundary(t *testing.T) {
	read := func(n int) (int, error) {
		b := &cappedBody{rc: io.NopCloser(strings.NewReader(strings.Repeat("x", n))), left: 8, max: 8}
		got, err := io.ReadAll(b)
		return len(got), err
	}
	if n, err := read(8); n != 8 || err != nil {
		t.Errorf("8 bytes under a cap of 8: read %d, %v; want 8, nil", n, err)
	}
	if n, err := read(9); n != 8 || !errors.Is(err, ErrResponseTooLarge) {
		t.Errorf("9 bytes under a cap of 8: read %d, %v; want 8, ErrResponseTooLarge", n, err)
	}
}
