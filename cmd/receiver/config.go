package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/prolific-receiver/receiver/internal/outputs"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/rules"
)

// Config is the receiver's whole configuration, read once from the
// environment. Every secret may instead be read from the file named by the
// same variable with _FILE appended.
type Config struct {
	ListenAddr string `envconfig:"RECEIVER_LISTEN_ADDR" default:":8080"`
	AdminAddr  string `envconfig:"RECEIVER_ADMIN_ADDR" default:"127.0.0.1:9090"`
	Store      string `envconfig:"RECEIVER_STORE" default:"sqlite:data/receiver.db"`

	WebhookSecret   string   `envconfig:"PROLIFIC_WEBHOOK_SECRET"`
	PreviousSecrets []string `envconfig:"PROLIFIC_WEBHOOK_PREVIOUS_SECRETS"`
	APIToken        string   `envconfig:"PROLIFIC_API_TOKEN"`
	WorkspaceID     string   `envconfig:"PROLIFIC_WORKSPACE_ID"`
	APIURL          string   `envconfig:"PROLIFIC_API_URL" default:"https://api.prolific.com"`
	PublicURL       string   `envconfig:"RECEIVER_PUBLIC_URL"`
	EventTypes      []string `envconfig:"RECEIVER_EVENT_TYPES" default:"study.status.change,study.progress.change,submission.status.change"`

	TLSCertFile string `envconfig:"RECEIVER_TLS_CERT_FILE"`
	TLSKeyFile  string `envconfig:"RECEIVER_TLS_KEY_FILE"`

	// ACME: the public listener obtains and renews its certificates
	// itself (acme.go, docs/acme.md).
	ACMEDomains      []string `envconfig:"RECEIVER_ACME_DOMAINS"`
	ACMEEmail        string   `envconfig:"RECEIVER_ACME_EMAIL"`
	ACMEDirectoryURL string   `envconfig:"RECEIVER_ACME_DIRECTORY_URL" default:"https://acme-v02.api.letsencrypt.org/directory"`
	ACMECARootsFile  string   `envconfig:"RECEIVER_ACME_CA_ROOTS_FILE"`
	ACMEHTTPAddr     string   `envconfig:"RECEIVER_ACME_HTTP_ADDR" default:":80"`
	// acmeRenewCheck overrides how often certificates are checked for
	// renewal (certmagic's default, 10 minutes, when zero); tests shorten it.
	acmeRenewCheck time.Duration

	TimestampTolerance time.Duration `envconfig:"RECEIVER_TIMESTAMP_TOLERANCE" default:"26h"`
	FutureTolerance    time.Duration `envconfig:"RECEIVER_TIMESTAMP_FUTURE_TOLERANCE" default:"5m"`
	MaxBodyBytes       int64         `envconfig:"RECEIVER_MAX_BODY_BYTES" default:"1048576"`
	AdminToken         string        `envconfig:"RECEIVER_ADMIN_TOKEN"`

	LogLevel  string `envconfig:"RECEIVER_LOG_LEVEL" default:"info"`
	LogFormat string `envconfig:"RECEIVER_LOG_FORMAT" default:"json"`

	Bootstrap        bool          `envconfig:"RECEIVER_BOOTSTRAP" default:"true"`
	AllowInsecureURL bool          `envconfig:"RECEIVER_ALLOW_INSECURE_PUBLIC_URL" default:"false"`
	SecretGrace      time.Duration `envconfig:"RECEIVER_SECRET_GRACE" default:"26h"`
	AutoReenable     bool          `envconfig:"RECEIVER_AUTO_REENABLE" default:"false"`
	StudyRetention   time.Duration `envconfig:"RECEIVER_STUDY_RETENTION" default:"720h"`
	ShutdownTimeout  time.Duration `envconfig:"RECEIVER_SHUTDOWN_TIMEOUT" default:"25s"`
	EnrichDebounce   time.Duration `envconfig:"RECEIVER_ENRICH_DEBOUNCE" default:"2s"`
	APIRateLimit     float64       `envconfig:"RECEIVER_PROLIFIC_RATE_LIMIT" default:"5"`
	APIPause         time.Duration `envconfig:"RECEIVER_PROLIFIC_RATE_LIMIT_PAUSE" default:"30s"`
	SweepInterval    time.Duration `envconfig:"RECEIVER_SWEEP_INTERVAL" default:"10m"`
	EventRetention   time.Duration `envconfig:"RECEIVER_EVENT_RETENTION" default:"0"`

	ReconcileInterval time.Duration `envconfig:"RECEIVER_RECONCILE_INTERVAL" default:"15m"`
	ReconcileSettle   time.Duration `envconfig:"RECEIVER_RECONCILE_SETTLE" default:"30s"`
	// OutputsFile names the outputs file (docs/outputs.md); Outputs is
	// what it configures, read and validated by loadConfig.
	OutputsFile string           `envconfig:"RECEIVER_OUTPUTS_FILE"`
	Outputs     []outputs.Output `ignored:"true"`
	// RulesFile names the rules file (docs/rules.md); Rules is what it
	// configures. Actions is RECEIVER_ACTIONS (dry-run, live, off),
	// ActionsApprove approve's own switch (off, live).
	RulesFile      string        `envconfig:"RECEIVER_RULES_FILE"`
	Rules          *rules.Config `ignored:"true"`
	Actions        string        `envconfig:"RECEIVER_ACTIONS" default:"dry-run"`
	ActionsMode    rules.Mode    `ignored:"true"`
	ActionsApprove string        `envconfig:"RECEIVER_ACTIONS_APPROVE" default:"off"`
	ActionsLease   time.Duration `envconfig:"RECEIVER_ACTIONS_LEASE" default:"1m"`
	DashboardURL   string        `envconfig:"RECEIVER_DASHBOARD_URL"`
}

// minEventRetention is the shortest RECEIVER_EVENT_RETENTION accepted: a
// pruned event delivered again is stored again, so events must be kept far
// beyond Prolific's retry window (about 24 h).
const minEventRetention = 7 * 24 * time.Hour

// loadConfig reads and validates the configuration.
func loadConfig() (Config, error) {
	var c Config
	if err := envconfig.Process("", &c); err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	var previous string
	for name, dst := range map[string]*string{
		"PROLIFIC_WEBHOOK_SECRET":           &c.WebhookSecret,
		"PROLIFIC_WEBHOOK_PREVIOUS_SECRETS": &previous,
		"PROLIFIC_API_TOKEN":                &c.APIToken,
		"RECEIVER_ADMIN_TOKEN":              &c.AdminToken,
		"RECEIVER_STORE":                    &c.Store,
	} {
		if err := readSecretFile(name, dst); err != nil {
			return Config{}, err
		}
	}
	if previous != "" {
		c.PreviousSecrets = strings.Split(previous, ",")
	}
	if err := c.validate(); err != nil {
		return Config{}, err
	}
	if c.OutputsFile != "" {
		outs, err := outputs.Load(c.OutputsFile, os.Getenv)
		if err != nil {
			return Config{}, fmt.Errorf("RECEIVER_OUTPUTS_FILE: %w", err)
		}
		c.Outputs = outs
	}
	if err := loadRules(&c); err != nil {
		return Config{}, err
	}
	return c, nil
}

// readSecretFile sets *dst from the file NAME_FILE names, when it is set;
// the file wins over NAME (so a container image's default for NAME does not
// get in the way of a mounted secret). Surrounding whitespace (a trailing
// newline) is not part of the secret.
func readSecretFile(name string, dst *string) error {
	path := os.Getenv(name + "_FILE")
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("configuration: %s_FILE: %w", name, err)
	}
	*dst = strings.TrimSpace(string(b))
	return nil
}

// validate fails closed: every message names the variable to fix.
func (c Config) validate() error {
	var errs []error
	if c.WebhookSecret == "" && c.APIToken == "" {
		errs = append(errs, errors.New("no webhook secret: set PROLIFIC_WEBHOOK_SECRET (or PROLIFIC_WEBHOOK_SECRET_FILE), or PROLIFIC_API_TOKEN and PROLIFIC_WORKSPACE_ID so the secret is fetched from Prolific"))
	}
	if c.WebhookSecret == "" && c.APIToken != "" && c.WorkspaceID == "" {
		errs = append(errs, errors.New("PROLIFIC_WORKSPACE_ID is required with PROLIFIC_API_TOKEN to fetch the webhook secret"))
	}
	if c.WebhookSecret == "" && c.APIToken != "" && !c.Bootstrap {
		errs = append(errs, errors.New("RECEIVER_BOOTSTRAP=false needs PROLIFIC_WEBHOOK_SECRET: without bootstrap the secret cannot be fetched"))
	}
	if !strings.HasPrefix(c.Store, "sqlite:") && !strings.HasPrefix(c.Store, "postgres://") && !strings.HasPrefix(c.Store, "postgresql://") {
		errs = append(errs, errors.New("RECEIVER_STORE must be sqlite:PATH or a postgres:// URL"))
	}
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, errors.New("RECEIVER_MAX_BODY_BYTES must be at least 1024"))
	}
	if c.TimestampTolerance < time.Minute || c.FutureTolerance < 0 {
		errs = append(errs, errors.New("RECEIVER_TIMESTAMP_TOLERANCE must be at least 1m and RECEIVER_TIMESTAMP_FUTURE_TOLERANCE not negative"))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("set both RECEIVER_TLS_CERT_FILE and RECEIVER_TLS_KEY_FILE, or neither"))
	}
	errs = append(errs, c.validateACME()...)
	if c.APIRateLimit <= 0 || c.EnrichDebounce < 0 {
		errs = append(errs, errors.New("RECEIVER_PROLIFIC_RATE_LIMIT must be positive and RECEIVER_ENRICH_DEBOUNCE not negative"))
	}
	if c.APIPause != 0 && (c.APIPause < time.Second || c.APIPause > prolific.DefaultMaxPause) { // 0: the limiter's default
		errs = append(errs, fmt.Errorf("RECEIVER_PROLIFIC_RATE_LIMIT_PAUSE must be between 1s and %s (it doubles up to %[1]s)", prolific.DefaultMaxPause))
	}
	if c.SweepInterval < 0 {
		errs = append(errs, errors.New("RECEIVER_SWEEP_INTERVAL must not be negative (0 disables the polling sweep)"))
	}
	if c.ReconcileInterval < 0 || c.ReconcileSettle < 0 {
		errs = append(errs, errors.New("RECEIVER_RECONCILE_INTERVAL and RECEIVER_RECONCILE_SETTLE must not be negative (an interval of 0 disables reconciliation but on demand)"))
	}
	if c.EventRetention != 0 && c.EventRetention < minEventRetention {
		errs = append(errs, errors.New("RECEIVER_EVENT_RETENTION must be 0 (keep events forever) or at least 168h: deduplication by X-Event-ID must outlive Prolific's retries (about 24 h) by far"))
	}
	if c.LogFormat != "json" && c.LogFormat != "console" {
		errs = append(errs, errors.New("RECEIVER_LOG_FORMAT must be json or console"))
	}
	if _, err := url.Parse(c.APIURL); err != nil || c.APIURL == "" {
		errs = append(errs, errors.New("PROLIFIC_API_URL must be a URL"))
	}
	for _, t := range c.EventTypes {
		if t == "" {
			errs = append(errs, errors.New("RECEIVER_EVENT_TYPES has an empty entry"))
		}
	}
	return errors.Join(errs...)
}

// enrichmentEnabled reports whether the receiver can call Prolific's API.
func (c Config) enrichmentEnabled() bool { return c.APIToken != "" }
