package local

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// dirState is every file of dir with the hash of its content.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		if e.IsDir() {
			out[e.Name()] = "dir"
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(b)
		out[e.Name()] = hex.EncodeToString(h[:])
	}
	return out
}

func foreignSQLite(journal string) func(t *testing.T, path string) {
	return func(t *testing.T, path string) {
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		db.SetMaxOpenConns(1)
		for _, q := range []string{
			"PRAGMA journal_mode=" + journal,
			"CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)",
			"INSERT INTO notes(body) VALUES ('keep me'), ('and me')",
		} {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
}

// Open refuses a path that is not a dispatcher store and leaves whatever
// is there byte for byte unchanged, with no -wal or -shm files left
// behind; with Create it initialises a missing or empty file.
func TestOpenRefusesWhatIsNotAStore(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(t *testing.T, path string)
		create  bool
		wantErr error // nil: a working store
		bug     string
	}{
		{"missing", nil, false, ErrNoStore, ""},
		{"empty", func(t *testing.T, p string) { os.WriteFile(p, nil, 0o644) }, false, ErrNoStore, ""},
		{"text file", func(t *testing.T, p string) { os.WriteFile(p, []byte("hello, this is not a database\n"), 0o644) }, false, ErrNotAStore, ""},
		{"text file with create", func(t *testing.T, p string) { os.WriteFile(p, []byte("hello"), 0o644) }, true, ErrNotAStore, ""},
		{"short header", func(t *testing.T, p string) { os.WriteFile(p, []byte("SQLite"), 0o644) }, false, ErrNotAStore, ""},
		{"directory", func(t *testing.T, p string) { os.Mkdir(p, 0o755) }, true, ErrNotAStore, ""},
		{"foreign sqlite", foreignSQLite("DELETE"), false, ErrNotAStore, ""},
		{"foreign sqlite with create", foreignSQLite("DELETE"), true, ErrNotAStore, ""},
		{"foreign sqlite in wal mode", foreignSQLite("WAL"), true, ErrNotAStore, ""},
		{"missing with create", nil, true, nil, ""},
		{"empty with create", func(t *testing.T, p string) { os.WriteFile(p, nil, 0o644) }, true, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "dispatcher.db")
			if tc.setup != nil {
				tc.setup(t, path)
			}
			before := dirState(t, dir)
			s, err := Open(ctx, path, Options{Create: tc.create})
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer s.Close()
				if _, _, err := s.Queue("q").Send(ctx, NewMessage{Body: []byte("x")}); err != nil {
					t.Fatalf("send: %v", err)
				}
				if ms, err := s.Queue("q").Receive(ctx, 1, 0); err != nil || len(ms) != 1 {
					t.Fatalf("receive: %+v %v", ms, err)
				}
				return
			}
			if s != nil {
				s.Close()
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Open: %v, want %v", err, tc.wantErr)
			}
			var fe *FileError
			if !errors.As(err, &fe) || fe.Path != path {
				t.Errorf("error %v is not a *FileError for %s", err, path)
			}
			after := dirState(t, dir)
			if len(after) != len(before) {
				t.Errorf("files before %v, after %v", before, after)
			}
			for name, h := range before {
				if after[name] != h {
					t.Errorf("%s changed (%s → %s)", name, h, after[name])
				}
			}
		})
	}
}
