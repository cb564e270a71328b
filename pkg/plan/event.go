package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ParseEvent decodes a workflow_run webhook payload (the JSON body GitHub
// sends) into an Event.
//
// Required: a JSON object with a "workflow_run" object and a "repository"
// object naming the source repository ("owner.login" and "name", or
// "full_name" as a fallback for either). Every other field may be absent or
// null, as in the original service (an absent workflow_run.path, as in some
// older payloads, gives an empty Path, which matches no outbound rule):
// a null or absent conclusion, head_sha or html_url becomes "", a null or
// absent head_branch is a nil HeadBranch (an empty string stays an empty
// string), an absent id is 0 and an absent run_attempt is 1. A field that is
// present with the wrong type is an error naming the field, e.g.
// "workflow_run.id: expected a number, got string". Body size is not
// limited here (the ingress caps it).
func ParseEvent(payload []byte) (Event, error) {
	var ev Event
	root, err := decodeObject(payload, "payload")
	if err != nil {
		return ev, err
	}
	if ev.Action, _, err = root.str("action"); err != nil {
		return ev, err
	}
	inst, ok, err := root.object("installation")
	if err != nil {
		return ev, err
	}
	if ok {
		if ev.InstallationID, _, err = inst.int64("id"); err != nil {
			return ev, err
		}
	}

	run, ok, err := root.object("workflow_run")
	if err != nil {
		return ev, err
	}
	if !ok {
		return ev, errors.New("workflow_run: missing (not a workflow_run payload?)")
	}
	if err := parseRun(run, &ev.Run); err != nil {
		return ev, err
	}

	repo, ok, err := root.object("repository")
	if err != nil {
		return ev, err
	}
	if !ok {
		return ev, errors.New("repository: missing")
	}
	if err := parseRepository(repo, &ev.Repository); err != nil {
		return ev, err
	}
	return ev, nil
}

func parseRun(run jsonObject, r *Run) error {
	var err error
	if r.ID, _, err = run.int64("id"); err != nil {
		return err
	}
	attempt, ok, err := run.int64("run_attempt")
	if err != nil {
		return err
	}
	r.RunAttempt = 1
	if ok {
		if attempt < 0 || attempt > 1<<31-1 {
			return fmt.Errorf("workflow_run.run_attempt: %d is out of range", attempt)
		}
		r.RunAttempt = int(attempt)
	}
	if r.Name, _, err = run.str("name"); err != nil {
		return err
	}
	if r.Path, _, err = run.str("path"); err != nil {
		return err
	}
	branch, ok, err := run.str("head_branch")
	if err != nil {
		return err
	}
	if ok {
		r.HeadBranch = &branch
	}
	if r.HeadSHA, _, err = run.str("head_sha"); err != nil {
		return err
	}
	if r.HTMLURL, _, err = run.str("html_url"); err != nil {
		return err
	}
	if r.Conclusion, _, err = run.str("conclusion"); err != nil {
		return err
	}
	head, ok, err := run.object("head_repository")
	if err != nil {
		return err
	}
	if ok {
		if r.HeadRepositoryFullName, _, err = head.str("full_name"); err != nil {
			return err
		}
	}
	return nil
}

func parseRepository(repo jsonObject, r *Repository) error {
	name, haveName, err := repo.str("name")
	if err != nil {
		return err
	}
	full, _, err := repo.str("full_name")
	if err != nil {
		return err
	}
	var login string
	var haveLogin bool
	owner, ok, err := repo.object("owner")
	if err != nil {
		return err
	}
	if ok {
		if login, haveLogin, err = owner.str("login"); err != nil {
			return err
		}
	}
	fullOwner, fullName, fullOK := strings.Cut(full, "/")
	fullOK = fullOK && fullOwner != "" && fullName != "" && !strings.Contains(fullName, "/")
	switch {
	case haveLogin && login != "":
	case fullOK:
		login = fullOwner
	default:
		return errors.New("repository.owner.login: missing (and repository.full_name is not \"owner/name\")")
	}
	switch {
	case haveName && name != "":
	case fullOK:
		name = fullName
	default:
		return errors.New("repository.name: missing (and repository.full_name is not \"owner/name\")")
	}
	r.Owner, r.Name = login, name
	if r.DefaultBranch, _, err = repo.str("default_branch"); err != nil {
		return err
	}
	return nil
}

// jsonObject is a decoded JSON object whose members are decoded on demand,
// so that errors can name the field by its dotted path.
type jsonObject struct {
	path    string
	members map[string]json.RawMessage
}

func decodeObject(data []byte, path string) (jsonObject, error) {
	obj := jsonObject{path: path}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return obj, fmt.Errorf("%s: empty, expected a JSON object", path)
	}
	if trimmed[0] != '{' {
		return obj, fmt.Errorf("%s: expected a JSON object, got %s", path, jsonKind(trimmed))
	}
	if err := json.Unmarshal(trimmed, &obj.members); err != nil {
		return obj, fmt.Errorf("%s: invalid JSON: %w", path, err)
	}
	return obj, nil
}

func (o jsonObject) field(name string) string {
	if o.path == "payload" {
		return name
	}
	return o.path + "." + name
}

// raw returns the member, or ok=false when it is absent or null.
func (o jsonObject) raw(name string) (json.RawMessage, bool) {
	v, ok := o.members[name]
	if !ok {
		return nil, false
	}
	v = bytes.TrimSpace(v)
	if len(v) == 0 || string(v) == "null" {
		return nil, false
	}
	return v, true
}

func (o jsonObject) object(name string) (jsonObject, bool, error) {
	v, ok := o.raw(name)
	if !ok {
		return jsonObject{}, false, nil
	}
	obj, err := decodeObject(v, o.field(name))
	if err != nil {
		return obj, false, err
	}
	return obj, true, nil
}

func (o jsonObject) str(name string) (string, bool, error) {
	v, ok := o.raw(name)
	if !ok {
		return "", false, nil
	}
	if v[0] != '"' {
		return "", false, fmt.Errorf("%s: expected a string, got %s", o.field(name), jsonKind(v))
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", false, fmt.Errorf("%s: %w", o.field(name), err)
	}
	return s, true, nil
}

func (o jsonObject) int64(name string) (int64, bool, error) {
	v, ok := o.raw(name)
	if !ok {
		return 0, false, nil
	}
	if jsonKind(v) != "a number" {
		return 0, false, fmt.Errorf("%s: expected a number, got %s", o.field(name), jsonKind(v))
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("%s: expected a whole number that fits in 64 bits, got %s", o.field(name), v)
	}
	return n, true, nil
}

// jsonKind names the JSON type of a (trimmed, non-empty) raw value.
func jsonKind(v []byte) string {
	switch v[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}
