package main

import (
	"github.com/prolific-receiver/receiver/internal/bootstrap"
	"github.com/prolific-receiver/receiver/internal/prolific"
)

// newProlificClient builds the API client from the configuration; observe,
// when set, counts each request (receiver_prolific_api_requests_total).
func newProlificClient(cfg Config, observe func(endpoint string, code int)) *prolific.Client {
	opts := []prolific.Option{prolific.WithUserAgent("prolific-receiver/" + version)}
	if observe != nil {
		opts = append(opts, prolific.WithObserver(observe))
	}
	return prolific.New(cfg.APIURL, cfg.APIToken, opts...)
}

// bootstrapConfig is what bootstrap and the subscription monitor manage.
func bootstrapConfig(cfg Config) bootstrap.Config {
	return bootstrap.Config{
		WorkspaceID:      cfg.WorkspaceID,
		PublicURL:        cfg.PublicURL,
		EventTypes:       cfg.EventTypes,
		AllowInsecureURL: cfg.AllowInsecureURL,
	}
}
