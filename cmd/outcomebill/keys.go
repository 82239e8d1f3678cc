package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/outcomebill/outcomebill/postgres"
)

func newKeysCmd() *cobra.Command {
	keys := &cobra.Command{Use: "keys", Short: "Manage API keys"}
	var cfg config
	var name string
	var scopes []string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an API key and print it (it is shown once)",
		Example: `  outcomebill keys create --name bootstrap --scope admin
  outcomebill keys create --name agents --scope ingest`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.needDatabase(); err != nil {
				return err
			}
			db, err := postgres.Open(cmd.Context(), cfg.databaseURL)
			if err != nil {
				return err
			}
			defer db.Close()
			k, token, err := db.CreateAPIKey(cmd.Context(), name, scopes, "")
			if err != nil {
				return err
			}
			// The key goes to stdout alone, so that `KEY=$(outcomebill keys create …)` works; the
			// description goes to stderr.
			fmt.Fprintf(cmd.ErrOrStderr(), "created key %s (%s) with scopes %v; it is not shown again\n", k.ID, k.Name, k.Scopes)
			fmt.Fprintln(cmd.OutOrStdout(), token)
			return nil
		},
	}
	cfg.addDatabase(create)
	create.Flags().StringVar(&name, "name", "bootstrap", "a name that says what the key is for")
	create.Flags().StringSliceVar(&scopes, "scope", []string{"admin"}, "scopes: ingest, admin, finance (repeat or comma-separate)")
	keys.AddCommand(create)
	return keys
}
