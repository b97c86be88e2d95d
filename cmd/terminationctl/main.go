// Command terminationctl starts and drives termination orders from the shell.
// Run it with --help for the commands.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/cloudmarket/termination-orders/starter/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
