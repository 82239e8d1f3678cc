package main

import (
	"os"
	"strconv"

	"github.com/outcomebill/outcomebill/api"
	"github.com/outcomebill/outcomebill/postgres"
	"github.com/outcomebill/outcomebill/workflows"
)

// The store satisfies the interfaces the API and the workflows declare for it; checked here, where
// the three meet, so that neither of them has to import postgres.
var (
	_ api.CustomerStore      = (*postgres.DB)(nil)
	_ api.OutcomeTypeStore   = (*postgres.DB)(nil)
	_ api.ModelPriceStore    = (*postgres.DB)(nil)
	_ api.KeyStore           = (*postgres.DB)(nil)
	_ api.EventStore         = (*postgres.DB)(nil)
	_ api.EventImporter      = (*postgres.DB)(nil)
	_ api.PlanStore          = (*postgres.DB)(nil)
	_ api.TaskStore          = (*postgres.DB)(nil)
	_ api.InvoiceStore       = (*postgres.DB)(nil)
	_ api.EconomicsStore     = (*postgres.DB)(nil)
	_ workflows.TaskStore    = (*postgres.DB)(nil)
	_ workflows.OutboxStore  = (*postgres.DB)(nil)
	_ workflows.Store        = (*postgres.DB)(nil)
	_ workflows.RunQueue     = (*postgres.DB)(nil)
	_ api.InvoiceRunStore    = (*postgres.DB)(nil)
	_ api.WebhookStore       = (*postgres.DB)(nil)
	_ workflows.WebhookStore = (*postgres.DB)(nil)
)

// What-if simulations (issue 9).
var (
	_ workflows.SimulationStore = (*postgres.DB)(nil)
	_ api.SimulationStore       = (*postgres.DB)(nil)
)

// webhookAllowPrivate lets webhook endpoints (API) and deliveries (worker) use loopback and
// private addresses; off by default, so that a webhook cannot be aimed at the network outcomebill
// runs in. Local setups whose receivers listen on 127.0.0.1 set OUTCOMEBILL_WEBHOOK_ALLOW_PRIVATE=1.
var webhookAllowPrivate = envBool("OUTCOMEBILL_WEBHOOK_ALLOW_PRIVATE")

func envBool(name string) bool {
	v, _ := strconv.ParseBool(os.Getenv(name))
	return v
}
