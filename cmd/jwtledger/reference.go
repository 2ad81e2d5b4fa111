package main

import (
	"fmt"
	"io"
)

//go:generate go test -run TestCLIReference -update

// writeReference writes docs/cli-reference.md: the help of every command
// and subcommand, as the command table makes it.
func writeReference(w io.Writer) {
	fmt.Fprint(w, "# CLI reference\n\n")
	fmt.Fprint(w, "Generated from the command table of `cmd/jwtledger` (`go generate ./cmd/jwtledger`;\n")
	fmt.Fprint(w, "its test fails when this file is stale): the help of every command, as\n")
	fmt.Fprint(w, "`jwtledger help COMMAND [SUBCOMMAND]` prints it. [cli.md](cli.md) is the guide.\n\n")
	fmt.Fprint(w, "```text\n")
	writeTopHelp(w)
	fmt.Fprint(w, "```\n")
	var walk func(cmds []*command)
	walk = func(cmds []*command) {
		for _, cmd := range cmds {
			fmt.Fprintf(w, "\n## jwtledger %s\n\n%s\n\n```text\n", cmd.path(), cmd.summary)
			writeHelp(w, cmd)
			fmt.Fprint(w, "```\n")
			walk(cmd.subs)
		}
	}
	walk(commands())
}
