package world

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

// maxWorkflowSize caps a workflow file read from the folder.
const maxWorkflowSize = 1 << 20

// maxRepoFileSize caps repo.yml.
const maxRepoFileSize = 16 << 10

// World is a folder of repositories.
type World struct {
	// Dir is the folder as given.
	Dir   string
	repos map[string]*Repo // key: lower-cased "owner/name"
}

// Repo is one repository of the world.
type Repo struct {
	Owner, Name   string
	DefaultBranch string
	// Dir is the repository's folder.
	Dir string
	// Config is the dispatching.yml lookup result, as the service would
	// see it.
	Config plan.ConfigResult
	// ConfigFile is the file on disk that Config came from ("" when
	// missing).
	ConfigFile string
	// Diagnostics are the problems found when parsing ConfigFile.
	Diagnostics []dispatching.Diagnostic
	// Workflows are the files under .github/workflows, by base name.
	Workflows map[string]*Workflow
	// HasWorkflowsDir reports whether the repository has a
	// .github/workflows folder. Without one the folder says nothing about
	// the repository's workflows (it may simply not have been copied), so
	// checks do not report them as missing.
	HasWorkflowsDir bool
}

// FullName is "owner/name".
func (r *Repo) FullName() string { return r.Owner + "/" + r.Name }

// Workflow is what the folder says about one workflow file.
type Workflow struct {
	File string // path on disk
	// Dispatchable reports whether the workflow declares
	// on: workflow_dispatch.
	Dispatchable bool
	// Inputs are the declared workflow_dispatch inputs.
	Inputs map[string]bool
	// Required are the declared inputs with required: true and no
	// default: a dispatch that does not send one of them fails.
	Required map[string]bool
	// Problem is set when the file could not be read as YAML.
	Problem string
}

// Load reads the world folder dir. It fails when dir is not a readable
// folder; problems inside one repository (an invalid dispatching.yml, an
// unreadable workflow) are recorded on that repository, not returned.
func Load(dir string) (*World, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, loadError(err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s: not a directory (expected a folder of repositories, DIR/<owner>/<repo>/dispatching.yml)", dir)
	}
	w := &World{Dir: dir, repos: map[string]*Repo{}}
	owners, err := os.ReadDir(dir)
	if err != nil {
		return nil, loadError(err)
	}
	for _, o := range owners {
		if !o.IsDir() || strings.HasPrefix(o.Name(), ".") {
			continue
		}
		repos, err := os.ReadDir(filepath.Join(dir, o.Name()))
		if err != nil {
			return nil, loadError(err)
		}
		for _, r := range repos {
			if !r.IsDir() || strings.HasPrefix(r.Name(), ".") {
				continue
			}
			repo, err := loadRepo(filepath.Join(dir, o.Name(), r.Name()), o.Name(), r.Name())
			if err != nil {
				return nil, err
			}
			w.repos[strings.ToLower(repo.FullName())] = repo
		}
	}
	if len(w.repos) == 0 {
		return nil, fmt.Errorf("%s: no repositories found (expected DIR/<owner>/<repo>/dispatching.yml)", dir)
	}
	return w, nil
}

// loadError names the path that could not be read and the cause, without
// the system call ("nowhere: no such file or directory", not "stat nowhere:
// ..."); the caller says which flag or folder it was.
func loadError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

// Repos returns the repositories sorted by full name.
func (w *World) Repos() []*Repo {
	out := make([]*Repo, 0, len(w.repos))
	for _, r := range w.repos {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].FullName()) < strings.ToLower(out[j].FullName()) })
	return out
}

// Repo returns the repository "owner/name" (case-insensitive, as on GitHub),
// or nil.
func (w *World) Repo(fullName string) *Repo {
	return w.repos[strings.ToLower(fullName)]
}

// Lookup implements plan.ConfigLookup over the folder: a repository that is
// not in the folder has no dispatching.yml.
func (w *World) Lookup(_ context.Context, repository string) plan.ConfigResult {
	r := w.Repo(repository)
	if r == nil {
		return plan.ConfigResult{Status: plan.ConfigMissing, Path: repository + "/dispatching.yml",
			Problem: fmt.Sprintf("repository %s is not in the world folder", repository)}
	}
	return r.Config
}

func loadRepo(dir, owner, name string) (*Repo, error) {
	r := &Repo{Owner: owner, Name: name, Dir: dir, DefaultBranch: "main", Workflows: map[string]*Workflow{}}
	if err := r.readMeta(); err != nil {
		return nil, err
	}
	r.readConfig()
	if err := r.readWorkflows(); err != nil {
		return nil, err
	}
	return r, nil
}

// readMeta reads the optional repo.yml.
func (r *Repo) readMeta() error {
	file := filepath.Join(r.Dir, "repo.yml")
	data, err := readCapped(file, maxRepoFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	branch, err := parseRepoMeta(file, data)
	if err != nil {
		return err
	}
	if branch != "" {
		r.DefaultBranch = branch
	}
	return nil
}

// parseRepoMeta reads repo.yml: an optional mapping with one key,
// default_branch, a non-empty string. Errors name the file, the line and
// column, the key and what was expected, as dispatching.yml errors do.
func parseRepoMeta(file string, data []byte) (string, error) {
	at := func(n ast.Node) string {
		if n == nil || n.GetToken() == nil {
			return file
		}
		p := n.GetToken().Position
		return fmt.Sprintf("%s:%d:%d", file, p.Line, p.Column)
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		msg := err.Error()
		var ye yaml.Error
		if errors.As(err, &ye) {
			if tk := ye.GetToken(); tk != nil {
				return "", fmt.Errorf("%s:%d:%d: not valid YAML: %s", file, tk.Position.Line, tk.Position.Column, ye.GetMessage())
			}
			msg = ye.GetMessage()
		}
		return "", fmt.Errorf("%s: not valid YAML: %s", file, msg)
	}
	if len(f.Docs) > 1 {
		return "", fmt.Errorf("%s: holds %d YAML documents; expected one mapping with default_branch", file, len(f.Docs))
	}
	if len(f.Docs) == 0 || f.Docs[0].Body == nil {
		return "", nil // empty file: the defaults
	}
	body := f.Docs[0].Body
	if _, ok := body.(*ast.CommentGroupNode); ok {
		return "", nil // comments only
	}
	var pairs []*ast.MappingValueNode
	switch m := body.(type) {
	case *ast.NullNode:
		return "", nil
	case *ast.MappingNode:
		pairs = m.Values
	case *ast.MappingValueNode:
		pairs = []*ast.MappingValueNode{m}
	default:
		return "", fmt.Errorf("%s: expected a mapping such as \"default_branch: main\", got %s", at(body), yamlKind(body))
	}
	branch := ""
	seen := map[string]bool{}
	for _, kv := range pairs {
		key := kv.Key.String()
		if sk, ok := kv.Key.(*ast.StringNode); ok {
			key = sk.Value
		}
		if seen[key] {
			return "", fmt.Errorf("%s: key %q appears twice", at(kv.Key), key)
		}
		seen[key] = true
		if key != "default_branch" {
			return "", fmt.Errorf("%s: unknown key %q (repo.yml has only default_branch)", at(kv.Key), key)
		}
		value, ok := "", false
		switch v := kv.Value.(type) {
		case *ast.StringNode:
			value, ok = v.Value, true
		case *ast.BoolNode:
			// YAML 1.2 core schema: only true and false are booleans;
			// yes, no, on and off are strings (a branch may be "on").
			if tk := v.GetToken(); tk != nil && !slices.Contains([]string{"true", "false", "True", "False", "TRUE", "FALSE"}, tk.Value) {
				value, ok = tk.Value, true
			}
		}
		if !ok || strings.TrimSpace(value) == "" {
			got := yamlKind(kv.Value)
			if ok {
				got = "an empty string"
			}
			return "", fmt.Errorf("%s: default_branch must be a branch name (a non-empty string, e.g. main), got %s", at(kv.Value), got)
		}
		branch = value
	}
	return branch, nil
}

// yamlKind describes a YAML node for an error message.
func yamlKind(n ast.Node) string {
	switch n.(type) {
	case nil, *ast.NullNode:
		return "nothing (null)"
	case *ast.SequenceNode:
		return "a list"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.IntegerNode, *ast.FloatNode:
		return "a number (quote it to make it a branch name)"
	case *ast.BoolNode:
		return "a boolean (quote it to make it a branch name)"
	case *ast.StringNode, *ast.LiteralNode:
		return "a string"
	}
	return "a " + strings.ToLower(n.Type().String())
}

// readConfig looks dispatching.yml up the way the service does.
func (r *Repo) readConfig() {
	for _, p := range dispatching.LookupPaths {
		file := filepath.Join(r.Dir, filepath.FromSlash(p))
		display := path.Join(r.FullName(), p)
		st, err := os.Stat(file)
		if errors.Is(err, fs.ErrNotExist) || (err == nil && !st.Mode().IsRegular()) {
			continue // like a 404, a directory or a symlink on GitHub: try the next path
		}
		r.ConfigFile = file
		if err != nil {
			r.Config = plan.ConfigResult{Status: plan.ConfigUnreadable, Path: display, Problem: err.Error()}
			return
		}
		if st.Size() > dispatching.MaxFileSize {
			r.Config = plan.ConfigResult{Status: plan.ConfigInvalid, Path: display,
				Problem: fmt.Sprintf("file is %d bytes, larger than the %d-byte limit", st.Size(), dispatching.MaxFileSize)}
			return
		}
		data, err := os.ReadFile(file)
		if err != nil {
			r.Config = plan.ConfigResult{Status: plan.ConfigUnreadable, Path: display, Problem: err.Error()}
			return
		}
		if len(data) == 0 {
			r.Config = plan.ConfigResult{Status: plan.ConfigMissing, Path: display, Problem: "the file is empty"}
			return
		}
		cfg, diags := dispatching.Parse(file, data)
		r.Diagnostics = diags
		if cfg == nil {
			problem := "invalid"
			for _, d := range diags {
				if d.Severity == dispatching.SeverityError {
					problem = fmt.Sprintf("line %d: %s", d.Line, d.Message)
					break
				}
			}
			r.Config = plan.ConfigResult{Status: plan.ConfigInvalid, Path: display, Problem: problem}
			return
		}
		r.Config = plan.ConfigResult{Status: plan.ConfigFound, Config: cfg, Path: display}
		return
	}
	r.Config = plan.ConfigResult{Status: plan.ConfigMissing, Path: path.Join(r.FullName(), dispatching.LookupPaths[0]),
		Problem: "no dispatching.yml or .github/dispatching.yml"}
}

// readWorkflows reads .github/workflows/*.yml and *.yaml.
func (r *Repo) readWorkflows() error {
	dir := filepath.Join(r.Dir, ".github", "workflows")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return loadError(err)
	}
	r.HasWorkflowsDir = true
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".yml" && ext != ".yaml") {
			continue
		}
		file := filepath.Join(dir, e.Name())
		wf := &Workflow{File: file, Inputs: map[string]bool{}, Required: map[string]bool{}}
		r.Workflows[e.Name()] = wf
		data, err := readCapped(file, maxWorkflowSize)
		if err != nil {
			wf.Problem = err.Error()
			continue
		}
		parseWorkflow(data, wf)
	}
	return nil
}

// parseWorkflow records whether the workflow declares workflow_dispatch,
// which inputs, and which of them are required without a default. "on" may
// be a string, a list or a mapping.
func parseWorkflow(data []byte, wf *Workflow) {
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		wf.Problem = "not valid YAML: " + yaml.FormatError(err, false, false)
		return
	}
	switch v := doc["on"].(type) {
	case string:
		wf.Dispatchable = v == "workflow_dispatch"
	case []any:
		for _, e := range v {
			if s, _ := e.(string); s == "workflow_dispatch" {
				wf.Dispatchable = true
			}
		}
	case map[string]any:
		d, ok := v["workflow_dispatch"]
		if !ok {
			return
		}
		wf.Dispatchable = true
		if m, ok := d.(map[string]any); ok {
			if inputs, ok := m["inputs"].(map[string]any); ok {
				for k, v := range inputs {
					wf.Inputs[k] = true
					if spec, ok := v.(map[string]any); ok {
						_, hasDefault := spec["default"]
						if req, _ := spec["required"].(bool); req && !hasDefault {
							wf.Required[k] = true
						}
					}
				}
			}
		}
	}
}

// readCapped reads a file of at most limit bytes.
func readCapped(file string, limit int64) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than the %d-byte limit", file, limit)
	}
	return data, nil
}
