package cli

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// This file turns cobra's and pflag's own usage errors into one plain line
// that names the command, the flag and what was expected, in the style of
// the rest of the command line ("validate: unknown flag --formt; did you
// mean --format? (see dispatcher validate --help)").

// usageCmdName is the command path without the program name: "validate",
// "replay-dlq inspect", or "" for the root command.
func usageCmdName(cmd *cobra.Command) string {
	if cmd == nil || !cmd.HasParent() {
		return ""
	}
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
}

// usageHelpHint is the "(see dispatcher validate --help)" suffix.
func usageHelpHint(cmd *cobra.Command) string {
	if cmd == nil {
		return "(see dispatcher --help)"
	}
	return "(see " + cmd.CommandPath() + " --help)"
}

// usagePrefix is "validate: " for a subcommand, "" for the root.
func usagePrefix(cmd *cobra.Command) string {
	if n := usageCmdName(cmd); n != "" {
		return n + ": "
	}
	return ""
}

// usageFlagError is the root's FlagErrorFunc: pflag's errors ("unknown
// flag: --formt", "invalid argument "x" for "--limit" flag:
// strconv.ParseInt: ...") become one line naming the flag and what it takes.
func usageFlagError(cmd *cobra.Command, err error) error {
	var notExist *pflag.NotExistError
	var needsValue *pflag.ValueRequiredError
	var invalid *pflag.InvalidValueError
	var syntax *pflag.InvalidSyntaxError
	switch {
	case errors.As(err, &notExist):
		msg := usagePrefix(cmd) + "unknown flag --" + notExist.GetSpecifiedName()
		if notExist.GetSpecifiedShortnames() != "" {
			msg = usagePrefix(cmd) + "unknown flag -" + notExist.GetSpecifiedName()
		} else if s := usageSuggestFlag(cmd, notExist.GetSpecifiedName()); s != "" {
			msg += "; did you mean --" + s + "?"
		}
		return usageErrorf("%s %s", msg, usageHelpHint(cmd))
	case errors.As(err, &needsValue):
		f := needsValue.GetFlag()
		if f == nil {
			break
		}
		varname, usage := pflag.UnquoteUsage(f)
		if varname == "" {
			varname = "a value"
		}
		return usageErrorf("%s--%s needs %s (%s)", usagePrefix(cmd), f.Name, varname, usage)
	case errors.As(err, &invalid):
		f := invalid.GetFlag()
		if f == nil {
			break
		}
		return usageErrorf("%s--%s %q: %s", usagePrefix(cmd), f.Name, invalid.GetValue(), usageExpected(f))
	case errors.As(err, &syntax):
		return usageErrorf("%sbad flag syntax %s: flags are --name or --name=value %s", usagePrefix(cmd), syntax.GetSpecifiedFlag(), usageHelpHint(cmd))
	}
	return &UsageError{Err: err}
}

// usageExpected says what a typed flag takes.
func usageExpected(f *pflag.Flag) string {
	switch f.Value.Type() {
	case "int", "int64", "int32", "uint", "uint64":
		return "expected a whole number"
	case "int64Slice", "intSlice":
		return "expected whole numbers (repeat the flag or separate them with commas)"
	case "bool":
		return "expected true or false"
	case "duration":
		return "expected a duration such as 30s or 5m"
	case "color":
		return "expected auto, always or never"
	}
	return "invalid value"
}

// usageSuggestFlag returns the name of the flag of cmd closest to name
// (edit distance at most 2, or a prefix), or "".
func usageSuggestFlag(cmd *cobra.Command, name string) string {
	if cmd == nil || len(name) < 2 {
		return ""
	}
	best, bestDist := "", 3
	visit := func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		d := usageEditDistance(strings.ToLower(name), f.Name)
		if strings.HasPrefix(f.Name, name) {
			d = min(d, 1)
		}
		if d < bestDist || (d == bestDist && f.Name < best) {
			best, bestDist = f.Name, d
		}
	}
	cmd.Flags().VisitAll(visit)
	cmd.InheritedFlags().VisitAll(visit)
	return best
}

// usageEditDistance is the Levenshtein distance between a and b.
func usageEditDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// usageNoArgs is cobra.NoArgs with a plain message.
func usageNoArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 && cmd.HasAvailableSubCommands() {
		msg := fmt.Sprintf("%sunknown command %q", usagePrefix(cmd), args[0])
		if cmd.SuggestionsMinimumDistance <= 0 {
			cmd.SuggestionsMinimumDistance = 2
		}
		if sugg := cmd.SuggestionsFor(args[0]); len(sugg) > 0 {
			msg += "; did you mean " + strings.Join(sugg, " or ") + "?"
		}
		return usageErrorf("%s %s", msg, usageHelpHint(cmd))
	}
	if len(args) > 0 {
		return usageErrorf("%sunexpected argument %q: %s takes only flags %s", usagePrefix(cmd), args[0], cmd.Name(), usageHelpHint(cmd))
	}
	return nil
}

// usageExactlyOne is cobra.ExactArgs(1) naming what the argument is, e.g.
// usageExactlyOne("SHELL", "bash, zsh, fish or powershell").
func usageExactlyOne(what, expected string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) == 0:
			return usageErrorf("%smissing %s (%s)", usagePrefix(cmd), what, expected)
		case len(args) > 1:
			return usageErrorf("%sexpected one %s, got %d arguments: %s", usagePrefix(cmd), what, len(args), strings.Join(args, " "))
		}
		return nil
	}
}

var (
	usageUnknownCommandRE = regexp.MustCompile(`^unknown command "(.*)" for "(.*?)"`)
	usageExclusiveRE      = regexp.MustCompile(`^if any flags in the group \[([^\]]*)\] are set none of the others can be; \[([^\]]*)\] were all set`)
)

// usageRewrite turns the usage errors cobra returns as plain strings (an
// unknown command, missing required flags, mutually exclusive flags) into
// one line; other errors are returned unchanged. cmd is the command cobra
// ran (or tried to).
func usageRewrite(cmd *cobra.Command, err error) error {
	if err == nil {
		return nil
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		return err
	}
	msg := err.Error()
	if m := usageUnknownCommandRE.FindStringSubmatch(msg); m != nil {
		line := fmt.Sprintf("unknown command %q", m[1])
		if _, rest, ok := strings.Cut(msg, "Did you mean this?\n"); ok {
			if sugg := strings.Fields(rest); len(sugg) > 0 {
				line += "; did you mean " + strings.Join(sugg, " or ") + "?"
			}
		}
		return usageErrorf("%s %s", line, usageHelpHint(cmd))
	}
	if strings.HasPrefix(msg, "required flag(s) ") && cmd != nil {
		var missing []string
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if _, req := f.Annotations[cobra.BashCompOneRequiredFlag]; req && !f.Changed {
				varname, _ := pflag.UnquoteUsage(f)
				missing = append(missing, strings.TrimSpace("--"+f.Name+" "+varname))
			}
		})
		if len(missing) > 0 {
			sort.Strings(missing)
			return usageErrorf("%smissing %s %s", usagePrefix(cmd), usageJoinAnd(missing), usageHelpHint(cmd))
		}
	}
	if m := usageExclusiveRE.FindStringSubmatch(msg); m != nil {
		var set []string
		for _, f := range strings.Fields(m[2]) {
			set = append(set, "--"+f)
		}
		return usageErrorf("%s%s cannot be used together %s", usagePrefix(cmd), usageJoinAnd(set), usageHelpHint(cmd))
	}
	return err
}

// usageJoinOr joins "a", "b" and "c" as "a, b or c".
func usageJoinOr(xs []string) string {
	if len(xs) < 2 {
		return strings.Join(xs, "")
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}

// usageJoinAnd joins "a", "b" and "c" as "a, b and c".
func usageJoinAnd(xs []string) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " and " + xs[len(xs)-1]
}
