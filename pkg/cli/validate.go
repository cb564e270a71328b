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
)

// stdinName names standard input in diagnostics.
const stdinName = "<stdin>"

type validateOptions struct {
	paths  []string
	format string
	strict bool
	repo   string
}

func newValidateCmd(s Streams) *cobra.Command {
	o := &validateOptions{}
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

Exit status: 0 when no errors were found (warnings do not fail unless
--strict), 1 when problems were found, 2 on a usage or input error (missing
file, unreadable directory, no dispatching.yml in a directory).`,
		Example: `  dispatcher validate
  dispatcher validate path/to/repo other/dispatching.yml
  dispatcher validate --repo acme/api --strict dispatching.yml
  cat dispatching.yml | dispatcher validate -
  dispatcher validate --format github
  dispatcher validate --format sarif > dispatcher.sarif`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.paths = args
			return runValidate(s, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", diagFormatText, "output format: "+strings.Join(diagFormats, ", "))
	f.BoolVar(&o.strict, "strict", false, "exit 1 on warnings too")
	f.StringVar(&o.repo, "repo", "", "OWNER/NAME of the repository that holds the file, for the self-dispatch check (one PATH only)")
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
		return usageErrorf("--format: unknown format %q (expected %s)", o.format, strings.Join(diagFormats, ", "))
	}
	if o.repo != "" {
		if owner, name, ok := strings.Cut(o.repo, "/"); !ok || owner == "" || name == "" || strings.Contains(name, "/") {
			return usageErrorf("--repo: %q is not OWNER/NAME", o.repo)
		}
		if len(o.paths) > 1 {
			return usageErrorf("--repo names the repository of one file; got %d paths", len(o.paths))
		}
	}
	inputs, err := collectValidateInputs(s, o.paths)
	if err != nil {
		return err
	}
	files, diags := checkFiles(inputs, dispatching.LintOptions{Repo: o.repo})
	// Cross-repository checks (--world DIR) belong here: a separate
	// function that takes files and returns more diagnostics.
	diags = dispatching.SortDiagnostics(diags)

	src := func(file string, line int) (string, bool) {
		for _, f := range files {
			if f.name == file && line >= 1 && line <= len(f.lines) {
				return f.lines[line-1], true
			}
		}
		return "", false
	}
	if err := renderDiagnostics(s.Out, o.format, diags, src, s.Color(s.OutTTY)); err != nil {
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
	if o.format == diagFormatText {
		fmt.Fprintln(s.Err, validateSummary(errs, warns, len(files)))
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
		cfg, ds := dispatching.Parse(in.name, in.data)
		diags = append(diags, ds...)
		if cfg != nil {
			f.config = cfg
			diags = append(diags, dispatching.Lint(in.name, cfg, opts)...)
		}
		if in.shadowedBy != "" {
			diags = append(diags, dispatching.Diagnostic{File: in.name, Line: 1, Column: 1, Severity: dispatching.SeverityWarning, Rule: dispatching.RuleShadowedFile,
				Message: fmt.Sprintf("this file is never read: %s exists and takes precedence", in.shadowedBy)})
		}
	}
	return files, diags
}

// collectValidateInputs resolves PATH arguments into files, in argument
// order. Any path that cannot be read is a usage error naming the path.
func collectValidateInputs(s Streams, paths []string) ([]validateInput, error) {
	if len(paths) == 0 {
		paths = []string{"."} // names stay relative: "dispatching.yml"
	}
	var out []validateInput
	seen := map[string]bool{}
	for _, p := range paths {
		if p == "-" {
			if seen[stdinName] {
				continue
			}
			seen[stdinName] = true
			data, err := validateReadLimited(s.In)
			if err != nil {
				return nil, usageErrorf("validate: read standard input: %w", err)
			}
			out = append(out, validateInput{name: stdinName, data: data})
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return nil, usageErrorf("validate: %s: %w", p, validateFSCause(err))
		}
		if !st.IsDir() {
			name := filepath.Clean(p)
			if seen[name] {
				continue
			}
			seen[name] = true
			in, err := validateReadFile(name)
			if err != nil {
				return nil, err
			}
			out = append(out, in)
			continue
		}
		if _, err := os.ReadDir(p); err != nil {
			return nil, usageErrorf("validate: %s: cannot read directory: %w", p, validateFSCause(err))
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
				return nil, usageErrorf("validate: %s: %w", name, validateFSCause(err))
			}
			found++
			if seen[name] {
				continue
			}
			seen[name] = true
			in, err := validateReadFile(name)
			if err != nil {
				return nil, err
			}
			if first != "" {
				in.shadowedBy = first
			} else {
				first = name
			}
			out = append(out, in)
		}
		if found == 0 {
			return nil, usageErrorf("validate: %s: no %s found in this directory", p, strings.Join(dispatching.LookupPaths, " or "))
		}
	}
	return out, nil
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
	return validateInput{name: name, data: data}, nil
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
