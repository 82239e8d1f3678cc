package pricing

import "testing"

func TestPackage(t *testing.T) {
	tests := []struct {
		name, q, free string
		wantPackages  string
		wantAmount    string
	}{
		{"zero usage costs nothing", "0", "", "0", "0"},
		{"one unit starts a package", "1", "", "1", "5"},
		{"exactly one package", "100", "", "1", "5"},
		{"partial package is a whole package", "100.5", "", "2", "10"},
		{"within free units costs nothing", "50", "50", "0", "0"},
		{"just past free units", "50.01", "50", "1", "5"},
		{"free units then two packages", "250", "50", "2", "10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Price{Model: ModelPackage, PackageSize: dp("100"), Amount: dp("5")}
			if tt.free != "" {
				p.FreeUnits = dp(tt.free)
			}
			res := rateOne(t, "USD", Charge{Meter: "pages", Price: p}, Usage{Meters: map[string]decimalT{"pages": d(tt.q)}})
			l := lineOf(t, res, KindCharge)
			wantAmount(t, "packages", l.Quantity, tt.wantPackages)
			wantAmount(t, "amount", l.Amount, tt.wantAmount)
		})
	}
}

// 1/3 is not exact in decimal; a package count must not be lost to Div's rounding.
func TestPackageCountIsExact(t *testing.T) {
	p := Price{Model: ModelPackage, PackageSize: dp("0.3333333333333333333333"), Amount: dp("1")}
	res := rateOne(t, "USD", Charge{Meter: "m", Price: p}, Usage{Meters: map[string]decimalT{"m": d("1")}})
	wantAmount(t, "packages", lineOf(t, res, KindCharge).Quantity, "4")
}
