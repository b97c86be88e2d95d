// Command termination-api serves the HTTP API of termination orders over a
// Temporal service and the status store. It never embeds a Temporal server.
//
//	termination-api [--config termination.yaml] [--api-address 0.0.0.0:8234] ...
//	termination-api --health-check                        # is the running API ready? exit 0 or 1
//	termination-api new-key --name shop-backend --role backend   # a new API key and its entry
//	termination-api new-encryption-key --id 2026-11 >> keys     # a new payload encryption key
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/api"
	"github.com/cloudmarket/termination-orders/app"
	"github.com/cloudmarket/termination-orders/codec"
	"github.com/cloudmarket/termination-orders/config"
	"github.com/cloudmarket/termination-orders/internal/command"
)

func main() {
	os.Exit(command.Execute(context.Background(), newCommand(), os.Args[1:]))
}

func newCommand() *cobra.Command {
	root := command.New(command.Options{
		Name:  "termination-api",
		Short: "Serve the HTTP API of termination orders",
		Of:    config.CLI | config.API,
		HealthCheck: func(ctx context.Context, a app.App) (string, error) {
			return a.CheckAPIReady(ctx)
		},
		Run: func(ctx context.Context, a app.App, logger *zap.Logger) error {
			return a.RunAPI(ctx, logger, nil)
		},
	})
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(newKeyCommand(), newEncryptionKeyCommand())
	return root
}

// newKeyCommand prints a new API key, for the caller, and its entry for
// api.keys_file or api.keys, for the server.
func newKeyCommand() *cobra.Command {
	var name, role string
	cmd := &cobra.Command{
		Use:     "new-key",
		Short:   "Make a new API key and print it with its entry for api.keys_file",
		Example: "  termination-api new-key --name shop-backend --role backend",
		Args:    command.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := api.ParseRole(role)
			if err != nil {
				return command.Usage(fmt.Errorf("--role: %w", err))
			}
			key, entry, err := api.NewKey(name, r)
			if err != nil {
				return command.Usage(err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "API key (give it to the caller; it is not stored anywhere): %s\n", key)
			fmt.Fprintf(out, "Entry for api.keys_file or TERMINATION_API_KEYS (the server keeps only the hash): %s\n", entry)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "name of the key, as logs show the caller (e.g. shop-backend)")
	cmd.Flags().StringVar(&role, "role", "", "role the key grants: backend, operations or reader")
	return cmd
}

// newEncryptionKeyCommand prints a new payload encryption key as a
// codec.keys_file line (id:base64) on stdout, and how to roll it out on
// stderr, so that `>> keys` keeps only the key.
func newEncryptionKeyCommand() *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use:     "new-encryption-key",
		Short:   "Make a new payload encryption key and print it as a line of codec.keys_file",
		Example: "  termination-api new-encryption-key --id 2026-11 >> keys",
		Args:    command.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := codec.NewKey(id)
			if err != nil {
				return command.Usage(fmt.Errorf("--id: %w", err))
			}
			fmt.Fprintln(cmd.OutOrStdout(), k.Entry())
			fmt.Fprintf(cmd.ErrOrStderr(), "New AES-256 key %s (the line above; keep it secret). To rotate: add the line to codec.keys_file (or TERMINATION_CODEC_KEYS) of every\n"+
				"process, the codec server included; once all of them hold it, set codec.active_key=%s everywhere. Keep the old key in the ring\n"+
				"while any order it encrypted may still run: its reopen window plus its wait for the unlink.\n", k.ID, k.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&id, "id", "", "ID of the key, written in every payload it encrypts (e.g. 2026-11; letters, digits, '-', '_', '.')")
	return cmd
}
