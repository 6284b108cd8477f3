package main

import (
	"net/url"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/handlers"
	"github.com/prolific-receiver/receiver/internal/outputs"
	"github.com/prolific-receiver/receiver/internal/store"
)

// startOutputs builds the workers of the configured outputs and their
// metrics; the runner's Run delivers until the receiver stops.
func startOutputs(st store.Store, outs []outputs.Output, reg prometheus.Registerer, log zerolog.Logger) (*outputs.Runner, error) {
	names := make([]string, len(outs))
	for i, o := range outs {
		names[i] = o.Name
	}
	olog := log.With().Str("component", "outputs").Logger()
	m := outputs.NewMetrics(reg, st, names, nil, olog)
	runner, err := outputs.NewRunner(st, outs, "prolific-receiver/"+version, outputs.Options{Metrics: m, Log: olog})
	if err != nil {
		return nil, err
	}
	for _, o := range outs {
		olog.Info().Str("output", o.Name).Str("type", o.Type).Str("destination", destination(o)).
			Bool("from_beginning", o.FromBeginning).Msg("forwarding events to an output")
	}
	return runner, nil
}

// outputInfos describes outs for the API.
func outputInfos(outs []outputs.Output) []handlers.OutputInfo {
	infos := make([]handlers.OutputInfo, len(outs))
	for i, o := range outs {
		infos[i] = handlers.OutputInfo{Name: o.Name, Type: o.Type, Destination: destination(o), Ordered: o.Ordered, MaxAge: o.MaxAge}
	}
	return infos
}

// destination names where o forwards to without credentials: the URL's
// scheme, host and path (no user, query or fragment), or the NATS
// server's and the subject template.
func destination(o outputs.Output) string {
	raw := o.HTTP.URL
	if o.Type == "nats" {
		raw = o.NATS.URL
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	clean := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
	if o.Type == "nats" && o.NATS.Subject != nil {
		clean += " " + o.NATS.Subject.String()
	}
	return clean
}
