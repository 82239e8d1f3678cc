package pricing

import "testing"

func TestPercentage(t *testing.T) {
	full := Price{Model: ModelPercentage, Rate: dp("0.013"), FixedFee: dp("0.30"), Min: dp("0.50"), Max: dp("5")}
	tests := []struct {
		name       string
		price      Price
		txs        []string
		want       string
		raised     int64
		lowered    int64
		wantAmount string
	}{
		{"no transactions", full, nil, "0", 0, 0, "0"},
		{"rate only", Price{Model: ModelPercentage, Rate: dp("0.013")}, []string{"100", "50"}, "1.95", 0, 0, "1.95"},
		{"fixed fee per transaction", Price{Model: ModelPercentage, Rate: dp("0.013"), FixedFee: dp("0.3")}, []string{"100", "50"}, "2.55", 0, 0, "2.55"},
		{"raised to min", full, []string{"10"}, "0.5", 1, 0, "0.5"},
		{"lowered to max", full, []string{"1000"}, "5", 0, 1, "5"},
		{"mixed, summed at full precision then rounded once", full, []string{"10", "100", "1000", "33.33"}, "7.83329", 1, 1, "7.83"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var txs []decimalT
			for _, s := range tt.txs {
				txs = append(txs, d(s))
			}
			res := rateOne(t, "USD", Charge{Meter: "payments", Price: tt.price}, Usage{Transactions: map[string][]decimalT{"payments": txs}})
			l := lineOf(t, res, KindCharge)
			wantAmount(t, "unrounded", l.Explanation.Unrounded, tt.want)
			wantAmount(t, "amount", l.Amount, tt.wantAmount)
			p := l.Explanation.Percentage
			if p.RaisedToMin != tt.raised || p.LoweredToMax != tt.lowered || p.Transactions != int64(len(tt.txs)) {
				t.Errorf("detail = %+v", p)
			}
		})
	}
}
