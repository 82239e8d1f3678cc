package billing

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"fmt"
	"time"

	"github.com/outcomebill/outcomebill/money"
)

// The catalog of public list prices that outcomebill ships, per million tokens in USD. Providers
// that charge nothing extra for cache writes have cache_write equal to input, since written tokens
// are billed as ordinary input there; providers without prompt caching repeat the input price as
// cached_input. Reasoning is empty where reasoning tokens are billed as output. Rows apply from
// 2020-01-01 so that any accepted event finds a price; a vendor corrects any of them with its own
// effective-dated row (PUT /v1/model-prices/{model}), which wins.
//
//go:embed model_catalog.csv
var modelCatalogCSV []byte

// ModelCatalog returns the shipped price rows.
func ModelCatalog() ([]ModelPrice, error) {
	records, err := csv.NewReader(bytes.NewReader(modelCatalogCSV)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("model catalog: %w", err)
	}
	var out []ModelPrice
	for i, r := range records[1:] {
		p := ModelPrice{Model: r[0], Source: r[7], Origin: PriceOriginCatalog}
		var errs [7]error
		p.EffectiveFrom, errs[0] = time.Parse(time.DateOnly, r[1])
		p.Input, errs[1] = money.ParseDecimal(r[2])
		p.CachedInput, errs[2] = money.ParseDecimal(r[3])
		p.CacheWrite, errs[3] = money.ParseDecimal(r[4])
		p.Output, errs[4] = money.ParseDecimal(r[5])
		if r[6] != "" {
			v, err := money.ParseDecimal(r[6])
			p.Reasoning, errs[5] = &v, err
		}
		p.AsOf, errs[6] = time.Parse(time.DateOnly, r[8])
		for _, err := range errs {
			if err != nil {
				return nil, fmt.Errorf("model catalog line %d: %w", i+2, err)
			}
		}
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("model catalog line %d: %w", i+2, err)
		}
		out = append(out, p)
	}
	return out, nil
}
