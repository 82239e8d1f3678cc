package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/web"
)

// The dashboard (package web) is served by the router's NoRoute handler rather than by routes in
// the table: the table is the API and what /openapi.json documents, and the dashboard is not API.
// Every GET or HEAD outside /v1/ that no route matches gets the page, so that a deep link such as
// /invoices/inv_123 loads the app, which then routes in the browser; /assets/... are its files.

// meRoutes is what the dashboard asks first: which key it holds, and so which pages to show.
func meRoutes() []route {
	anyKey := []string{billing.ScopeAdmin, billing.ScopeFinance, billing.ScopeIngest, billing.ScopeViewer}
	return []route{
		{"GET", "/v1/me", anyKey, "The calling key: id, name, scopes and, for a viewer key, its customer", "", "APIKey", 200, (*Server).me},
	}
}

func (s *Server) me() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.JSON(http.StatusOK, renderAPIKey(c.MustGet(apiKeyKey).(billing.APIKey)))
	}
}

// dashboardCSP allows the page's own scripts, styles and API calls and nothing else: no inline
// script or style, no eval, no framing, no other origin. Data reaches the page only as JSON the
// scripts put into text nodes.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// setDashboardHeaders is set on every dashboard response, pages and files alike.
func setDashboardHeaders(h http.Header) {
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	// Files are not fingerprinted, so the browser revalidates each time; the ETag makes that a 304.
	h.Set("Cache-Control", "no-cache")
}

type webFile struct {
	body        []byte
	contentType string
	etag        string
}

// webFiles reads the embedded dashboard once; a file that cannot be read is a build mistake.
var webFiles = sync.OnceValue(func() map[string]webFile {
	out := map[string]webFile{}
	err := fs.WalkDir(web.Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(web.Files(), p)
		if err != nil {
			return err
		}
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = http.DetectContentType(b)
		}
		sum := sha256.Sum256(b)
		out["/"+p] = webFile{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
		return nil
	})
	if err != nil {
		panic("api: reading the embedded dashboard: " + err.Error())
	}
	return out
})

// noRoute serves the dashboard for page loads and answers everything else with the API's 404.
func (s *Server) noRoute() gin.HandlerFunc {
	return func(c *gin.Context) {
		p := c.Request.URL.Path
		isRead := c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead
		if !isRead || p == "/v1" || strings.HasPrefix(p, "/v1/") {
			renderError(c, billing.Errorf(billing.ENOTFOUND, "no route %s %s", c.Request.Method, p))
			return
		}
		files := webFiles()
		name := "/index.html"
		if strings.HasPrefix(p, "/assets/") || path.Ext(p) != "" && !strings.Contains(p[1:], "/") {
			// A file, not a page: /assets/... or a root file such as /favicon.ico.
			name = p
		}
		f, ok := files[name]
		setDashboardHeaders(c.Writer.Header())
		if !ok {
			c.Data(http.StatusNotFound, "text/plain; charset=utf-8", []byte("not found\n"))
			return
		}
		c.Header("Content-Type", f.contentType)
		c.Header("ETag", f.etag)
		http.ServeContent(c.Writer, c.Request, name, time.Time{}, bytes.NewReader(f.body))
	}
}
