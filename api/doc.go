// Package api is outcomebill's HTTP API on Gin: routes, authentication and scopes, request
// decoding, and the one mapping from billing's error codes to HTTP statuses.
//
// Handlers are thin — parse, one call, render. The package sees the store and Temporal only
// through the small interfaces declared here; it never imports postgres or workflows (cmd wires
// them in).
package api
