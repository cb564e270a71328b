package ghapp

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestErrorText(t *testing.T) {
	cases := []struct {
		e    *Error
		want string
	}{
		{&Error{Op: "dispatch", Status: 422, Message: "No ref found for: x", Kind: KindPermanent, Attempts: 1}, "dispatch: 422 No ref found for: x [permanent]"},
		{&Error{Op: "dispatch", Status: 404, Message: "Not Found", Kind: KindPermanent, Err: ErrNotFound}, "dispatch: 404 Not Found [permanent]"},
		{&Error{Op: "dispatch", Status: 403, Message: "slow down", Kind: KindTransient, Attempts: 3, Wait: 60e9, Err: joinErr(ErrRateLimited, nil)},
			"dispatch: 403 slow down; retry after 1m0s [transient, 3 attempts]"},
		{&Error{Op: "dispatch", Kind: KindAmbiguous, Err: joinErr(ErrAmbiguous, io.EOF)},
			"dispatch: outcome unknown: the request may have reached GitHub: EOF [ambiguous]"},
		{&Error{Op: "read", Status: 500, Message: "boom", Kind: KindTransient, Err: joinErr(ErrRateLimited, io.ErrUnexpectedEOF)},
			"read: 500 boom (rate limited: unexpected EOF) [transient]"},
	}
	for _, tc := range cases {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
		if strings.Contains(tc.e.Error(), "\n") {
			t.Errorf("newline in %q", tc.e.Error())
		}
	}
	amb := &Error{Kind: KindAmbiguous, Err: joinErr(ErrAmbiguous, io.EOF)}
	if !errors.Is(amb, ErrAmbiguous) || !errors.Is(amb, io.EOF) || !IsAmbiguous(amb) || amb.Permanent() {
		t.Error("ambiguous error does not match")
	}
	nf := &Error{Status: 404, Kind: KindPermanent, Err: ErrNoInstallation}
	if !errors.Is(nf, ErrNotFound) || !errors.Is(nf, ErrNoInstallation) || !nf.Permanent() {
		t.Error("404 without installation does not match")
	}
}
