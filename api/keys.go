package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/outcomebill/outcomebill/billing"
)

type apiKeyJSON struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Scopes     []string   `json:"scopes"`
	CustomerID string     `json:"customer_id,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	// Key is the secret itself, present only in the answer that creates it.
	Key string `json:"key,omitempty"`
}

func renderAPIKey(k billing.APIKey) apiKeyJSON {
	return apiKeyJSON{ID: k.ID, Name: k.Name, Scopes: k.Scopes, CustomerID: k.CustomerID, CreatedAt: k.CreatedAt,
		RevokedAt: k.RevokedAt, LastUsedAt: k.LastUsedAt}
}

type apiKeyInput struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
}

func (s *Server) createAPIKey() gin.HandlerFunc {
	return func(c *gin.Context) {
		var in apiKeyInput
		if err := decodeJSON(c, &in); err != nil {
			renderError(c, err)
			return
		}
		k, token, err := s.cfg.Keys.CreateAPIKey(c.Request.Context(), in.Name, in.Scopes, "")
		if err != nil {
			renderError(c, err)
			return
		}
		out := renderAPIKey(k)
		out.Key = token
		c.JSON(http.StatusCreated, out)
	}
}

type viewerKeyInput struct {
	Name string `json:"name"`
}

func (s *Server) createViewerKey() gin.HandlerFunc {
	return func(c *gin.Context) {
		var in viewerKeyInput
		if err := decodeJSON(c, &in); err != nil {
			renderError(c, err)
			return
		}
		k, token, err := s.cfg.Keys.CreateViewerKey(c.Request.Context(), c.Param("customer_id"), in.Name)
		if err != nil {
			renderError(c, err)
			return
		}
		out := renderAPIKey(k)
		out.Key = token
		c.JSON(http.StatusCreated, out)
	}
}

func (s *Server) listAPIKeys() gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := page(c)
		if err != nil {
			renderError(c, err)
			return
		}
		items, next, err := s.cfg.Keys.APIKeys(c.Request.Context(), p)
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusOK, newList(items, next, renderAPIKey))
	}
}

func (s *Server) revokeAPIKey() gin.HandlerFunc {
	return func(c *gin.Context) {
		k, err := s.cfg.Keys.RevokeAPIKey(c.Request.Context(), c.Param("id"))
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusOK, renderAPIKey(k))
	}
}
