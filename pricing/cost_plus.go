package pricing

import (
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/outcomebill/outcomebill/money"
)

// rateCostPlus passes cost through with a markup. Cost is kept in USD; a plan in another
// currency needs rate (units of that currency per USD), and its absence is an error rather than
// a silent 1:1.
func rateCostPlus(p *Price, costUSD decimal.Decimal, c money.Currency, rate *decimal.Decimal) (decimal.Decimal, *CostPlusDetail, error) {
	d := &CostPlusDetail{CostUSD: costUSD, Cost: costUSD, Markup: *p.Markup}
	if c != money.USD {
		if rate == nil {
			return zero, nil, fmt.Errorf("cost_plus in %s: %w to %s", c, ErrNoExchangeRate, c)
		}
		d.ExchangeRate = rate
		d.Cost = costUSD.Mul(*rate)
	}
	return d.Cost.Mul(one.Add(*p.Markup)), d, nil
}
