package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/money"
)

type customerJSON struct {
	CustomerID       string    `json:"customer_id"`
	Name             string    `json:"name"`
	Currency         string    `json:"currency"`
	Timezone         string    `json:"timezone,omitempty"`
	BillingAnchorDay int       `json:"billing_anchor_day,omitempty"`
	CreatedAt        time.Time `json:"created_at,omitzero"`
	UpdatedAt        time.Time `json:"updated_at,omitzero"`
}

func renderCustomer(c billing.Customer) customerJSON {
	return customerJSON{CustomerID: c.ID, Name: c.Name, Currency: string(c.Currency), Timezone: c.Timezone,
		BillingAnchorDay: c.AnchorDay, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

func (s *Server) createCustomer() gin.HandlerFunc {
	return func(c *gin.Context) {
		var in customerJSON
		if err := decodeJSON(c, &in); err != nil {
			renderError(c, err)
			return
		}
		out, created, err := s.cfg.Customers.CreateCustomer(c.Request.Context(), billing.Customer{ID: in.CustomerID, Name: in.Name,
			Currency: money.Currency(in.Currency), Timezone: in.Timezone, AnchorDay: in.BillingAnchorDay})
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(createdStatus(created), renderCustomer(out))
	}
}

func (s *Server) getCustomer() gin.HandlerFunc {
	return func(c *gin.Context) {
		out, err := s.cfg.Customers.Customer(c.Request.Context(), c.Param("customer_id"))
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusOK, renderCustomer(out))
	}
}

func (s *Server) listCustomers() gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := page(c)
		if err != nil {
			renderError(c, err)
			return
		}
		items, next, err := s.cfg.Customers.Customers(c.Request.Context(), p)
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusOK, newList(items, next, renderCustomer))
	}
}

type customerPatchJSON struct {
	Name             *string `json:"name"`
	Currency         *string `json:"currency"`
	Timezone         *string `json:"timezone"`
	BillingAnchorDay *int    `json:"billing_anchor_day"`
}

func (s *Server) patchCustomer() gin.HandlerFunc {
	return func(c *gin.Context) {
		var in customerPatchJSON
		if err := decodeJSON(c, &in); err != nil {
			renderError(c, err)
			return
		}
		p := billing.CustomerPatch{Name: in.Name, Timezone: in.Timezone, AnchorDay: in.BillingAnchorDay}
		if in.Currency != nil {
			cur := money.Currency(*in.Currency)
			p.Currency = &cur
		}
		out, err := s.cfg.Customers.UpdateCustomer(c.Request.Context(), c.Param("customer_id"), p)
		if err != nil {
			renderError(c, err)
			return
		}
		c.JSON(http.StatusOK, renderCustomer(out))
	}
}
