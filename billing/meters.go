package billing

import (
	"sort"
	"strconv"
	"strings"

	"github.com/outcomebill/outcomebill/pricing"
)

// Meters a plan's usage charges may price (DESIGN.md §4: "outcome counts or any other metered
// quantity"). They are measured from the usage events that occurred in the period, for every task
// of the customer, billable or not: tokens and cost are consumed whether or not the outcome bills.
var Meters = map[string]string{
	"tokens":              "all tokens of usage events: input, cached input, cache write, reasoning and output",
	"tokens.input":        "input tokens",
	"tokens.cached_input": "cached (cache-read) input tokens",
	"tokens.cache_write":  "cache-write tokens",
	"tokens.reasoning":    "reasoning tokens",
	"tokens.output":       "output tokens",
	"cost_usd":            "token and other cost in USD, at the catalog or vendor price",
	"usage_events":        "usage events",
}

// TransactionMeters are the transaction streams percentage charges may take a share of.
var TransactionMeters = map[string]string{
	// The vendor puts the value an outcome handled (a reconciled invoice's amount, a recovered
	// payment) in task.started's metadata as a decimal string in the plan's currency.
	"transaction_amount": "metadata.transaction_amount of the period's billable tasks",
}

// checkMeters refuses charges on meters outcomebill does not measure: such a charge would rate
// to nothing on every invoice without anyone noticing.
func checkMeters(prefix string, prices []pricing.Charge) error {
	for i, c := range prices {
		if c.Meter == "" {
			continue
		}
		known := Meters
		if c.Model == pricing.ModelPercentage {
			known = TransactionMeters
		}
		if _, ok := known[c.Meter]; !ok {
			names := make([]string, 0, len(known))
			for n := range known {
				names = append(names, n)
			}
			sort.Strings(names)
			return Invalid(prefix+"prices["+strconv.Itoa(i)+"].meter", "unknown meter %q: want one of %s", c.Meter, strings.Join(names, ", "))
		}
	}
	return nil
}
