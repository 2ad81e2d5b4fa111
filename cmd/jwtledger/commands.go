package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

// The command table. A command either runs (flags is set) or groups
// subcommands (subs is set); the help of every command, 'jwtledger help'
// and docs/cli-reference.md are generated from it, and each flag's usage
// string is the only text of its help line.
type command struct {
	name    string
	summary string // one line, in the list of its parent
	args    string // the positional arguments in the synopsis, e.g. "[TOKEN|-]"
	doc     string // what it does: printed before the flags
	notes   string // exit status, examples: printed after the flags
	// flags declares the command's flags on fs and returns the function
	// that runs it once they are parsed; it does nothing else, so the help
	// can call it to list the flags.
	flags func(fs *flag.FlagSet) runFunc
	subs  []*command

	parent *command // set by commands
}

// runFunc runs a command with its positional arguments, its flags parsed.
type runFunc func(ctx context.Context, c *cli, pos []string) error

// commands is the table: the top-level commands.
func commands() []*command { return table }

var table = linked([]*command{issueCmd, verifyCmd, decodeCmd, revokeCmd, keysCmd, auditCmd, clientsCmd, storeCmd, serveCmd, witnessCmd, benchCmd, versionCmd})

// linked sets the parent of every subcommand.
func linked(top []*command) []*command {
	for _, cmd := range top {
		for _, sub := range cmd.subs {
			sub.parent = cmd
		}
	}
	return top
}

// path is the command's name as typed: "audit verify".
func (cmd *command) path() string {
	if cmd.parent != nil {
		return cmd.parent.path() + " " + cmd.name
	}
	return cmd.name
}

func find(cmds []*command, name string) *command {
	for _, cmd := range cmds {
		if cmd.name == name {
			return cmd
		}
	}
	return nil
}

// lookup finds the command named by the words of args ("audit", "verify"),
// as deep as they go; nil when the first is no command.
func lookup(args []string) *command {
	if len(args) == 0 {
		return nil
	}
	cmd := find(commands(), args[0])
	for _, a := range args[1:] {
		if cmd == nil || cmd.subs == nil {
			break
		}
		sub := find(cmd.subs, a)
		if sub == nil {
			break
		}
		cmd = sub
	}
	return cmd
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// dispatch runs cmd: a group passes on to its subcommand, a command parses
// its flags and runs.
func (c *cli) dispatch(ctx context.Context, cmd *command, args []string) error {
	if cmd.subs != nil {
		if len(args) == 0 {
			return withHint(usageErr("%s: missing subcommand", cmd.path()), "run 'jwtledger "+cmd.path()+" --help'")
		}
		if isHelp(args[0]) {
			writeHelp(c.stdout, cmd)
			return flag.ErrHelp
		}
		sub := find(cmd.subs, args[0])
		if sub == nil {
			return withHint(usageErr("%s: unknown subcommand %q", cmd.path(), args[0]), "run 'jwtledger "+cmd.path()+" --help'")
		}
		return c.dispatch(ctx, sub, args[1:])
	}
	fs := newFlagSet(cmd)
	run := cmd.flags(fs)
	pos, err := c.parse(cmd, fs, args)
	if err != nil {
		return err
	}
	return run(ctx, c, pos)
}

// newFlagSet makes the silent flag set of cmd: parse prints the help.
func newFlagSet(cmd *command) *flag.FlagSet {
	fs := flag.NewFlagSet(cmd.path(), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// flagsOf lists the flags of a command that runs: its own (sorted by
// name), then those of --server, then those of the ledger.
func flagsOf(cmd *command) []*flag.Flag {
	if cmd.flags == nil {
		return nil
	}
	fs := newFlagSet(cmd)
	cmd.flags(fs)
	var own, remote, ledger []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		switch {
		case ledgerFlagNames[f.Name]:
			ledger = append(ledger, f)
		case remoteFlagNames[f.Name]:
			remote = append(remote, f)
		default:
			own = append(own, f)
		}
	})
	return append(append(own, remote...), ledger...)
}

// Help layout.
const (
	helpWidth  = 79
	helpColumn = 26 // where the usage of a flag starts
)

// flagSynopsis is "--name ARG" (one dash for one-letter flags).
func flagSynopsis(f *flag.Flag) string {
	arg, _ := flag.UnquoteUsage(f)
	dash := "--"
	if len(f.Name) == 1 {
		dash = "-"
	}
	if arg == "" {
		return dash + f.Name
	}
	return dash + f.Name + " " + argName(arg)
}

// argName names the argument of a flag whose usage names none.
func argName(arg string) string {
	switch arg {
	case "string", "value":
		return "S"
	case "duration":
		return "D"
	case "int", "uint":
		return "N"
	case "float":
		return "R"
	}
	return arg
}

// flagHelp is a flag's help text: its usage and its default when that is
// neither empty nor told by the usage.
func flagHelp(f *flag.Flag) string {
	arg, usage := flag.UnquoteUsage(f)
	// A usage that opens with its argument ("`table|json`") need not say
	// it again after the synopsis "--output table|json".
	if strings.HasPrefix(f.Usage, "`"+arg+"`") {
		usage = strings.TrimLeft(strings.TrimPrefix(usage, arg), ":; ")
	}
	def := f.DefValue
	if def != "" && def != "false" && def != "0" && def != "0s" && def != "[]" && !strings.Contains(usage, "(default") {
		usage += " (default " + def + ")"
	}
	return usage
}

// wrap breaks text into lines of at most width runes after indent.
func wrap(text string, indent, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && indent+len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// writeFlags prints one help entry per flag.
func writeFlags(w io.Writer, flags []*flag.Flag) {
	pad := strings.Repeat(" ", helpColumn)
	for _, f := range flags {
		head := "  " + flagSynopsis(f)
		lines := wrap(flagHelp(f), helpColumn, helpWidth)
		if len(head) >= helpColumn-1 || len(lines) == 0 {
			fmt.Fprintln(w, head)
		} else {
			fmt.Fprintf(w, "%-*s%s\n", helpColumn, head, lines[0])
			lines = lines[1:]
		}
		for _, l := range lines {
			fmt.Fprintln(w, pad+l)
		}
	}
}

// synopsis is the usage line of a command (without "Usage: jwtledger").
func synopsis(cmd *command) string {
	s := cmd.path()
	switch {
	case cmd.subs != nil:
		s += " <subcommand> [flags]"
	case len(flagsOf(cmd)) > 0:
		s += " [flags]"
	}
	if cmd.args != "" {
		s += " " + cmd.args
	}
	return s
}

// shortSynopsis lists a subcommand's own flags (not the ledger's or the
// server's) in its group's help.
func shortSynopsis(cmd *command) string {
	parts := []string{cmd.name}
	for _, f := range flagsOf(cmd) {
		if ledgerFlagNames[f.Name] || remoteFlagNames[f.Name] {
			continue
		}
		parts = append(parts, "["+flagSynopsis(f)+"]")
	}
	if cmd.args != "" {
		parts = append(parts, cmd.args)
	}
	return strings.Join(parts, " ")
}

// writeHelp prints the help of a command.
func writeHelp(w io.Writer, cmd *command) {
	fmt.Fprintf(w, "Usage: jwtledger %s\n", synopsis(cmd))
	if cmd.doc != "" {
		fmt.Fprintf(w, "\n%s", cmd.doc)
	}
	if cmd.subs != nil {
		fmt.Fprint(w, "\nSubcommands:\n")
		for _, sub := range cmd.subs {
			lines := wrap(shortSynopsis(sub), 2, helpWidth)
			for i, l := range lines {
				if i > 0 {
					l = "    " + l
				}
				fmt.Fprintf(w, "  %s\n", l)
			}
			for _, l := range wrap(sub.summary, 8, helpWidth) {
				fmt.Fprintf(w, "        %s\n", l)
			}
		}
		fmt.Fprintf(w, "\nRun 'jwtledger %s <subcommand> --help' for the flags of one.\n", cmd.path())
	}
	if flags := flagsOf(cmd); len(flags) > 0 {
		fmt.Fprint(w, "\nFlags:\n")
		writeFlags(w, flags)
	}
	if cmd.notes != "" {
		fmt.Fprintf(w, "\n%s", cmd.notes)
	}
}

// writeTopHelp prints 'jwtledger help'.
func writeTopHelp(w io.Writer) {
	fmt.Fprint(w, `jwtledger issues and verifies JWTs and keeps a durable audit trail of both.

Usage:
  jwtledger <command> [flags] [arguments]

Commands:
`)
	for _, cmd := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprint(w, `
Every long flag has an environment twin: --data-dir is JWTLEDGER_DATA_DIR,
--store is JWTLEDGER_STORE, and so on (the one-letter flags -n and -f have
none). Exit codes: 0 success (token valid), 1 token rejected, 2 usage or
configuration error.

Run 'jwtledger help <command>' or 'jwtledger <command> --help' for details.
`)
}
