package billing

import "github.com/outcomebill/outcomebill/money"

// Page asks for one page of a list: at most Limit rows after the opaque Cursor that the previous
// page returned. A zero Limit means DefaultPageLimit; more than MaxPageLimit is cut to it.
type Page struct {
	Cursor string
	Limit  int
}

// Pagination limits for every list.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 200
)

// CustomerPatch holds the fields PATCH /v1/customers/{id} may change; nil leaves a field as is.
type CustomerPatch struct {
	Name      *string
	Currency  *money.Currency
	Timezone  *string
	AnchorDay *int
}
