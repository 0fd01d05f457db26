package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/shipgate/shipgate"
	"github.com/spf13/cobra"
)

// guardSubcommands makes every command that groups others refuse a word
// that names none of them: cobra shows a group's help and exits 0 for
// `shipgate release lsit`, which a script reads as success. A group alone
// still shows its help. A runnable command whose own arguments are
// operands (rollback SERVICE) keeps them.
func guardSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		guardSubcommands(sub)
	}
	if !c.HasSubCommands() {
		return
	}
	if !c.Runnable() {
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return unknownCommand(cmd, args[0])
		}
		return
	}
	orig := c.Args
	c.Args = func(cmd *cobra.Command, args []string) error {
		if orig == nil {
			return nil
		}
		if len(args) == 0 { // its own operand left out (rollback SERVICE)
			return orig(cmd, args)
		}
		if err := orig(cmd, args); err != nil {
			return unknownCommand(cmd, args[0])
		}
		return nil
	}
}

// unknownCommand is the error for a word that names no subcommand of cmd.
func unknownCommand(cmd *cobra.Command, word string) error {
	var all, shown []string
	for _, sub := range cmd.Commands() {
		all = append(all, sub.Name())
		if sub.IsAvailableCommand() && sub.Name() != "help" && sub.Name() != "completion" {
			shown = append(shown, sub.Name())
		}
	}
	msg := fmt.Sprintf("unknown command %q for %q", word, cmd.CommandPath())
	if s := suggest(word, all); s != "" {
		return fmt.Errorf("%s; did you mean %q?", msg, s)
	}
	if len(shown) == 0 {
		return fmt.Errorf("%s (see %s --help)", msg, cmd.CommandPath())
	}
	return fmt.Errorf("%s; its commands are %s (see %s --help)", msg, strings.Join(shown, ", "), cmd.CommandPath())
}

// suggest is the word of known that s is a likely typo of: the closest
// within a third of its length (at least two edits), or the only one s
// is a prefix of; "" when there is none.
func suggest(s string, known []string) string {
	best, bestD := "", max(2, len(s)/3)+1
	for _, k := range known {
		if d := shipgate.EditDistance(strings.ToLower(s), k); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return best
	}
	var prefixed []string
	for _, k := range known {
		if s != "" && strings.HasPrefix(k, s) {
			prefixed = append(prefixed, k)
		}
	}
	if len(prefixed) == 1 {
		return prefixed[0]
	}
	return ""
}

// enumValue is a flag whose values come from a fixed list: a typo is
// refused when the command line is parsed, with the allowed values and a
// suggestion, instead of asking the server for something that cannot
// exist (`release list --state runing` printed an empty table). With
// list set it takes several values, comma-separated or repeated.
type enumValue struct {
	what    string // "release state", "output format"
	allowed []string
	one     *string
	list    *[]string
	set     bool
}

// enumFlag defines a flag taking one of allowed, defaulting to def.
func enumFlag(cmd *cobra.Command, p *string, name, shorthand, def, what string, allowed []string, usage string) {
	*p = def
	cmd.Flags().VarP(&enumValue{what: what, allowed: allowed, one: p}, name, shorthand, usage+" ("+strings.Join(allowed, ", ")+")")
}

// enumListFlag defines a flag taking any of allowed, comma-separated or
// repeated.
func enumListFlag(cmd *cobra.Command, p *[]string, name, what string, allowed []string, usage string) {
	cmd.Flags().VarP(&enumValue{what: what, allowed: allowed, list: p}, name, "", usage+" ("+strings.Join(allowed, ", ")+"; comma-separated or repeated)")
}

func (e *enumValue) Set(s string) error {
	if e.one != nil {
		v, err := e.check(s)
		if err == nil {
			*e.one = v
		}
		return err
	}
	if !e.set {
		*e.list, e.set = nil, true // the first use replaces the default
	}
	for _, part := range strings.Split(s, ",") {
		v, err := e.check(part)
		if err != nil {
			return err
		}
		*e.list = append(*e.list, v)
	}
	return nil
}

func (e *enumValue) check(s string) (string, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	if slices.Contains(e.allowed, v) {
		return v, nil
	}
	msg := fmt.Sprintf("unknown %s %q", e.what, s)
	if sug := suggest(v, e.allowed); sug != "" {
		msg += fmt.Sprintf("; did you mean %q?", sug)
	}
	return "", fmt.Errorf("%s (one of %s)", msg, strings.Join(e.allowed, ", "))
}

func (e *enumValue) String() string {
	if e.one != nil {
		return *e.one
	}
	if e.list == nil {
		return ""
	}
	return strings.Join(*e.list, ",")
}

func (e *enumValue) Type() string {
	if e.list != nil {
		return "strings"
	}
	return "string"
}

// releaseStates are the values of release list --state: the domain's list,
// so a new state is accepted by the CLI the day it exists.
var releaseStates = func() []string {
	out := make([]string, len(shipgate.ReleaseStates))
	for i, st := range shipgate.ReleaseStates {
		out[i] = string(st)
	}
	return out
}()

// roleNames are the values of --role and --roles.
func roleNames() []string {
	out := make([]string, len(shipgate.Roles))
	for i, r := range shipgate.Roles {
		out[i] = string(r)
	}
	return out
}

// oneArg is the Args of a command that takes exactly one ID or name:
// left out or given twice, it says what it needs (what, e.g. "a release
// ID") and the command that lists them (list, "" for none), instead of
// cobra's "accepts 1 arg(s), received 0".
func oneArg(what, list string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 1 {
			return nil
		}
		name := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
		see := ""
		if list != "" {
			see = " (see `" + cmd.Root().Name() + " " + list + "`)"
		}
		if len(args) == 0 {
			return fmt.Errorf("%s needs %s%s", name, what, see)
		}
		_, noun, _ := strings.Cut(what, " ") // "a release ID" → "release ID"
		return fmt.Errorf("%s takes one %s, not %d%s", name, noun, len(args), see)
	}
}

// helpCommand is `shipgate help [command…]`: the help of that command, or,
// for a word that names none, the same refusal (non-zero, "did you mean")
// as running it — cobra's own help printed the top-level help and exited 0.
func helpCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			at := root
			for _, word := range args {
				var next *cobra.Command
				for _, sub := range at.Commands() {
					if sub.Name() == word || sub.HasAlias(word) {
						next = sub
						break
					}
				}
				if next == nil {
					return unknownCommand(at, word)
				}
				at = next
			}
			return at.Help()
		},
	}
}
