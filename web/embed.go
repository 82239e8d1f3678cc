// Package web holds the dashboard: plain HTML, CSS and ES modules, with one vendored chart
// library, embedded into the binary and served by package api. There is no build step: what is in
// this folder is what the browser runs (see VENDOR.md for why and for the one vendored file).
//
// It imports nothing but the standard library's embed and io/fs.
package web

import (
	"embed"
	"io/fs"
)

//go:embed index.html assets
var files embed.FS

// Files returns the dashboard's files: index.html at the root and everything under assets/.
func Files() fs.FS { return files }
