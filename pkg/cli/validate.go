package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
	"github.com/dispatcher-dev/dispatcher/pkg/world"
)

// stdinName names standard input in diagnostics.
const stdinName = "<stdin>"

type validateOptions struct {
	paths  []string
	format string
	strict bool
	repo   string
	world  string
	// version is dispatcher's version, reported in SARIF output.
	version string
}

func newValidateCmd(s Streams, info BuildInfo) *cobra.Command {
	o := &validateOptions{version: info.Version}
	cmd := &cobra.Command{
		Use:   "validate [PATH...]",
		Short: "Check dispatching.yml files",
		Long: `Check dispatching.yml files against the format (schema errors) and for
rules that will not do what they say (warnings), and print one positioned
message per problem.

A PATH is a file, a directory (searched for dispatching.yml and
.github/dispatching.yml, the places the service reads; both are checked when
both exist), or "-" for standard input. Without a PATH the current directory
is searched.

Output formats: text (file:line:col: message [rule], the source line and a
caret), json (an array of {file,line,column,severity,rule,message}), github
(GitHub Actions annotations) and sarif (SARIF 2.1.0 for GitHub code scanning).

With --world DIR (a folder of repositories, DIR/<owner>/<repo>/, as for
simulate), validate also runs the cross-repository checks: outbound targets
the target repository would not let in, inbound rules no source uses, target
workflows that do not exist or lack on: workflow_dispatch, inputs the target
workflow does not declare (or requires but is not sent), and dispatch
cycles. Without a PATH every repository's dispatching.yml in DIR is checked
too, each with its repository known (as --repo does).

Exit status: 0 when no errors were found (warnings do not fail unless
--strict), 1 when problems were found, 2 on a usage or input error (missing
file, unreadable directory, no dispatching.yml in a directory).`,
		Example: `  dispatcher validate
  dispatcher validate path/to/repo other/dispatching.yml
  dispatcher validate --repo acme/api --strict dispatching.yml
  dispatcher validate --world ~/src/acme
  dispatcher validate --world ~/src/acme ~/src/acme/api
  cat dispatching.yml | dispatcher validate -
  dispatcher validate --format github
  dispatcher validate --format sarif > dispatcher.sarif`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.paths = args
			return runValidate(s, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", diagFormatText, "output `FORMAT`: "+usageJoinOr(diagFormats))
	f.BoolVar(&o.strict, "strict", false, "exit 1 on warnings too")
	f.StringVar(&o.repo, "repo", "", "`OWNER/NAME` of the repository that holds the file, for the self-dispatch check (one PATH only)")
	f.StringVar(&o.world, "world", "", "folder of repositories (`DIR`/<owner>/<repo>/) to run the cross-repository checks on")
	_ = cmd.MarkFlagDirname("world")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(diagFormats, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// validateInput is one file to check.
type validateInput struct {
	name string // as shown in diagnostics
	data []byte
	// shadowedBy is set for .github/dispatching.yml when the root file of the
	// same directory exists: the service never reads it.
	shadowedBy string
	// repo is "owner/name" of the repository holding the file when known
	// from the --world folder; it overrides --repo for Lint.
	repo string
	// size is the file's real size in bytes when data was cut at the
	// limit, or -1 when unknown (standard input is not read to its end).
	size int64
}

// validatedFile is a checked file: what the world checks (--world, added
// separately) build on.
type validatedFile struct {
	validateInput
	config *dispatching.Config // nil when invalid
	lines  []string
}

func runValidate(s Streams, o *validateOptions) error {
	if !slices.Contains(diagFormats, o.format) {
		return usageErrorf("--format: unknown format %q (expected %s)", o.format, usageJoinOr(diagFormats))
	}
	if o.repo != "" {
		if owner, name, ok := strings.Cut(o.repo, "/"); !ok || owner == "" || name == "" || strings.Contains(name, "/") {
			return usageErrorf("--repo %q: expected OWNER/NAME", o.repo)
		}
		if len(o.paths) > 1 {
			return usageErrorf("--repo names the repository of one file; got %d paths", len(o.paths))
		}
		if o.world != "" {
			return usageErrorf("--repo and --world cannot be combined: --world knows the repository of every file in its folder")
		}
	}
	var w *world.World
	if o.world != "" {
		var err error
		if w, err = world.Load(o.world); err != nil {
			return &UsageError{Err: fmt.Errorf("validate: --world %w", err)}
		}
	}
	inputs, pathErrs := validateWorldInputs(s, w, o.paths)
	files, diags := checkFiles(inputs, dispatching.LintOptions{Repo: o.repo})
	if w != nil {
		diags = append(diags, w.Check()...)
	}
	diags = dispatching.SortDiagnostics(diags)

	lines := map[string][]string{}
	for _, f := range files {
		if _, ok := lines[f.name]; !ok {
			lines[f.name] = f.lines
		}
	}
	src := func(file string, line int) (string, bool) {
		ls, ok := lines[file]
		if !ok && w != nil {
			// A world file that was not among the PATHs: read it for the
			// source line of a cross-repository finding.
			if data, err := validateReadFileLines(file); err == nil {
				ls = data
			}
			lines[file] = ls
		}
		if line >= 1 && line <= len(ls) {
			return ls[line-1], true
		}
		return "", false
	}
	if err := renderDiagnostics(s.Out, o.format, diags, src, s.Color(s.OutTTY), o.version); err != nil {
		return fmt.Errorf("validate: write output: %w", err)
	}
	errs, warns := 0, 0
	for _, d := range diags {
		if d.Severity == dispatching.SeverityError {
			errs++
		} else {
			warns++
		}
	}
	if o.format == diagFormatText && (len(pathErrs) == 0 || len(files) > 0) {
		fmt.Fprintln(s.Err, validateSummary(errs, warns, validateFileCount(files, w)))
	}
	// The paths that could not be read come last, after every finding of
	// the others, and decide the exit status: a usage error (2).
	if len(pathErrs) > 0 {
		for _, err := range pathErrs[:len(pathErrs)-1] {
			fmt.Fprintf(s.Err, "dispatcher: %s\n", termSafeLines(err.Error()))
		}
		return pathErrs[len(pathErrs)-1]
	}
	if errs > 0 || (o.strict && warns > 0) {
		return ErrProblems
	}
	return nil
}

// checkFiles parses and lints every input.
func checkFiles(inputs []validateInput, opts dispatching.LintOptions) ([]*validatedFile, []dispatching.Diagnostic) {
	var files []*validatedFile
	var diags []dispatching.Diagnostic
	for _, in := range inputs {
		f := &validatedFile{validateInput: in, lines: validateSplitLines(in.data)}
		files = append(files, f)
		if len(in.data) == 0 {
			diags = append(diags, dispatching.Diagnostic{File: in.name, Line: 1, Column: 1, Severity: dispatching.SeverityWarning, Rule: dispatching.RuleEmptyFile,
				Message: "the file is empty; the service treats an empty dispatching.yml as missing (and an empty root file hides .github/dispatching.yml)"})
			continue
		}
		if len(in.data) > dispatching.MaxFileSize {
			diags = append(diags, dispatching.Diagnostic{File: in.name, Line: 1, Column: 1, Severity: dispatching.SeverityError, Rule: dispatching.RuleFileTooLarge,
				Message: validateTooLarge(in)})
			continue
		}
		cfg, ds := dispatching.Parse(in.name, in.data)
		diags = append(diags, ds...)
		if cfg != nil {
			f.config = cfg
			lo := opts
			if in.repo != "" {
				lo.Repo = in.repo
			}
			diags = append(diags, dispatching.Lint(in.name, cfg, lo)...)
		}
		if in.shadowedBy != "" {
			diags = append(diags, dispatching.Diagnostic{File: in.name, Line: 1, Column: 1, Severity: dispatching.SeverityWarning, Rule: dispatching.RuleShadowedFile,
				Message: fmt.Sprintf("this file is never read: %s exists and takes precedence", in.shadowedBy)})
		}
	}
	return files, diags
}

// validateWorldInputs resolves the files to check. Without a world it is
// collectValidateInputs. With one and no PATH, every repository of the
// folder that has a dispatching.yml is searched like a directory PATH; with
// PATHs, those. Either way each file inside a repository of the folder is
// tagged with that repository, for the self-dispatch check.
func validateWorldInputs(s Streams, w *world.World, paths []string) ([]validateInput, []error) {
	if w == nil {
		return collectValidateInputs(s, paths)
	}
	if len(paths) == 0 {
		for _, r := range w.Repos() {
			if r.ConfigFile != "" {
				paths = append(paths, r.Dir)
			}
		}
		if len(paths) == 0 {
			// Nothing to check: "no problems in 0 files" would be a false
			// green in CI. Usually DIR is one level too high or too low.
			return nil, []error{validateEmptyWorldError(w)}
		}
	}
	inputs, errs := collectValidateInputs(s, paths)
	repoOf := map[string]string{} // absolute repository folder -> owner/name
	for _, r := range w.Repos() {
		if abs, err := filepath.Abs(r.Dir); err == nil {
			repoOf[abs] = r.FullName()
		}
	}
	for i := range inputs {
		if inputs[i].name == stdinName {
			continue
		}
		abs, err := filepath.Abs(inputs[i].name)
		if err != nil {
			continue
		}
		dir := filepath.Dir(abs)
		if filepath.Base(dir) == ".github" {
			if full, ok := repoOf[filepath.Dir(dir)]; ok {
				inputs[i].repo = full
				continue
			}
		}
		inputs[i].repo = repoOf[dir]
	}
	return inputs, errs
}

// validateEmptyWorldError says where validate --world looked when no
// repository of the folder has a dispatching.yml.
func validateEmptyWorldError(w *world.World) error {
	repos := w.Repos()
	var shown []string
	for i, r := range repos {
		if i == 3 {
			shown = append(shown, fmt.Sprintf("and %d more", len(repos)-i))
			break
		}
		shown = append(shown, r.Dir)
	}
	return usageErrorf("validate: --world %s: no dispatching.yml found: looked for %s in %d repository %s (%s); DIR must hold DIR/<owner>/<repo>/ (is it one level too high or too low?)",
		w.Dir, strings.Join(dispatching.LookupPaths, " and "), len(repos), validatePlural(len(repos), "folder", "folders"), strings.Join(shown, ", "))
}

// collectValidateInputs resolves PATH arguments into files, in argument
// order. A path that cannot be read (missing, unreadable, a directory with
// no dispatching.yml) does not stop the others: it is returned among the
// errors, each a usage error naming the path, so that every finding of the
// readable paths is still reported.
func collectValidateInputs(s Streams, paths []string) ([]validateInput, []error) {
	if len(paths) == 0 {
		paths = []string{"."} // names stay relative: "dispatching.yml"
	}
	var out []validateInput
	var errs []error
	seen := map[string]bool{}
	for _, p := range paths {
		if p == "-" {
			if seen[stdinName] {
				continue
			}
			seen[stdinName] = true
			data, err := validateReadLimited(s.In)
			if err != nil {
				errs = append(errs, usageErrorf("validate: read standard input: %w", err))
				continue
			}
			size := int64(len(data))
			if len(data) > dispatching.MaxFileSize {
				size = -1
			}
			out = append(out, validateInput{name: stdinName, data: data, size: size})
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			errs = append(errs, usageErrorf("validate: %s: %w", p, validateFSCause(err)))
			continue
		}
		if !st.IsDir() {
			name := filepath.Clean(p)
			if seen[name] {
				continue
			}
			seen[name] = true
			in, err := validateReadFile(name)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, in)
			continue
		}
		if _, err := os.ReadDir(p); err != nil {
			errs = append(errs, usageErrorf("validate: %s: cannot read directory: %w", p, validateFSCause(err)))
			continue
		}
		found := 0
		var first string
		for _, rel := range dispatching.LookupPaths {
			name := filepath.Join(p, filepath.FromSlash(rel))
			st, err := os.Stat(name)
			if errors.Is(err, fs.ErrNotExist) || (err == nil && st.IsDir()) {
				continue
			}
			if err != nil {
				errs = append(errs, usageErrorf("validate: %s: %w", name, validateFSCause(err)))
				found++
				continue
			}
			found++
			if seen[name] {
				continue
			}
			seen[name] = true
			in, err := validateReadFile(name)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if first != "" {
				in.shadowedBy = first
			} else {
				first = name
			}
			out = append(out, in)
		}
		if found == 0 {
			errs = append(errs, usageErrorf("validate: %s: no %s found in this directory", p, strings.Join(dispatching.LookupPaths, " or ")))
		}
	}
	return out, errs
}

func validateReadFile(name string) (validateInput, error) {
	f, err := os.Open(name)
	if err != nil {
		return validateInput{}, usageErrorf("validate: %s: %w", name, validateFSCause(err))
	}
	defer f.Close()
	data, err := validateReadLimited(f)
	if err != nil {
		return validateInput{}, usageErrorf("validate: %s: %w", name, validateFSCause(err))
	}
	in := validateInput{name: name, data: data, size: int64(len(data))}
	if len(data) > dispatching.MaxFileSize {
		in.size = -1
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			in.size = st.Size()
		}
	}
	return in, nil
}

// validateTooLarge is the message for a file over the limit, with its real
// size when known: only the first bytes past the limit are ever read.
func validateTooLarge(in validateInput) string {
	limit := fmt.Sprintf("the limit of %d bytes (%s) that the service reads", dispatching.MaxFileSize, validateHumanSize(dispatching.MaxFileSize))
	if in.size < 0 {
		what := "the file"
		if in.name == stdinName {
			what = "standard input"
		}
		return fmt.Sprintf("%s is larger than %s", what, limit)
	}
	return fmt.Sprintf("file is %s (%d bytes), larger than %s", validateHumanSize(in.size), in.size, limit)
}

// validateHumanSize formats a byte count with a binary unit: 64 KiB,
// 52.0 MiB.
func validateHumanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB"}
	v, i := float64(n)/unit, 0
	for v >= unit && i < len(units)-1 {
		v /= unit
		i++
	}
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d %s", int64(v), units[i])
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

// validateReadLimited reads at most one byte more than dispatching.MaxFileSize, so
// that an oversized file is reported without being read whole.
func validateReadLimited(r io.Reader) ([]byte, error) {
	if r == nil {
		return nil, errors.New("no input")
	}
	return io.ReadAll(io.LimitReader(r, dispatching.MaxFileSize+1))
}

// validateFSCause drops the path that os errors repeat, keeping the cause.
func validateFSCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// validateFileCount counts the files checked: the PATHs' files plus, with
// --world, every dispatching.yml of the folder (the cross-repository checks
// read them all).
func validateFileCount(files []*validatedFile, w *world.World) int {
	seen := map[string]bool{}
	for _, f := range files {
		seen[f.name] = true
	}
	if w != nil {
		for _, r := range w.Repos() {
			if r.ConfigFile != "" {
				seen[r.ConfigFile] = true
			}
		}
	}
	return len(seen)
}

// validateReadFileLines reads a file of at most dispatching.MaxFileSize
// bytes as lines.
func validateReadFileLines(name string) ([]string, error) {
	in, err := validateReadFile(name)
	if err != nil {
		return nil, err
	}
	return validateSplitLines(in.data), nil
}

func validateSplitLines(data []byte) []string {
	s := strings.TrimPrefix(string(data), "\ufeff")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.Split(s, "\n")
}

func validateSummary(errs, warns, files int) string {
	if errs == 0 && warns == 0 {
		return fmt.Sprintf("no problems in %d %s", files, validatePlural(files, "file", "files"))
	}
	return fmt.Sprintf("%d %s, %d %s in %d %s", errs, validatePlural(errs, "error", "errors"), warns, validatePlural(warns, "warning", "warnings"), files, validatePlural(files, "file", "files"))
}

func validatePlural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
