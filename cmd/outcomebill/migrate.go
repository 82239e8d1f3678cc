package main

import (
	"github.com/spf13/cobra"
)

func newMigrateCmd() *cobra.Command {
	var cfg config
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database migrations and seed the model price catalog",
		Long: `Applies every embedded migration not yet applied (forward only) and adds the shipped
model price catalog rows that are missing. serve and worker do this at start-up as well; run it
on its own to migrate before a deployment.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := cfg.logger()
			if err := cfg.needDatabase(); err != nil {
				return err
			}
			db, err := openAndMigrate(cmd.Context(), cfg.databaseURL, log)
			if err != nil {
				return err
			}
			db.Close()
			log.Info("database is up to date")
			return nil
		},
	}
	cfg.addDatabase(cmd)
	cfg.addLog(cmd)
	return cmd
}
