package pricing

import "github.com/shopspring/decimal"

// ratePackage sells q in whole packages after the free units: a started package is a package,
// and nothing past the free units costs nothing.
func ratePackage(p *Price, q decimal.Decimal) (decimal.Decimal, *PackageDetail) {
	free := orZero(p.FreeUnits)
	billable := q.Sub(free)
	packages := zero
	if billable.IsPositive() {
		// QuoRem rather than Div then Ceil: Div rounds at 16 digits, which could turn a quotient
		// a hair above a whole number into that number and lose a started package.
		quo, rem := billable.QuoRem(*p.PackageSize, 0)
		packages = quo
		if !rem.IsZero() {
			packages = packages.Add(one)
		}
	}
	return packages.Mul(*p.Amount), &PackageDetail{PackageSize: *p.PackageSize, FreeUnits: free,
		Packages: packages, Amount: *p.Amount}
}
