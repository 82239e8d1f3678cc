package pricing

import "testing"

func TestVolume(t *testing.T) {
	tests := []struct {
		name     string
		q        string
		want     string
		wantTier int
	}{
		{"zero is in the first tier and pays its flat fee", "0", "10", 0},
		{"exactly at the edge stays in tier 1", "5", "15", 0},
		{"a hair past the edge prices everything at tier 2", "5.001", "4.5005", 1},
		{"exactly at the second edge", "10", "7", 1},
		{"open-ended tier", "12", "1.2", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := rateOne(t, "USD", Charge{Meter: "tokens", Price: Price{Model: ModelVolume, Tiers: stepTiers}},
				Usage{Meters: map[string]decimalT{"tokens": d(tt.q)}})
			l := lineOf(t, res, KindCharge)
			wantAmount(t, "unrounded", l.Explanation.Unrounded, tt.want)
			if got := l.Explanation.Tiers[0].Tier; got != tt.wantTier {
				t.Errorf("tier = %d, want %d", got, tt.wantTier)
			}
		})
	}
}

func TestVolumeJPYAndBHD(t *testing.T) {
	tr := tiers("1000", "0.015", "0", "-", "0.0125", "0")
	for _, tt := range []struct {
		cur        string
		q, want    string
		wantUnit   bool
		wantAmount string
	}{
		{"JPY", "1500", "18.75", true, "19"},
		{"BHD", "1500", "18.75", true, "18.75"},
		{"BHD", "999.96", "14.9994", true, "14.999"},
	} {
		res := rateOne(t, moneyCurrency(tt.cur), Charge{Meter: "calls", Price: Price{Model: ModelVolume, Tiers: tr}},
			Usage{Meters: map[string]decimalT{"calls": d(tt.q)}})
		l := lineOf(t, res, KindCharge)
		wantAmount(t, tt.cur+" unrounded", l.Explanation.Unrounded, tt.want)
		wantAmount(t, tt.cur+" amount", l.Amount, tt.wantAmount)
	}
}
